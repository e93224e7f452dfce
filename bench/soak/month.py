"""The simulated month through the running daemon: `fidc-lake ui` (webserver, daemon, code server: `dagster
dev`, as `make ui` starts it; bench.daily_server) on a fresh FIDC_HOME with the embedded PostgreSQL, fed one
business day of a small sample (2 funds, July 2024) at a time, with faults injected at random moments:

- kill -9 of a run worker (an ingestion run or a hot load/marts run, found by the "Started process for run
  (pid: N)" event its worker writes; the run monitor fails it, `run_retries` in dagster.yaml re-runs it);
- a PostgreSQL restart (`fidc-lake db stop`, 2 s, `fidc-lake db start`): steps that lose their connection
  fail and are retried by their RetryPolicy, then by the run retry.

Nobody touches anything else: the inbox sensor requests the ingestion runs, the marts automation the hot load
and dbt runs. Days are delivered while half of the scenario's share is left; the rest waits for the daemon to
settle. The end: every delivered file's delivery in the registry, one `accepted` version per slice
(`registry_problems`), no row doubled in the lake, `mart_fund_daily` equal to the generator's truth to the
centavo for every fund-day delivered, no duplicate mart row, landing equal to cold."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

from bench.soak.common import ScenarioResult

FUNDS = 1
START = dt.date(2024, 7, 1)
BUSINESS_DAYS = 23  # July 2024 (no national holiday)
STARTED_PROCESS = re.compile(r"Started process for run \(pid: (\d+)\)")
FAULTS = ("kill -9 of a run worker", "PostgreSQL restart")
FAULT_PROBABILITY = 0.7  # per delivered day
POLL_S = 3.0
#: Days are delivered during this part of the share; the rest lets the queued dates' marts drain.
DELIVER_SHARE = 0.6
CADENCE_S = 20.0
#: At most this many delivered dates whose marts do not yet equal the truth (more would not drain in the share:
#: each date is a marts run of its own, one at a time).
MAX_BACKLOG = 3
#: How long past its share the scenario still waits for the daemon to settle (a loaded machine), noted if used.
SETTLE_GRACE_S = 600.0  # the instance is SQLite: poll gently


def _worker_pids(instance) -> dict[str, int]:
    """run id → worker pid of every run in progress whose worker has started."""
    import dagster as dg

    out = {}
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        for rec in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            text = (rec.dagster_event.message if rec.dagster_event else None) or rec.user_message or ""
            m = STARTED_PROCESS.search(text)
            if m:
                out[run.run_id] = int(m.group(1))
                break
    return out


def _runs(instance) -> list:
    return list(instance.get_runs())


def _inject(fault: str, home, instance, rng: random.Random) -> bool:
    if fault == FAULTS[0]:
        pids = _worker_pids(instance)
        if not pids:
            return False
        pid = pids[rng.choice(sorted(pids))]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True
    home.fidc("db", "stop")
    time.sleep(2.0)
    home.fidc("db", "start")  # the DSN may name another port now: read again by the caller
    return True


def simulated_month(sample, seconds: float, rng: random.Random) -> ScenarioResult:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from bench.daily import deliver, deliveries, marts_equal_truth
    from bench.daily_server import Home, Server
    from fidc_assets.pipeline import adopt_fund_registry
    from fidc_assets.sample.truth import read_truth

    result = ScenarioResult("simulated month through the daemon (kill -9 of run workers, PostgreSQL restarts)")
    started = time.monotonic()
    settle_until = started + seconds
    from tests.conftest import traversable_tmp_dir

    root = traversable_tmp_dir("fidc-soak-month-")  # the embedded PostgreSQL's OS user must reach its home
    out = root / "sample"
    subprocess.run(
        [sys.executable, "-m", "fidc_assets.cli", "sample", "--seed", "13", "--funds", str(FUNDS),
         "--days", str(BUSINESS_DAYS), "--start", START.isoformat(), "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    truth = read_truth(out / "truth")
    days = sorted({d for _f, d in truth})
    home = Home(root / "home")
    adopt_fund_registry(out / "funds.yaml", home.funds_file)
    dsn = home.fidc("db", "start").splitlines()[-1]
    server = Server(home)
    kinds: Counter = Counter()
    delivered = []
    covered: list[dt.date] = []
    try:
        up = server.start(timeout_s=max(120.0, seconds))
        result.note(f"dagster dev up and the inbox sensor ticking after {up:.0f} s")
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home.dagster_home)))
        funds = {f for f, _d in truth}
        # a custodian's day, compressed: the next business day is delivered every CADENCE_S whatever the daemon
        # is doing, so dates queue up behind the marts runs (one per date, one at a time: the dbt window), as
        # long as at most MAX_BACKLOG delivered dates are not yet equal to the truth in the marts; deliveries stop
        # at DELIVER_SHARE of the share, the rest lets the queued dates drain
        t0 = time.monotonic()
        deliver_until = started + seconds * DELIVER_SHARE
        next_at = t0
        faults: list[tuple[float, float, str]] = []  # (when, give up at, fault)
        pending: list[dt.date] = []  # delivered, marts not yet equal to the truth
        settled = None
        while time.monotonic() < settle_until + SETTLE_GRACE_S:
            now = time.monotonic()
            pending = [d for d in pending if not _marts_done(dsn, truth, [d], funds, marts_equal_truth)]
            if (
                len(covered) < len(days)
                and now >= next_at
                and len(pending) < MAX_BACKLOG
                and (now < deliver_until or not covered)
            ):
                day = days[len(covered)]
                items = deliveries(out / "inbox", day)
                deliver(out / "inbox", home.inbox, items)
                delivered += items
                covered.append(day)
                pending.append(day)
                next_at = now + CADENCE_S
                result.iterations += 1
                if rng.random() < FAULT_PROBABILITY:
                    at = now + rng.uniform(5.0, 40.0)
                    faults.append((at, at + 90.0, rng.choice(FAULTS)))  # no run worker alive by then: none
            for i, (at, give_up, fault) in enumerate(faults):
                if at > now:
                    continue
                if _inject(fault, home, instance, rng):
                    dsn = home.fidc("db", "url").splitlines()[-1]
                    result.faults += 1
                    kinds[fault] += 1
                    faults.pop(i)
                elif now > give_up:
                    faults.pop(i)
                else:
                    faults[i] = (at + 2.0, give_up, fault)  # no worker yet: try again shortly
                break  # one fault per poll
            if (
                (len(covered) == len(days) or now >= deliver_until)
                and not faults
                and not pending
                and not _in_progress(instance)
            ):
                settled = time.monotonic()
                break
            time.sleep(POLL_S)
        runs = _runs(instance)
        result.retried = sum("dagster/parent_run_id" in r.tags for r in runs)
        failed = sum(r.status == dg.DagsterRunStatus.FAILURE for r in runs)
        result.note(
            f"days covered: {len(covered)} of {len(days)} business days ({covered[0]} .. {covered[-1]}), at most "
            f"one every {CADENCE_S:.0f} s and {MAX_BACKLOG} ahead of the marts, {len(delivered)} files, {FUNDS} "
            f"fund(s); {len(runs)} runs ({failed} failed, {result.retried} retries); faults: {dict(kinds) or 'none'}"
        )
        result.note(_marts_runs(instance))
        if settled is None:
            result.note(f"the daemon had not settled {SETTLE_GRACE_S:.0f} s after the share's end")
        elif settled > settle_until:
            result.note(f"the daemon settled {settled - settle_until:.0f} s after the share's end (a slow machine)")
        else:
            result.note(f"the daemon settled {settled - t0:.0f} s after the first delivery")
        print(f"    month: {len(covered)} days covered ({covered[0]} .. {covered[-1]})", flush=True)
        server.stop()
        _end_state(home, truth, covered, delivered, result)
    finally:
        server.stop()
        try:
            home.fidc("db", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return result


def _marts_runs(instance) -> str:
    """How the marts automation built the month: its runs (retries included), the dates each covered, their time."""
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from fidc_assets.defs.partitions import business_days

    runs = [r for r in instance.get_runs() if r.job_name != "ingest_files"]
    sizes, seconds = [], []
    for r in runs:
        tags = r.tags
        if ASSET_PARTITION_RANGE_START_TAG in tags:
            keys = business_days().get_partition_keys_in_range(
                dg.PartitionKeyRange(tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG])
            )
            sizes.append(len(keys))
        else:
            sizes.append(1)
        rec = instance.get_run_record_by_id(r.run_id)
        if rec and rec.start_time and rec.end_time:
            seconds.append(rec.end_time - rec.start_time)
    ingest = [instance.get_run_record_by_id(r.run_id) for r in instance.get_runs() if r.job_name == "ingest_files"]
    ingest_s = [x.end_time - x.start_time for x in ingest if x and x.start_time and x.end_time]
    span = lambda xs: f"{min(xs):.0f}-{max(xs):.0f} s" if xs else "-"  # noqa: E731
    return (
        f"{len(runs)} marts runs (dates per run: {sorted(sizes, reverse=True)}; {span(seconds)} each), "
        f"{len(ingest)} ingestion runs ({span(ingest_s)} each)"
    )


def _marts_done(dsn: str, truth: dict, covered: list[dt.date], funds: set[str], equal) -> bool:
    import psycopg

    try:
        return all(equal(dsn, truth, d, funds) for d in covered)
    except psycopg.Error:  # no marts built yet, or the server restarting
        return False


def _end_state(home, truth: dict, covered: list[dt.date], delivered: list, result: ScenarioResult) -> None:
    """The lake, the registry, landing and the marts against the truth, once the daemon is stopped."""
    import psycopg

    from bench.soak.hot import _cold, _landing
    from bench.soak.marts import _duplicates
    from fidc_assets.lib.core.canonical import FILE_REGISTRY, RECEIVABLE_POSITIONS
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.pipeline import mart_totals
    from fidc_assets.settings import Settings
    from tests.integration.test_concurrent_landing import live_rows, registry_problems

    settings = Settings.from_env(overrides={"FIDC_HOME": str(home.root)})
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    registered = {r["sha256"] for r in lake.read(FILE_REGISTRY).to_pylist()}
    missed = [d.name for d in delivered if d.sha256 not in registered]
    rows = live_rows(lake)
    problems = registry_problems(lake)
    landed: Counter = Counter(
        (r["fund_cnpj"], r["reference_date"])
        for r in lake.read(RECEIVABLE_POSITIONS, None, ("fund_cnpj", "reference_date")).to_pylist()
    )
    covered_truth = {k: t for k, t in truth.items() if k[1] in covered}
    lost = sum(max(0, t.row_count - landed.get(k, 0)) for k, t in covered_truth.items())
    doubled = sum(n - 1 for n in rows.values() if n > 1)
    dsn = home.fidc("db", "start").splitlines()[-1]
    try:
        marts = mart_totals(dsn, covered)
        doubled += _duplicates(dsn)
    except psycopg.errors.UndefinedTable:
        marts = {}
    wrong = [k for k, t in covered_truth.items() if marts.get(k) != t.totals]
    cold = _cold(lake)
    try:
        hot = _landing(dsn)
    except psycopg.errors.UndefinedTable:
        hot = Counter()
    lost += sum(n for k, n in cold.items() if hot.get(k, 0) < n) + len(wrong)
    doubled += sum(n - cold.get(k, 0) for k, n in hot.items() if n > cold.get(k, 0))
    result.rows_lost += lost
    result.rows_doubled += doubled
    result.registry_inconsistencies += len(problems) + len(missed)
    for p in problems[:2]:
        result.note(p[:200])
    if missed:
        result.note(f"never registered: {missed[:3]}")
    if wrong:
        result.note(f"marts differ from the truth for {len(wrong)} fund-days, e.g. {wrong[0]}")
    if lost or doubled or problems or missed:
        result.unrecovered += 1


def _day_landed(instance, items) -> bool:
    """Every file of the day carried by a successful ingestion run (read from the instance: reading the lake
    while runs write it is not what a user does)."""
    import dagster as dg

    runs = instance.get_runs(dg.RunsFilter(job_name="ingest_files", statuses=[dg.DagsterRunStatus.SUCCESS]))
    done = {s for r in runs for s in r.tags.get("fidc/sha256s", "").split(",")}
    return all(d.sha256 in done for d in items)


def _in_progress(instance) -> bool:
    import dagster as dg

    statuses = [
        dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING,
    ]  # fmt: skip
    return bool(instance.get_runs(dg.RunsFilter(statuses=statuses), limit=1))
