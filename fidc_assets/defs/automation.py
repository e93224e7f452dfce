"""Freshness by declaration: the automation conditions of a date's downstream (hot load, reference registries,
delivery status, dbt models and their checks), evaluated by the `marts_automation` sensor (defs/ops/schedules.py).

The sensor puts every asset partition it requests on one tick into one run per partition key (all of these
share the `business_days` partitions), so one run per date means: the whole downstream of a date decides on
the SAME tick. Each asset's condition only sees its direct dependencies, and an ingestion run materializes
`lake/custodian_files` and then each `lake/<entity>` as separate steps, seconds to minutes apart: with
per-asset conditions alone, `reference/delivery_status` fired on the tick after the registry step,
`hot/landing_receivable_positions` with everything downstream of it on the tick after the stock step, the
other entities' hot loads on a later tick, and a date's marts became 3 to 5 runs (docs/operations.md,
"Declarative automation").

So the roots of the downstream (the assets that read the lake or the file registry) also wait until the date
is idle: no step of its ingestion (`lake/custodian_files`, `lake/<entity>`, any fund) and no dbt build of it
(its last models) queued or running. They then all become true on the same tick, and the dbt models follow
through `will_be_requested` on that tick: one run per date.
"""

import dagster as dg

from fidc_assets.defs.ingest.assets import CUSTODIAN_FILES, LAKE_ENTITIES

#: What an ingestion run of a fund-day materializes (date × fund partitions; a date maps to all its funds).
INGESTION_KEYS = (CUSTODIAN_FILES, *(dg.AssetKey(["lake", e]) for e in LAKE_ENTITIES))
#: The dbt models nothing else is built from: a marts run of a date holds them until its dbt build ends
#: (every dbt model is upstream of one of them: tests/unit/test_automation.py holds the rule).
LAST_MARTS = (
    dg.AssetKey(["marts", "mart_fund_monthly"]),
    dg.AssetKey(["marts", "mart_fund_day_completeness"]),
    dg.AssetKey(["marts", "dim_cedente"]),
    dg.AssetKey(["marts", "dim_sacado"]),
    dg.AssetKey(["intermediate", "int_receivable_lifecycle"]),
)

#: A date materializes when one of its upstream partitions was updated since it was last handled (a fund-day
#: landed: the date × fund → date mapping makes that date's partition updated), once nothing upstream of it and
#: nothing of itself is queued or running. Not `eager()`: that one only looks at the latest time partition
#: (today) and waits for every upstream partition (every fund of the date, the legacy months) to exist.
FOLLOWS_UPSTREAM = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("when its day's upstream changed, once upstream is idle")


def _any_in_progress(keys: tuple[dg.AssetKey, ...], label: str) -> dg.AutomationCondition:
    out = dg.AutomationCondition.asset_matches(keys[0], dg.AutomationCondition.in_progress())
    for key in keys[1:]:
        out = out | dg.AutomationCondition.asset_matches(key, dg.AutomationCondition.in_progress())
    return out.with_label(label)


#: The date's ingestion (any fund, any step) or its dbt build is queued or running.
DATE_BUSY = _any_in_progress((*INGESTION_KEYS, *LAST_MARTS), "its date's ingestion or dbt build is queued or running")

#: For the roots of a date's downstream (the hot loads, the reference registries, the delivery status).
STARTS_DATE_BUILD = (FOLLOWS_UPSTREAM & ~DATE_BUSY).with_label(
    "when its day's upstream changed, once the day's ingestion and marts are idle"
)
