"""The inbox sensor: one run per new delivery (bytes + the slice the name designates), keyed by it. Thin: the
logic is in `fidc_assets.lib.ingest.inbox` and `fidc_assets.lib.ingest.landing`."""

import datetime as dt
from pathlib import PurePosixPath

import dagster as dg

from fidc_assets.defs.partitions import FUNDS
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import is_business_day
from fidc_assets.lib.ingest.inbox import InboxCursor, NewFile, detect_changes
from fidc_assets.lib.ingest.landing import Delivery, SliceKey, already_received
from fidc_assets.lib.ingest.specs import CustodianSpec, match_file


def _delivery(f: NewFile) -> Delivery:
    assert f.match is not None
    return Delivery(f.sha256, SliceKey.of_match(f.match))


def _seen(lakehouse: LakehouseResource, cursor: InboxCursor, specs: dict[str, CustodianSpec], new: list) -> set:
    """Deliveries already seen: in the cursor (a file renamed in the inbox) or in the lake's registry (a
    restarted sensor, a file copied in again). The same bytes under a name for another slice are not seen."""
    seen: set[Delivery] = set()
    for path, (_, _, sha) in cursor.files.items():
        m = match_file(PurePosixPath(path).name, specs)
        if m is not None:
            seen.add(Delivery(sha, SliceKey.of_match(m)))
    return seen | already_received(lakehouse.lake(), [_delivery(f) for f in new if f.match is not None])


def inbox_sensor(job) -> dg.SensorDefinition:
    """The sensor, for the (unresolved, partitioned) ingestion asset job."""

    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches FIDC_INBOX: every new or corrected custodian file starts one ingestion run for its "
        "business day (run key = the delivery: the file's sha256 and the slice its name designates, so the same "
        "bytes never run twice for one slice, bytes the lake already holds for that slice start no run, and bytes "
        "re-sent under a corrected name land for the right slice); files no custodian sends, dated on a "
        "non-business day, or for a fund not in the fund registry are moved to the inbox's unmatched/ area and "
        "reported. Registry funds not yet known to Dagster are added to the `funds` partitions.",
    )
    def _inbox_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        inbox = lakehouse.inbox_fs()
        registry = lakehouse.fund_registry()
        funds = set(registry.cnpjs)
        registered = set(context.instance.get_dynamic_partitions(FUNDS.name))
        new_funds = [c for c in registry.cnpjs if c not in registered]
        cursor = InboxCursor.from_json(context.cursor)
        changes = detect_changes(inbox.list(), cursor, lakehouse.specs(), hasher=inbox.sha256)
        seen = _seen(lakehouse, cursor, lakehouse.specs(), changes.new)
        requests, set_aside = [], [(f, "matches no custodian's file pattern") for f in changes.unmatched]
        for f in changes.new:
            if not is_business_day(f.match.reference_date):
                set_aside.append((f, "is dated on a non-business day"))
            elif f.match.fund_cnpj not in funds:
                why = f"is for fund {f.match.fund_cnpj}, which is not in the fund registry (FIDC_FUNDS)"
                set_aside.append((f, why))
            elif _delivery(f) not in seen:  # the same bytes under another name for the same slice: not new
                requests.append(
                    dg.RunRequest(
                        run_key=_delivery(f).id,
                        partition_key=f.partition_key,
                        tags={
                            "fidc/file": f.listing.name,
                            "fidc/custodian": f.match.custodian.id,
                            "fidc/sha256": f.sha256,
                        },
                    )
                )
        now = dt.datetime.now(dt.UTC)
        for f, why in set_aside:
            moved_to = inbox.set_aside(f.listing, now)
            changes.cursor.files.pop(str(f.listing.path), None)
            context.log.warning(f"{f.listing.name} {why}: moved to {moved_to}")
        if new_funds:
            context.log.info(f"registering {len(new_funds)} fund(s) from the fund registry: {', '.join(new_funds)}")
        return dg.SensorResult(
            run_requests=requests,
            cursor=changes.cursor.to_json(),
            dynamic_partitions_requests=[FUNDS.build_add_request(new_funds)] if new_funds else None,
            skip_reason=None if requests else f"no new files ({len(set_aside)} set aside)",
        )

    return _inbox_sensor
