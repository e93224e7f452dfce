"""The inbox sensor: a run for the fund-days with new deliveries (one date's adjacent fund-days share one, bounded by
FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN), keyed by the sorted sha256s of those files, and
the reconciliation that requests a file again when its run never landed it. A delivery is the file's bytes AND
the slice its name designates (`landing.Delivery`), so the same bytes re-sent under a corrected name are new.
Thin: the logic is in `fidc_assets.lib.ingest.inbox` and `fidc_assets.lib.ingest.landing`."""

from __future__ import annotations

import datetime as dt
import posixpath
import time
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fidc_assets.defs.partitions import FUNDS
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import is_business_day
from fidc_assets.lib.ingest.inbox import (
    FundDayRequest,
    InboxCursor,
    Pending,
    RunBatch,
    batch_fund_days,
    detect_changes,
    group_by_fund_day,
    reconcile,
    set_aside_all,
)
from fidc_assets.lib.ingest.specs import CustodianSpec, FileMatch, match_file, name_problem, shown_name

if TYPE_CHECKING:
    from fidc_assets.lib.ingest.landing import Delivery

#: The ingestion job's first asset (defs.ingest.assets, which imports this module, names it too).
CUSTODIAN_FILES_KEY = dg.AssetKey(["lake", "custodian_files"])

#: The fund-days (partition keys) a sensor run lands, comma-separated: a batch's run has a partition range.
PARTITIONS_TAG = "fidc/partitions"

#: A run in one of these states may still land its files: the reconciliation waits for it.
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _delivery(sha256: str, match: FileMatch) -> Delivery:
    from fidc_assets.lib.ingest.landing import Delivery, SliceKey  # tick-time import: pyarrow is not load-time work

    return Delivery(sha256, SliceKey.of_match(match))


def _known(cursor: InboxCursor, specs: dict[str, CustodianSpec]) -> set[Delivery]:
    """The deliveries of the files the cursor lists (a file renamed or copied in again is not new)."""
    known = set()
    for path, (_, _, sha) in cursor.files.items():
        m = match_file(PurePosixPath(path).name, specs)
        if m is not None:
            known.add(_delivery(sha, m))
    return known


def _already_received(lakehouse: LakehouseResource, deliveries: set[Delivery]) -> set[Delivery]:
    """Of `deliveries`, those the lake's registry already holds (a restarted sensor, a file copied in again, a
    run that landed it). The one place the sensor asks the registry."""
    from fidc_assets.lib.ingest.landing import already_received

    return already_received(lakehouse.lake(), deliveries) if deliveries else set()


def _entities(req: FundDayRequest, specs: dict[str, CustodianSpec]) -> tuple[str, ...]:
    names = [posixpath.basename(p.path) for p in req.files]
    return tuple(sorted({m.file_spec.entity for m in (match_file(n, specs) for n in names) if m is not None}))


def _run_request(batch: RunBatch) -> dg.RunRequest:
    """The run for a batch of fund-days: receive their files and land only the entities they hold (a late stock
    file does not re-land, nor re-trigger downstream of, the day's settlements); one fund-day is its partition,
    several are the range from the first to the last (adjacent funds of one date: exactly these). Tags keep the
    per-file view (names, sha256s) and the fund-days visible on the run."""
    names = [posixpath.basename(p.path) for p in batch.files]
    keys = batch.partition_keys
    partition_key = keys[0] if len(keys) == 1 else None
    partition = (
        {} if partition_key else {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    )
    return dg.RunRequest(
        run_key=batch.run_key,
        partition_key=partition_key,
        asset_selection=[CUSTODIAN_FILES_KEY, *(dg.AssetKey(["lake", e]) for e in batch.entities)],
        tags={
            **partition,
            PARTITIONS_TAG: ",".join(keys),
            "fidc/files": ", ".join(names),
            "fidc/file_count": str(len(names)),
            "fidc/sha256s": ",".join(batch.shas),
            "fidc/attempt": str(batch.attempt),
        },
    )


def _partitions_in_progress(context: dg.SensorEvaluationContext, job_name: str) -> set[str]:
    runs = context.instance.get_runs(dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS))
    keys: set[str] = set()
    for r in runs:
        if PARTITIONS_TAG in r.tags:
            keys.update(r.tags[PARTITIONS_TAG].split(","))
        elif "dagster/partition" in r.tags:
            keys.add(r.tags["dagster/partition"])
    return keys


def inbox_sensor(job) -> dg.SensorDefinition:
    """The sensor, for the (unresolved, partitioned) ingestion asset job."""

    @dg.sensor(
        name="inbox_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches FIDC_INBOX: the new or corrected custodian files of each fund-day start an "
        "ingestion run, one date's fund-days together (at most FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN) (run key = "
        "sha256 of the files' sorted sha256s, so the same bytes never "
        "run twice, and a delivery (bytes + the slice its name designates) the lake already holds starts no run; "
        "the same bytes under a corrected name are a new delivery). A file requested FIDC_SENSOR_REREQUEST_MINUTES "
        "ago whose bytes are still not in the registry, with no run of its fund-day in progress, is requested "
        "again (new run key) and reported. Files no custodian sends, dated on a non-business day, or for a fund "
        "not in the fund registry are moved to the inbox's unmatched/ area and reported. Registry funds "
        "not yet known to Dagster are added to the `funds` partitions.",
    )
    def _inbox_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        inbox = lakehouse.inbox_fs()
        registry = lakehouse.fund_registry()
        funds = set(registry.cnpjs)
        registered = context.instance.get_dynamic_partitions(str(FUNDS.name))
        known_funds = set(registered)
        new_funds = [c for c in registry.cnpjs if c not in known_funds]
        cursor = InboxCursor.from_json(context.cursor)
        listings = inbox.list()
        specs = lakehouse.specs()
        changes = detect_changes(listings, cursor, specs, hasher=inbox.sha256)
        candidates = {f.listing.path: _delivery(f.sha256, f.match) for f in changes.new if f.match is not None}
        fresh = [f for f in changes.new if candidates[f.listing.path].id not in cursor.pending]
        known = _known(cursor, specs)
        pending_deliveries = {}
        for key, p in cursor.pending.items():
            m = match_file(posixpath.basename(p.path), specs)
            if m is not None:  # a pending file whose name no spec matches any more is reported vanished below
                pending_deliveries[key] = _delivery(p.sha256, m)
        received = _already_received(
            lakehouse, {candidates[f.listing.path] for f in fresh} | {*pending_deliveries.values()}
        )
        now = time.time()
        to_request: dict[str, Pending] = {}
        set_aside = [
            (f, name_problem(f.listing.name) or "matches no custodian's file pattern") for f in changes.unmatched
        ]
        for f in fresh:
            match, partition = f.match, f.partition_key
            assert match is not None and partition is not None  # detect_changes puts matched files in `new`
            delivery = candidates[f.listing.path]
            if not is_business_day(match.reference_date):
                set_aside.append((f, "is dated on a non-business day"))
            elif match.fund_cnpj not in funds:
                why = f"is for fund {match.fund_cnpj}, which is not in the fund registry (FIDC_FUNDS)"
                set_aside.append((f, why))
            elif delivery not in known and delivery not in received and delivery.id not in to_request:
                # the same bytes under another name for the same slice are not a new delivery
                to_request[delivery.id] = Pending(str(f.listing.path), partition, now, 1, f.sha256)

        # reconciliation: what became of the files requested on earlier ticks
        rec = reconcile(
            cursor.pending,
            {key for key, d in pending_deliveries.items() if d in received},
            present={str(item.path) for item in listings if match_file(item.name, specs) is not None},
            in_progress=_partitions_in_progress(context, job.name) if cursor.pending else set(),
            now=now,
            after_seconds=60 * lakehouse.settings().schedules.sensor_rerequest_minutes,
        )
        pending = dict(rec.waiting) | dict(rec.overdue) | to_request
        for _, p in rec.vanished:
            context.log.warning(
                f"{shown_name(posixpath.basename(p.path))} ({p.sha256[:12]}) left the inbox before it landed"
            )
        for _, p in rec.overdue:
            context.log.warning(
                f"{shown_name(posixpath.basename(p.path))} ({p.sha256[:12]}) is not in the registry "
                f"{p.attempt - 1} request(s) later: requesting {p.partition_key} again (attempt {p.attempt})"
            )
        fund_days = group_by_fund_day([*to_request.items(), *rec.overdue])
        batches = batch_fund_days(
            fund_days,
            [*registered, *new_funds],  # the order Dagster gives the `funds` partitions once new_funds are added
            {r.partition_key: _entities(r, specs) for r in fund_days},
            lakehouse.settings().schedules.sensor_max_fund_days_per_run,
        )
        requests = [_run_request(b) for b in batches]

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
