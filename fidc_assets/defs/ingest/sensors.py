"""The inbox sensor: one run per fund-day with new files, keyed by the sorted sha256s of those files, and the
reconciliation that requests a file again when its run never landed it. Thin: the logic is in
`fidc_assets.lib.ingest.inbox`."""

from __future__ import annotations

import datetime as dt
import posixpath
import time
from collections.abc import Iterable

import dagster as dg

from fidc_assets.defs.partitions import FUNDS
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import is_business_day
from fidc_assets.lib.ingest.inbox import (
    FundDayRequest,
    InboxCursor,
    Pending,
    detect_changes,
    group_by_fund_day,
    reconcile,
    set_aside_all,
)
from fidc_assets.lib.ingest.specs import name_problem, shown_name
from fidc_assets.lib.lake.filters import is_in

#: A run in one of these states may still land its files: the reconciliation waits for it.
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _already_received(lakehouse: LakehouseResource, deliveries: Iterable[tuple[str, str]]) -> set[str]:
    """Of (sha256, file name) deliveries, the sha256s the lake's registry already holds (a restarted sensor, a
    file copied in again, a run that landed it). The one place the sensor asks the registry."""

    from fidc_assets.lib.core.canonical import FILE_REGISTRY

    shas = sorted({sha for sha, _ in deliveries})
    if not shas:
        return set()
    found = lakehouse.lake().read(FILE_REGISTRY, is_in("sha256", shas), ("sha256",))
    return {sha for sha in found["sha256"].to_pylist() if sha is not None}


def _run_request(req: FundDayRequest) -> dg.RunRequest:
    """The run for one fund-day; tags keep the per-file view (names, custodians, sha256s) visible on the run."""
    names = [posixpath.basename(p.path) for p in req.files]
    return dg.RunRequest(
        run_key=req.run_key,
        partition_key=req.partition_key,
        tags={
            "fidc/files": ", ".join(names),
            "fidc/file_count": str(len(names)),
            "fidc/sha256s": ",".join(req.shas),
            "fidc/attempt": str(req.attempt),
        },
    )


def _partitions_in_progress(context: dg.SensorEvaluationContext, job_name: str) -> set[str]:
    runs = context.instance.get_runs(dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS))
    return {r.tags["dagster/partition"] for r in runs if "dagster/partition" in r.tags}


def inbox_sensor(job) -> dg.SensorDefinition:
    """The sensor, for the (unresolved, partitioned) ingestion asset job."""

    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches FIDC_INBOX: the new or corrected custodian files of each fund-day start one "
        "ingestion run for that fund-day (run key = sha256 of the files' sorted sha256s, so the same bytes never "
        "run twice, and bytes the lake already holds start no run). A file requested FIDC_SENSOR_REREQUEST_MINUTES "
        "ago whose bytes are still not in the registry, with no run of its fund-day in progress, is requested "
        "again (new run key) and reported. Files no custodian sends, dated on a non-business day, or for a fund "
        "not in the fund registry are moved to the inbox's unmatched/ area and reported. Registry funds "
        "not yet known to Dagster are added to the `funds` partitions.",
    )
    def _inbox_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        inbox = lakehouse.inbox_fs()
        registry = lakehouse.fund_registry()
        funds = set(registry.cnpjs)
        registered = set(context.instance.get_dynamic_partitions(str(FUNDS.name)))
        new_funds = [c for c in registry.cnpjs if c not in registered]
        cursor = InboxCursor.from_json(context.cursor)
        listings = inbox.list()
        changes = detect_changes(listings, cursor, lakehouse.specs(), hasher=inbox.sha256)
        fresh = [f for f in changes.new if f.sha256 not in cursor.pending]
        known = {sha for _, _, sha in cursor.files.values()}
        asked = {(p.sha256, p.listing.name) for p in fresh} | {
            (s, posixpath.basename(p.path)) for s, p in cursor.pending.items()
        }
        received = _already_received(lakehouse, asked)
        now = time.time()
        to_request: list[tuple[str, Pending]] = []
        set_aside = [
            (f, name_problem(f.listing.name) or "matches no custodian's file pattern") for f in changes.unmatched
        ]
        for f in fresh:
            match, partition = f.match, f.partition_key
            assert match is not None and partition is not None  # detect_changes puts matched files in `new`
            if not is_business_day(match.reference_date):
                set_aside.append((f, "is dated on a non-business day"))
            elif match.fund_cnpj not in funds:
                why = f"is for fund {match.fund_cnpj}, which is not in the fund registry (FIDC_FUNDS)"
                set_aside.append((f, why))
            elif f.sha256 not in known and f.sha256 not in received and f.sha256 not in {s for s, _ in to_request}:
                # the same bytes under another name are not a new delivery
                to_request.append((f.sha256, Pending(str(f.listing.path), partition, now, 1)))

        # reconciliation: what became of the files requested on earlier ticks
        rec = reconcile(
            cursor.pending,
            received,
            present={str(item.path) for item in listings},
            in_progress=_partitions_in_progress(context, job.name) if cursor.pending else set(),
            now=now,
            after_seconds=60 * lakehouse.settings().schedules.sensor_rerequest_minutes,
        )
        pending = {sha: p for sha, p in rec.waiting} | dict(rec.overdue) | dict(to_request)
        for sha, p in rec.vanished:
            context.log.warning(f"{posixpath.basename(p.path)} ({sha[:12]}) left the inbox before it landed")
        for sha, p in rec.overdue:
            context.log.warning(
                f"{posixpath.basename(p.path)} ({sha[:12]}) is not in the registry {p.attempt - 1} request(s) later: "
                f"requesting {p.partition_key} again (attempt {p.attempt})"
            )
        requests = [_run_request(r) for r in group_by_fund_day([*to_request, *rec.overdue])]

        stamp = dt.datetime.now(dt.UTC)
        # each file on its own: one that cannot be moved is reported (and tried again next tick), never raised
        for done in set_aside_all(inbox, [(f.listing, why) for f, why in set_aside], stamp):
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
        changes.cursor.pending = pending
        return dg.SensorResult(
            run_requests=requests,
            cursor=changes.cursor.to_json(),
            dynamic_partitions_requests=[FUNDS.build_add_request(new_funds)] if new_funds else None,
            skip_reason=None
            if requests
            else f"no new files ({len(set_aside)} set aside, {len(pending)} awaiting the registry)",
        )

    return _inbox_sensor
