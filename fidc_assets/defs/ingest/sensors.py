"""The inbox sensor: one run per new file, keyed by its sha256. Thin: the logic is in `fidc_assets.lib.inbox`."""

import datetime as dt

import dagster as dg
from pyiceberg.expressions import In

from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.calendar import is_business_day
from fidc_assets.lib.canonical import FILE_REGISTRY
from fidc_assets.lib.inbox import InboxCursor, detect_changes, list_inbox, unmatched_destination


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
        "already holds start no run); files no custodian "
        "sends, or dated on a non-business day, are moved to the inbox's unmatched/ area and reported.",
    )
    def _inbox_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        inbox = lakehouse.inbox_path()
        cursor = InboxCursor.from_json(context.cursor)
        changes = detect_changes(list_inbox(inbox), cursor, lakehouse.specs())
        seen_shas = {sha for _, _, sha in cursor.files.values()} | _already_received(lakehouse, changes.new)
        requests, set_aside = [], list(changes.unmatched)
        for f in changes.new:
            if not is_business_day(f.match.reference_date):
                set_aside.append(f)
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
        for f in set_aside:
            target = unmatched_destination(inbox, f.listing, now)
            target.parent.mkdir(parents=True, exist_ok=True)
            f.listing.path.rename(target)
            changes.cursor.files.pop(str(f.listing.path), None)
            why = "matches no custodian's file pattern" if f.match is None else "is dated on a non-business day"
            context.log.warning(f"{f.listing.name} {why}: moved to {target.relative_to(inbox)}")
        return dg.SensorResult(
            run_requests=requests,
            cursor=changes.cursor.to_json(),
            skip_reason=None if requests else f"no new files ({len(set_aside)} set aside)",
        )

    return _inbox_sensor
