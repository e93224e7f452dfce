"""What every soak scenario shares: the sample and its truth, landing subprocesses (killed or not), the end
state checked against the truth, and the orphan count."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from fidc_assets.lib.core.canonical import ENTITIES, FILE_REGISTRY
from fidc_assets.lib.lake.catalog import Lake
from tests.integration.test_concurrent_landing import fresh_lake, live_rows, make_sample, registry_problems

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ScenarioResult:
    """One row of the table."""

    name: str
    iterations: int = 0
    faults: int = 0
    retried: int = 0
    rows_lost: int = 0
    rows_doubled: int = 0
    registry_inconsistencies: int = 0
    orphans: int = 0
    unrecovered: int = 0  # iterations whose end state was wrong after the automatic recovery
    notes: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> bool:
        return self.iterations > 0 and self.unrecovered == 0

    def note(self, text: str) -> None:
        if text not in self.notes and len(self.notes) < 8:
            self.notes.append(text)


@dataclass
class Sample:
    root: Path
    inbox: Path
    days: list[dt.date]
    by_fund_day: dict[tuple[dt.date, str], list[Path]]
    truth: Counter  # row identity → 1: what one sequential landing of every file gives


def build_sample(root: Path) -> Sample:
    """4 funds × 2 days (tests/integration/test_concurrent_landing.make_sample); its truth is one sequential
    landing, checked once against the generator's own truth (positions_daily.csv row counts)."""
    from fidc_assets.sample.truth import read_positions_truth

    inbox, days, by_fund_day = make_sample(root)
    lake = fresh_lake(root, "truth")
    land(lake_dir(lake), inbox)
    truth = live_rows(lake)
    generated = read_positions_truth(root / "sample" / "truth")
    landed = Counter((k[2], k[3]) for k in truth if k[0] == "receivable_positions")
    expected = {(fund, day): t.row_count for (_, fund, day), t in generated.items()}
    if dict(landed) != expected or max(truth.values()) != 1 or registry_problems(lake):
        raise RuntimeError(f"the sequential landing differs from the generator's truth: {landed} != {expected}")
    return Sample(root, inbox, days, by_fund_day, truth)


def lake_dir(lake: Lake) -> Path:
    return Path(urlparse(lake.warehouse).path).parent


@dataclass
class Landing:
    returncode: int
    killed: bool
    peak_rss_mb: float
    output: dict
    working_seconds: float  # from "ready" (imports done) to exit: the window a kill is drawn in


def land(lake_path: Path, inbox: Path, only: Sequence[str] | None = None, kill_after: float | None = None) -> Landing:
    """One ingestion run in a subprocess (bench.soak.worker); `kill_after` seconds after it is ready it gets
    SIGKILL if still running. Peak RSS from the child's rusage."""
    cmd = [sys.executable, "-m", "bench.soak.worker", str(lake_path), str(inbox)]
    if only is not None:
        cmd += ["--only", *only]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    killed = False
    reaped = None  # (wait status, rusage): reaped by os.wait4 only, so the child's rusage is never lost

    def reap(block: bool) -> tuple[int, resource.struct_rusage] | None:
        pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
        return (status, usage) if pid else None

    ready = proc.stdout.readline().strip() == "ready"
    ready_at = time.monotonic()
    if kill_after is not None and ready:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline and reaped is None:
            time.sleep(0.01)
            reaped = reap(False)
        if reaped is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
    rest = proc.stdout.read()
    err = proc.stderr.read() if proc.stderr else ""
    if reaped is None:
        reaped = reap(True)
    assert reaped is not None
    status, usage = reaped
    proc.returncode = os.waitstatus_to_exitcode(status)
    working = time.monotonic() - ready_at
    lines = [ln for ln in rest.splitlines() if ln.startswith("{")]
    output = json.loads(lines[-1]) if lines else {"stderr": err[-2000:]}
    return Landing(proc.returncode, killed, usage.ru_maxrss / 1024, output, working)


def land_until_clean(lake_path: Path, inbox: Path, result: ScenarioResult, only: Sequence[str] | None = None) -> bool:
    """The automatic recovery: the run is retried (what Dagster's run retry or the sensor's next request does)
    until it exits 0, at most 3 times."""
    for _ in range(3):
        result.retried += 1
        run = land(lake_path, inbox, only)
        if run.returncode == 0:
            return True
        result.note(f"re-run exited {run.returncode}: {str(run.output.get('stderr', ''))[-200:]}")
    return False


def check(lake: Lake, truth: Counter, result: ScenarioResult) -> bool:
    """The end state against the truth: rows lost, rows doubled (or foreign), registry problems, orphans."""
    rows = live_rows(lake)
    lost = sum(n for k, n in truth.items() if rows.get(k, 0) < n)
    doubled = sum(n - truth.get(k, 0) for k, n in rows.items() if n > truth.get(k, 0))
    problems = registry_problems(lake) + accepted_without_rows(lake, rows)
    result.rows_lost += lost
    result.rows_doubled += doubled
    result.registry_inconsistencies += len(problems)
    result.orphans += orphan_files(lake)
    for p in problems[:2]:
        result.note(p[:200])
    ok = lost == 0 and doubled == 0 and not problems
    result.unrecovered += not ok
    return ok


def accepted_without_rows(lake: Lake, rows: Counter) -> list[str]:
    """What `registry_problems` does not look at: a slice whose `accepted` delivery says it landed rows while
    the slice holds none (its rows went elsewhere, or were deleted)."""
    live = {(cust, entity, fund, day) for entity, cust, fund, day, _sha, _line in rows}
    return [
        f"{r['original_name']} ({r['sha256'][:12]}) accepted with {r['rows_accepted']} rows for "
        f"{r['reference_date']}, but that slice holds no row"
        for r in lake.read(FILE_REGISTRY).to_pylist()
        if r["status"] == "accepted"
        and (r["rows_accepted"] or 0) > 0
        and (r["custodian_id"], r["entity"], r["fund_cnpj"], r["reference_date"]) not in live
    ]


def orphan_files(lake: Lake) -> int:
    """Data files under the tables' locations that no snapshot references (a writer killed after writing its
    Parquet files and before its commit leaves them; `maintenance` removes them)."""
    orphans = 0
    for entity in ENTITIES.values():
        table = lake.table(entity)
        referenced = {
            urlparse(entry.data_file.file_path).path
            for snapshot in table.snapshots()
            for manifest in snapshot.manifests(table.io)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False)
        }
        data = Path(urlparse(table.location()).path) / "data"
        if data.exists():
            orphans += sum(1 for p in data.rglob("*.parquet") if str(p) not in referenced)
    return orphans


def fresh(parent: Path, name: str) -> Lake:
    target = parent / name
    if target.exists():
        shutil.rmtree(target)
    return fresh_lake(parent, name)
