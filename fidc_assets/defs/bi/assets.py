"""The `reference` schema the marts read (fund registry, custodians, asset types, ANBIMA holidays, FX rates,
the expected deliveries' statuses) and the BI roles. Thin: the work is in `fidc_assets.lib.hot.reference`,
`fidc_assets.lib.hot.bi_access` and `fidc_assets.lib.hot.delivery_status`."""

import datetime as dt

import dagster as dg

from fidc_assets.defs.automation import STARTS_DATE_BUILD
from fidc_assets.defs.hot.assets import LANDING_ASSETS
from fidc_assets.defs.ingest.assets import CUSTODIAN_FILES
from fidc_assets.defs.partitions import business_days
from fidc_assets.defs.resources import LakehouseResource

#: One asset per `reference` table (the dbt sources point at them); one step writes them all.
REFERENCE_TABLES = {
    "fund_managers": "Fund managers of the registry (FIDC_FUNDS): the BI tenants, each with its login role.",
    "funds": "The funds of the registry with their manager and custodians (dim_fund; the tenants' row security).",
    "custodians": "The custodians with a spec in the configuration directory (FIDC_CONFIG_DIR/custodians/).",
    "asset_types": "The asset type registry (FIDC_CONFIG_DIR/reference/asset_types.yaml).",
    "anbima_holidays": "ANBIMA holidays from bizdays (dim_date's business calendar).",
    "fx_rates": "Daily rates to BRL from FIDC_CONFIG_DIR/reference/fx_rates.csv or FIDC_FX_RATES (the shipped "
    "file holds illustrative sample values).",
}
REFERENCE_KEYS = {name: dg.AssetKey(["reference", name]) for name in REFERENCE_TABLES}
DELIVERY_STATUS = dg.AssetKey(["reference", "delivery_status"])
RETRY = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def definitions() -> dg.Definitions:
    @dg.multi_asset(
        name="reference_registries",
        specs=[
            dg.AssetSpec(
                REFERENCE_KEYS[name],
                description=f"{text} Synced into PostgreSQL `reference` with the BI roles: fidc_bi_reader "
                "(SELECT on marts only) and one login role per manager, kept to its funds by row-level security. "
                "Not per day: every partition run syncs the configuration as it is now.",
                # after the window's landing, so that every job that refreshes the marts (hot_and_marts
                # selects the landing assets' downstream) syncs the registry right before dbt reads it
                deps=list(LANDING_ASSETS.values()),
                # the marts automation only materializes assets with a condition: without one a deployment run
                # by the daemon alone never created `reference` (every dbt build failed on reference.fx_rates)
                # until the cutoff schedule's run, and registry changes waited for it
                automation_condition=STARTS_DATE_BUILD,
                group_name="bi",
                kinds={"postgres"},
                owners=["team:data-engineering"],
            )
            for name, text in REFERENCE_TABLES.items()
        ],
        partitions_def=business_days(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
    )
    def reference_registries(context: dg.AssetExecutionContext, lakehouse: LakehouseResource):
        import psycopg

        from fidc_assets.lib.core.calendar import anbima_holidays
        from fidc_assets.lib.hot.bi_access import ensure_bi_access
        from fidc_assets.lib.hot.reference import ReferenceData, load_fx_rates, sync_reference_data

        settings = lakehouse.settings()
        registry = lakehouse.fund_registry()
        data = ReferenceData.build(
            registry,
            {spec.id: spec.name for spec in lakehouse.specs().values()},
            lakehouse.asset_types(),
            anbima_holidays(),
            load_fx_rates(settings.config.fx_rates_file),
        )
        with psycopg.connect(lakehouse.dsn()) as conn:
            counts = sync_reference_data(conn, data)
            access = ensure_bi_access(conn, registry, settings.bi.passwords)
            conn.commit()
        if not registry.funds:
            funds_file = settings.funds_file
            context.log.warning(f"the fund registry {funds_file} has no funds: no tenant sees any data")
        tenants = ", ".join(access.tenants) or "(none)"
        for name, key in REFERENCE_KEYS.items():
            yield dg.MaterializeResult(asset_key=key, metadata={"rows": counts[name], "tenant_roles": tenants})

    @dg.asset(
        key=DELIVERY_STATUS,
        description="Per fund, custodian, entity and business day of the partitions: the expected delivery's state "
        "(accepted / received / quarantined / missing / pending), whether it was late, the accepted file (name, "
        "sha256), when it arrived and when it was due, in PostgreSQL `reference.delivery_status`. The same "
        "evaluation as the `expected_deliveries` check (fund registry `expected` × lake.file_registry, at the "
        "run's clock); dbt's mart_fund_day_completeness reads it. Each run replaces its days' rows at once.",
        # lineage from the file registry; after the window's landing, so that hot_and_marts (the landing assets'
        # downstream) writes it in the same run as the hot load, right before dbt reads it
        deps=[CUSTODIAN_FILES, *LANDING_ASSETS.values()],
        # like the hot loads: follows its day's ingestion by itself, so the completeness mart does too
        automation_condition=STARTS_DATE_BUILD,
        group_name="bi",
        kinds={"postgres"},
        owners=["team:data-engineering"],
        partitions_def=business_days(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
    )
    def delivery_status(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        import psycopg

        from fidc_assets.lib.core.deliveries import Tally, evaluate
        from fidc_assets.lib.core.partition_math import days_from_keys
        from fidc_assets.lib.hot.delivery_status import status_rows, write_delivery_status
        from fidc_assets.lib.lake.deliveries import read_file_records

        days = days_from_keys(context.partition_keys)
        now = dt.datetime.now(dt.UTC)
        files = read_file_records(lakehouse.lake(), days)
        statuses = evaluate(lakehouse.fund_registry(), days, files, now)
        rows = status_rows(statuses, files, now)
        with psycopg.connect(lakehouse.dsn()) as conn:
            write_delivery_status(conn, days, rows)
            conn.commit()
        tally = Tally.of(statuses)
        if not statuses:
            context.log.warning("the fund registry expects no file on these days: nothing to say about completeness")
        return dg.MaterializeResult(
            metadata={
                "rows": len(rows),
                "days": len(days),
                "expected": tally.expected,
                "accepted": tally.accepted,
                "quarantined": tally.quarantined,
                "missing": tally.missing,
                "pending": tally.pending,
                "late": tally.late,
                "evaluated_at": now.isoformat(timespec="seconds"),
            }
        )

    return dg.Definitions(assets=[reference_registries, delivery_status])
