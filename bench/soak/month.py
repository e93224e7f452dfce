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
    deliver_until = started + seconds / 2
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
    covered: list[dt.date] = []
    kinds: Counter = Counter()
    delivered = []
    try:
        up = server.start(timeout_s=max(120.0, seconds))
        result.note(f"dagster dev up and the inbox sensor ticking after {up:.0f} s")
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home.dagster_home)))
        funds = {f for f, _d in truth}
        for day in days:
            if time.monotonic() > deliver_until and covered:
                break
            items = deliveries(out / "inbox", day)
            deliver(out / "inbox", home.inbox, items)
            delivered += items
            covered.append(day)
            result.iterations += 1
            fault_at = time.monotonic() + rng.uniform(5.0, 40.0) if rng.random() < FAULT_PROBABILITY else None
            give_up = (fault_at or 0.0) + 90.0  # no run worker alive until then: that day goes without its fault
            fault = rng.choice(FAULTS)
            # the next day is delivered once this one is done: its files landed, its marts equal the truth and
            # nothing runs (a day's cycle, compressed: a marts run per day would otherwise queue up behind
            # the dbt window's limit of one)
            while time.monotonic() < settle_until + SETTLE_GRACE_S:
                if fault_at is not None and time.monotonic() >= fault_at:
                    if _inject(fault, home, instance, rng):
                        dsn = home.fidc("db", "url").splitlines()[-1]
                        result.faults += 1
                        kinds[fault] += 1
                        fault_at = None
                    elif time.monotonic() > give_up:
                        fault_at = None
                    else:
                        fault_at += 2.0  # no worker yet: try again shortly
                time.sleep(POLL_S)
                if (
                    fault_at is None
                    and _day_landed(instance, items)
                    and not _in_progress(instance)
                    and _marts_done(dsn, truth, [day], funds, marts_equal_truth)
                ):
                    break
        # settle: every run finished and the marts of every delivered day equal the truth, by the share's end
        # or, when the machine is slower than the share allows, within SETTLE_GRACE_S more (the overrun noted)
        settled = None
        while time.monotonic() < settle_until + SETTLE_GRACE_S:
            if not _in_progress(instance) and _marts_done(dsn, truth, covered, funds, marts_equal_truth):
                settled = time.monotonic()
                break
            time.sleep(POLL_S)
        runs = _runs(instance)
        result.retried = sum("dagster/parent_run_id" in r.tags for r in runs)
        failed = sum(r.status == dg.DagsterRunStatus.FAILURE for r in runs)
        result.note(
            f"days covered: {len(covered)} of {len(days)} business days ({covered[0]} .. {covered[-1]}), "
            f"{len(delivered)} files, {FUNDS} fund(s); {len(runs)} runs ({failed} failed, {result.retried} retries); "
            f"faults: {dict(kinds) or 'none'}"
        )
        if settled is None:
            result.note(f"the daemon had not settled {SETTLE_GRACE_S:.0f} s after the share's end")
        elif settled > settle_until:
            result.note(f"the daemon settled {settled - settle_until:.0f} s after the share's end (a slow machine)")
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
