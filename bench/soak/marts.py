"""kill -9 of the dbt build: the `hot_and_marts` job (bench.soak.marts_worker: hot load, one `dbt build` of the
marts for the landed days, BI assets, checks) on the embedded PostgreSQL, each iteration in a database of its
own, killed at a random moment of its dbt build. Two faults in turn:

- kill -9 of the `dbt` process only: the step fails and its RetryPolicy (defs/dbt/assets.py) re-runs it in the
  same run; if the run still fails, it is re-run;
- kill -9 of the whole run (the worker's process group, dbt with it): the run is re-run as the daemon's
  `run_retries` would (the same job, the same partitions).

The end: `marts.mart_fund_daily` equals the generator's truth (count, nominal and present value per fund-day,
to the centavo), no table of `marts` holds a duplicate row, and `landing` equals cold."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from bench.soak.common import REPO, Sample, ScenarioResult
from bench.soak.hot import _cold, _landing

FAULTS = ("kill -9 of dbt", "kill -9 of the run")


@dataclass
class MartsRun:
    returncode: int
    injected: bool
    step_retries: int  # the dbt step re-run inside the run by its RetryPolicy
    dbt_window: tuple[float, float] | None  # seconds after "ready" a dbt process was first and last seen


def _env(sample: Sample, dsn: str) -> dict[str, str]:
    lake = sample.root / "truth"  # build_sample's sequential landing
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FIDC_", "DAGSTER_"))}
    return base | {
        "FIDC_HOME": str(sample.root / "marts-home"),
        "FIDC_ICEBERG_CATALOG_URI": f"sqlite:///{lake / 'catalog.db'}",
        "FIDC_WAREHOUSE": (lake / "warehouse").as_uri(),
        "FIDC_PG_DSN": dsn,
        "FIDC_FUNDS": str(sample.root / "sample" / "funds.yaml"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def _dbt_children(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for c in children:
        try:
            if any(Path(a).name == "dbt" for a in c.cmdline()[:2]):
                out.append(c)
        except psutil.Error:
            continue
    return out


def run_marts(sample: Sample, dsn: str, log: Path, kill_at: float | None = None, fault: str = "") -> MartsRun:
    """One `hot_and_marts` run in a subprocess (its own process group); `kill_at` seconds after "ready" the
    fault is injected if the run still works (for the dbt fault: only if a dbt process exists then)."""
    days = sorted(sample.days)
    cmd = [sys.executable, "-m", "bench.soak.marts_worker", str(log), *(d.isoformat() for d in days)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=_env(sample, dsn), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    ready = proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    first = last = None
    injected = False
    while ready and proc.poll() is None:
        now = time.monotonic() - t0
        dbt = _dbt_children(proc.pid)
        if dbt:
            first = now if first is None else first
            last = now
        if kill_at is not None and not injected and now >= kill_at:
            if fault == FAULTS[0]:
                for c in dbt:
                    try:
                        c.send_signal(signal.SIGKILL)
                        injected = True
                    except psutil.NoSuchProcess:
                        pass
                if not dbt:
                    kill_at = None  # no dbt process at that moment: no fault
            else:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                    injected = True
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    tail = proc.stdout.read()
    code = proc.wait()
    m = re.search(r"step_retries=(\d+)", tail)
    if injected and fault == FAULTS[1]:
        try:  # nothing of the killed run may outlive it (a dbt child would still write)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    window = (first, last) if first is not None and last is not None else None
    return MartsRun(code, injected, int(m.group(1)) if m else 0, window)


def _database(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    base, _, rest = admin_dsn.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def _duplicates(dsn: str) -> int:
    """Rows of any table of `marts` that equal another row of the same table (whole row)."""
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE' and table_name not in "
            "(select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid)"
        ).fetchall()
        total = 0
        for (t,) in tables:
            q = sql.SQL("select count(*) - count(distinct x) from {} x").format(sql.Identifier("marts", t))
            row = conn.execute(q).fetchone()
            total += int(row[0]) if row else 0
        return total


def marts_against_truth(dsn: str, sample: Sample) -> tuple[int, int, list[str]]:
    """(fund-days wrong or missing, duplicate mart rows, notes) against the generator's truth."""
    from fidc_assets.pipeline import mart_totals
    from fidc_assets.sample.truth import read_truth

    truth = {k: t.totals for k, t in read_truth(sample.root / "sample" / "truth").items()}
    got = mart_totals(dsn, sorted(sample.days))
    with psycopg.connect(dsn) as conn:
        per_key = conn.execute(
            "select count(*) - count(distinct (fund_cnpj, reference_date)) from marts.mart_fund_daily"
        ).fetchone()
    wrong = [k for k, v in truth.items() if got.get(k) != v]
    extra = [k for k in got if k not in truth]
    doubled = (int(per_key[0]) if per_key else 0) + _duplicates(dsn)
    notes = [f"mart {k}: {got.get(k)} != truth {truth.get(k)}" for k in (wrong + extra)[:2]]
    return len(wrong) + len(extra), doubled, notes


def dbt_build_kills(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    from fidc_assets.lib.hot.embedded import EmbeddedPostgres
    from fidc_assets.lib.lake.catalog import Lake
    from tests.conftest import traversable_tmp_dir

    result = ScenarioResult("kill -9 of the dbt build (dbt process / whole run)")
    directory = traversable_tmp_dir("fidc-soak-dbt-")
    server = EmbeddedPostgres(directory / "pg", settings={"fsync": "off"})
    cold = _cold(Lake.local(sample.root / "truth"))
    log = sample.root / "marts-runs.log"
    try:
        admin = server.start()
        probe = run_marts(sample, _database(admin, "soak_marts_probe"), log)
        if probe.returncode != 0 or probe.dbt_window is None:
            raise RuntimeError(f"a clean hot_and_marts run failed ({probe.returncode}) or ran no dbt; see {log}")
        start, end = probe.dbt_window
        result.note(f"a clean run's dbt build: {start:.0f}-{end:.0f} s after the definitions loaded")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or result.iterations == 0:
            result.iterations += 1
            fault = FAULTS[(result.iterations - 1) % len(FAULTS)]
            dsn = _database(admin, f"soak_marts_{result.iterations}")
            run = run_marts(sample, dsn, log, rng.uniform(start, end), fault)
            result.faults += run.injected
            result.retried += run.step_retries
            code = run.returncode
            for _ in range(3):  # the daemon's run_retries: the same job for the same partitions
                if code == 0:
                    break
                result.retried += 1
                again = run_marts(sample, dsn, log)
                code = again.returncode
                result.retried += again.step_retries
            if run.injected and fault == FAULTS[0] and run.returncode == 0:
                result.note("kill -9 of dbt: the step's retry policy re-ran dbt in the same run")
            wrong, doubled, notes = marts_against_truth(dsn, sample)
            got = _landing(dsn)
            lost = sum(n for k, n in cold.items() if got.get(k, 0) < n)
            doubled += sum(n - cold.get(k, 0) for k, n in got.items() if n > cold.get(k, 0))
            result.rows_lost += wrong + lost
            result.rows_doubled += doubled
            for n in notes:
                result.note(n)
            if code != 0 or wrong or lost or doubled:
                result.unrecovered += 1
                result.note(f"{fault}: exit {code}, {wrong} fund-days wrong, {lost} lost, {doubled} doubled")
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return result
