"""The inbox sensor: one run per new file, keyed by its sha256. Thin: the logic is in `fidc_assets.lib.ingest.inbox`."""

import datetime as dt

import dagster as dg
from pyiceberg.expressions import In

from fidc_assets.defs.partitions import FUNDS
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import is_business_day
from fidc_assets.lib.core.canonical import FILE_REGISTRY
from fidc_assets.lib.ingest.inbox import InboxCursor, detect_changes, set_aside_all
from fidc_assets.lib.ingest.specs import name_problem, shown_name


def _already_received(lakehouse: LakehouseResource, new: list) -> set[str]:
    """Shas of new files whose bytes the lake already holds (a restarted sensor, a file copied in again)."""
    shas = sorted({f.sha256 for f in new if f.match is not None})
    if not shas:
        return set()
    found = lakehouse.lake().read(FILE_REGISTRY, In("sha256", shas), ("sha256",))
    return set(found["sha256"].to_pylist())


def inbox_sensor(job) -> dg.SensorDefinition:
    """The sensor, for the (unresolved, partitioned) ingestion asset job."""

    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches FIDC_INBOX: every new or corrected custodian file starts one ingestion run for its "
        "business day (run key = the file's sha256, so the same bytes never run twice, and bytes the lake "
        "already holds start no run); files no custodian sends, dated on a non-business day, or for a fund "
        "not in the fund registry are moved to the inbox's unmatched/ area and reported. Registry funds "
        "not yet known to Dagster are added to the `funds` partitions.",
    )
    def _inbox_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        inbox = lakehouse.inbox_fs()
        registry = lakehouse.fund_registry()
        funds = set(registry.cnpjs)
        registered = set(context.instance.get_dynamic_partitions(FUNDS.name))
        new_funds = [c for c in registry.cnpjs if c not in registered]
        cursor = InboxCursor.from_json(context.cursor)
        changes = detect_changes(inbox.list(), cursor, lakehouse.specs(), hasher=inbox.sha256)
        seen_shas = {sha for _, _, sha in cursor.files.values()} | _already_received(lakehouse, changes.new)
        requests = []
        set_aside = [
            (f, name_problem(f.listing.name) or "matches no custodian's file pattern") for f in changes.unmatched
        ]
        for f in changes.new:
            if not is_business_day(f.match.reference_date):
                set_aside.append((f, "is dated on a non-business day"))
            elif f.match.fund_cnpj not in funds:
                why = f"is for fund {f.match.fund_cnpj}, which is not in the fund registry (FIDC_FUNDS)"
                set_aside.append((f, why))
            elif f.sha256 not in seen_shas:  # the same bytes under another name are not a new delivery
                requests.append(
                    dg.RunRequest(
                        run_key=f.sha256,
                        partition_key=f.partition_key,
                        tags={
                            "fidc/file": f.listing.name,
                            "fidc/custodian": f.match.custodian.id,
                            "fidc/sha256": f.sha256,
                        },
                    )
                )
        now = dt.datetime.now(dt.UTC)
        # each file on its own: one that cannot be moved is reported (and tried again next tick), never raised
        for done in set_aside_all(inbox, [(f.listing, why) for f, why in set_aside], now):
            changes.cursor.files.pop(str(done.listing.path), None)
            if done.moved_to is None:
                context.log.error(
                    f"{shown_name(done.listing.name)} {done.reason}; could not be moved aside: {done.error}"
                )
            else:
                context.log.warning(
                    f"{shown_name(done.listing.name)} {done.reason}: moved to {shown_name(done.moved_to)}"
                )
        if new_funds:
            context.log.info(f"registering {len(new_funds)} fund(s) from the fund registry: {', '.join(new_funds)}")
        return dg.SensorResult(
            run_requests=requests,
            cursor=changes.cursor.to_json(),
            dynamic_partitions_requests=[FUNDS.build_add_request(new_funds)] if new_funds else None,
            skip_reason=None if requests else f"no new files ({len(set_aside)} set aside)",
        )

    return _inbox_sensor
