"""Hot load faults with the embedded PostgreSQL: kill -9 of the loader, a PostgreSQL restart and a kill -9 of
the postmaster, each at a random moment of the load of every day of the sample into `landing`; then the load
is retried (what the run retry does) and `landing` must equal cold, row for row (no row lost, none doubled).

The dbt build under the same faults is not here: see docs/soak.md."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import psycopg
from psycopg import sql

from bench.soak.common import REPO, Sample, ScenarioResult, lake_dir
from fidc_assets.lib.lake.catalog import Lake

DATA_ENTITIES = ("receivable_positions", "acquisitions", "settlements", "fund_quotas")
FAULTS = ("kill -9 of the loader", "PostgreSQL restart", "kill -9 of the postmaster")


def cold_days(lake: Lake, entity: str) -> list[dt.date]:
    from fidc_assets.lib.core.canonical import ENTITIES
    from fidc_assets.lib.hot.partitions import require_dated

    column = require_dated(ENTITIES[entity])
    return sorted({d for d in lake.read(entity, None, (column,))[column].to_pylist() if d is not None})


def _cold(lake: Lake) -> Counter:
    out: Counter = Counter()
    for entity in DATA_ENTITIES:
        for r in lake.read(entity, None, ("source_file_sha256", "source_line")).to_pylist():
            out[(entity, r["source_file_sha256"], r["source_line"])] += 1
    return out


def _landing(dsn: str) -> Counter:
    out: Counter = Counter()
    with psycopg.connect(dsn) as conn:
        for entity in DATA_ENTITIES:
            query = sql.SQL("select source_file_sha256, source_line, count(*) from {} group by 1, 2").format(
                sql.Identifier("landing", entity)
            )
            for sha, line, n in conn.execute(query).fetchall():
                out[(entity, sha, line)] += n
    return out


def _load(lake_path, dsn: str, kill_after: float | None, fault: str, server) -> tuple[int, bool]:
    cmd = [sys.executable, "-m", "bench.soak.hot_worker", str(lake_path), dsn]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    injected = False
    ready = proc.stdout.readline().strip() == "ready"
    ready_at = time.monotonic()
    if ready and kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is None:
            injected = True
            if fault == FAULTS[0]:
                os.kill(proc.pid, signal.SIGKILL)
            elif fault == FAULTS[1]:
                server.stop()
                server.start()
            else:
                pid = server.status().pid
                if pid:
                    os.kill(pid, signal.SIGKILL)
    proc.stdout.read()
    code = proc.wait()
    _WORKING[0] = time.monotonic() - ready_at
    return code, injected


_WORKING = [0.0]  # the last load's seconds from "ready" to exit


def hot_load_faults(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    from fidc_assets.lib.hot.embedded import EmbeddedPostgres
    from tests.conftest import traversable_tmp_dir

    result = ScenarioResult("hot load: kill -9 / PostgreSQL restart / postmaster kill -9")
    lake = Lake.local(sample.root / "truth")  # the sequential landing of build_sample
    cold = _cold(lake)
    directory = traversable_tmp_dir("fidc-soak-pg-")
    server = EmbeddedPostgres(directory / "pg", settings={"fsync": "off"})
    try:
        dsn = server.start()
        _load(lake_dir(lake), dsn, None, "", server)
        work = _WORKING[0]  # the fault moment is drawn after "ready", within a clean load's time
        end = time.monotonic() + seconds
        while time.monotonic() < end or result.iterations == 0:
            result.iterations += 1
            fault = FAULTS[(result.iterations - 1) % len(FAULTS)]
            code, injected = _load(lake_dir(lake), dsn, rng.uniform(0.0, work), fault, server)
            result.faults += injected
            if fault == FAULTS[2] and injected:
                time.sleep(0.5)
                dsn = server.start()  # the supervisor's restart (systemd/compose restart the server)
            for _ in range(3):
                if code == 0 and not injected:
                    break
                result.retried += 1
                code, injected = _load(lake_dir(lake), dsn, None, "", server)
            got = _landing(dsn)
            lost = sum(n for k, n in cold.items() if got.get(k, 0) < n)
            doubled = sum(n - cold.get(k, 0) for k, n in got.items() if n > cold.get(k, 0))
            result.rows_lost += lost
            result.rows_doubled += doubled
            if lost or doubled or code != 0:
                result.unrecovered += 1
                result.note(f"{fault}: exit {code}, {lost} lost, {doubled} doubled")
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return result
