"""kill -9 of the sensor tick: the inbox sensor evaluated through Dagster's machinery (bench.soak.sensor_worker:
`build_sensor_context` with a real DagsterInstance on disk and the cursor stored in it), killed at random
moments of its tick; the next tick goes on from the cursor the instance holds.

One iteration: an empty lake and instance; the 1st day's files and one file no custodian sends are dropped
into the inbox, ticks follow until one finds nothing new and nothing pending (each tick killed at a random
moment with probability 0.6), every run requested in between is executed (bench.soak.worker: receive and
land exactly the request's files, what the ingestion run does); then the 2nd day's files, the same way.
The end: every sample file's delivery in the registry (none missed), the unmatched file set aside once and
gone from the inbox, rows = truth, the registry consistent; a file requested twice must have had one outcome
(its delivery registered once, which `registry_problems` checks)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.soak.common import REPO, Sample, ScenarioResult, check, fresh, lake_dir, land
from bench.soak.sensor_worker import REQUEST_PREFIX
from fidc_assets.lib.core.canonical import FILE_REGISTRY
from fidc_assets.lib.lake.archive import sha256_file

KILL_PROBABILITY = 0.6
MAX_TICKS = 8
UNMATCHED = "LEIAME_custodiante.txt"


def _tick(args: list[str], env: dict[str, str], kill_after: float | None) -> tuple[int, bool, float, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.soak.sensor_worker", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    ready = proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    killed = False
    if ready and kill_after is not None:
        while time.monotonic() - t0 < kill_after and proc.poll() is None:
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
    out, err = proc.communicate()
    working = time.monotonic() - t0
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return proc.returncode, killed, working, json.loads(lines[-1]) if lines else {"stderr": err[-500:]}


def _requests(dagster_dir: Path) -> dict[str, dict]:
    """Every run the ticks requested (run key → partition, files, sha256s), from the instance's storage."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.storage.runs.schema import KeyValueStoreTable

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_dir))) as instance:
        storage = instance.run_storage
        with storage.connect() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                KeyValueStoreTable.select().where(KeyValueStoreTable.c.key.like(REQUEST_PREFIX + "%"))
            ).fetchall()
    return {r.key.removeprefix(REQUEST_PREFIX): json.loads(r.value) for r in rows}


def _drop(files: list[Path], inbox: Path) -> None:
    for f in files:
        tmp = inbox / f".{f.name}.partial"
        shutil.copyfile(f, tmp)
        tmp.replace(inbox / f.name)


def sensor_tick_kills(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    result = ScenarioResult("kill -9 of the sensor tick")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIDC_", "DAGSTER_"))}
    work: float | None = None
    first, second = sorted(sample.days)[:2]
    phases = [
        [p for (d, _f), paths in sorted(sample.by_fund_day.items()) if d == day for p in paths]
        for day in (first, second)
    ]
    unmatched = sample.root / "sensor-unmatched" / UNMATCHED
    unmatched.parent.mkdir(parents=True, exist_ok=True)
    unmatched.write_bytes(b"arquivo que nenhum custodiante envia\n")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or result.iterations == 0:
        result.iterations += 1
        base = sample.root / "sensor"
        if base.exists():
            shutil.rmtree(base)
        inbox, dagster_dir = base / "inbox", base / "dagster"
        inbox.mkdir(parents=True)
        dagster_dir.mkdir()
        lake = fresh(base, "lake")
        env_i = env | {"FIDC_HOME": str(base / "home")}
        args = [str(dagster_dir), str(inbox), str(lake_dir(lake)), str(sample.root / "sample" / "funds.yaml")]
        executed: set[str] = set()
        requested_shas: Counter = Counter()
        for phase, files in enumerate(phases):
            _drop(files + ([unmatched] if phase == 0 else []), inbox)
            for _ in range(MAX_TICKS):
                kill = work is not None and rng.random() < KILL_PROBABILITY
                code, killed, took, out = _tick(args, env_i, rng.uniform(0.0, work) if kill and work else None)
                result.faults += killed
                if not killed and code != 0:
                    result.note(f"a tick exited {code}: {str(out.get('stderr', ''))[-200:]}")
                if not killed and code == 0 and work is None:
                    work = took  # the kill moment is drawn within a clean tick's time after "ready"
                for key, req in sorted(_requests(dagster_dir).items()):
                    if key in executed:
                        continue
                    executed.add(key)  # the run the daemon launched for that request
                    requested_shas.update(req["shas"].split(","))
                    names = [n.strip() for n in req["files"].split(",")]
                    run = land(lake_dir(lake), inbox, only=names)
                    if run.returncode != 0:
                        result.note(f"the run for {req['partition']} exited {run.returncode}")
                if not killed and code == 0 and out.get("requested") == 0 and "0 awaiting" in str(out.get("skip")):
                    break  # a clean tick with nothing new and nothing pending
                if killed:
                    result.retried += 1  # the next tick is the recovery
        registered = {r["sha256"] for r in lake.read(FILE_REGISTRY).to_pylist()}
        missed = [f.name for files in phases for f in files if sha256_file(f) not in registered]
        twice = sum(1 for n in requested_shas.values() if n > 1)
        if twice:
            result.note(f"{twice} file(s) requested twice (their delivery registered once: checked below)")
        area = inbox / "unmatched"
        set_aside = [p for p in area.rglob("*") if p.is_file()] if area.exists() else []
        copies = sum(1 for p in set_aside if p.read_bytes() == unmatched.read_bytes())
        aside_ok = copies == 1 and not (inbox / UNMATCHED).exists()
        if missed:  # their rows are counted as lost by check() below
            result.note(f"missed (never registered): {missed[:3]}")
        if not aside_ok:
            result.registry_inconsistencies += 1
            result.note(f"the unmatched file was not set aside exactly once: {[str(p) for p in set_aside]}")
        ok = check(lake, sample.truth, result)
        if ok and (missed or not aside_ok):
            result.unrecovered += 1
    return result
