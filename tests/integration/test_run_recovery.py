"""Nothing missed: through the running daemon, a run whose worker is killed (kill -9) before it starts its
steps, and one killed while it lands, both end with their files landed, no one touching anything.

`dagster dev` (webserver, daemon, code server) serves a private FIDC_HOME (its own inbox, catalog, warehouse
and fund registry; the session's PostgreSQL) and a DAGSTER_HOME holding the repository's dagster.yaml
unchanged. Two fund-days' files are dropped into the inbox; the inbox sensor requests one run per fund-day (its
bound on the fund-days per run set to 1: otherwise the two fund-days of one date share a run). The test finds
each run's worker by the "Started process for run (pid: N)" event the worker writes, and kills one as soon as it
exists (it is still loading the definitions: no step has started) and the other once the
files are archived and registered and the lake steps have begun. The code server reports a dead worker's run
as failed; `run_retries` in dagster.yaml launches the retry, which lands the files.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from fidc_assets.sample.generator import SampleManifest
from fidc_assets.settings import REPO_DIR, Settings
from tests.conftest import Lakehouse, traversable_tmp_dir
from tests.processes import stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOB = "ingest_files"
TIMEOUT_S = 420.0
#: The steps that parse and land (after lake/custodian_files archived and registered the files).
LANDING_STEPS = {"lake__receivable_positions", "lake__acquisitions", "lake__settlements", "lake__fund_quotas"}
STARTED_PROCESS = re.compile(r"Started process for run \(pid: (\d+)\)")


@dataclass
class Served:
    proc: subprocess.Popen
    log: Path
    home: Path  # FIDC_HOME of the served code location
    dagster_home: Path
    sample: SampleManifest  # the files to drop
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, chars: int = 5000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "<no log>"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(lakehouse: Lakehouse, dbt_manifest: Path) -> Iterator[Served]:
    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.pipeline import adopt_fund_registry
    from fidc_assets.sample.generator import generate_sample

    assert dbt_manifest.exists()
    home = traversable_tmp_dir("fidc-recovery-test-")
    sample = generate_sample(home / "sample", seed=5, funds=2, days=1, receivables_per_fund=300)
    adopt_fund_registry(sample.out_dir / REGISTRY_FILE_NAME, home / "funds.yaml")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO_DIR / "dagster.yaml", dagster_home / "dagster.yaml")  # production settings, unchanged
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIDC_", "DAGSTER_"))}
    env |= {"FIDC_HOME": str(home), "FIDC_PG_DSN": lakehouse.dsn, "DAGSTER_HOME": str(dagster_home)}
    env["FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN"] = "1"  # two runs (the fund-days of one date would share one) to kill
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    log = home / "dagster-dev.log"
    port = _free_port()
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "-w", str(REPO_DIR / "workspace.yaml")],
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:  # the webserver answers once the code location is loaded
            assert proc.poll() is None, f"dagster dev exited\n{log.read_text(errors='replace')[-4000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, f"dagster dev did not answer\n{log.read_text()[-4000:]}"
                time.sleep(1.0)
        yield Served(proc, log, home, dagster_home, sample, env)
    finally:
        stop_process_group(proc)
        shutil.rmtree(home, ignore_errors=True)


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        m = STARTED_PROCESS.search(rec.dagster_event.message or "" if rec.dagster_event else rec.user_message)
        if m:
            return int(m.group(1))
    return None


def _steps_started(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {r.step_key or "" for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_killed_runs_end_with_their_files_landed(served: Served) -> None:
    from fidc_assets.lib.core import canonical
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.lake.filters import is_in
    from fidc_assets.pipeline import deliver
    from fidc_assets.sample.truth import read_truth

    sample = served.sample
    funds = sorted(f.cnpj for f in sample.funds)
    assert len(funds) == 2
    early_fund, midway_fund = funds  # the first fund's worker dies before its steps, the second's while landing
    delivered = deliver([sample.inbox_dir / f for f in sample.files], served.home / "inbox")
    assert delivered

    killed: dict[str, str] = {}  # fund → the run id whose worker was killed
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(served.dagster_home))) as instance:
        deadline = time.monotonic() + TIMEOUT_S
        while len(killed) < 2:
            assert time.monotonic() < deadline, f"runs not seen/killed: {killed}\n{served.log_tail()}"
            for run in instance.get_runs(dg.RunsFilter(job_name=JOB)):
                fund = run.tags.get("dagster/partition", "|").split("|")[-1]
                if fund in killed or "dagster/parent_run_id" in run.tags:
                    continue
                assert not run.is_finished, f"run {run.run_id} of {fund} finished before it could be killed"
                pid = _worker_pid(instance, run.run_id)
                if pid is None:
                    continue
                steps = _steps_started(instance, run.run_id)
                if fund == early_fund:
                    assert not steps, f"the early run's steps started before its worker was seen: {steps}"
                    _kill(pid)
                    killed[fund] = run.run_id
                elif steps & LANDING_STEPS:
                    _kill(pid)
                    killed[fund] = run.run_id
            time.sleep(0.1)

        # now nobody touches anything: the killed runs fail, run_retries re-executes them, the files land
        settings = Settings.from_env(overrides={"FIDC_HOME": str(served.home)})
        lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
        truth = read_truth(sample.truth_dir)
        expected = {(f, d): t.row_count for (f, d), t in truth.items()}
        landed: dict[tuple[str, dt.date], int] = {}
        while True:
            runs = instance.get_runs(dg.RunsFilter(job_name=JOB))
            done = all(r.is_finished for r in runs)
            if done:  # read once nothing runs (reading would create a missing table)
                rows = lake.read(canonical.RECEIVABLE_POSITIONS, is_in("fund_cnpj", funds))
                landed = {}
                for f, d in zip(rows["fund_cnpj"].to_pylist(), rows["reference_date"].to_pylist(), strict=True):
                    assert isinstance(d, dt.date)
                    landed[(str(f), d)] = landed.get((str(f), d), 0) + 1
                if landed == expected:
                    break
            assert time.monotonic() < deadline, (
                f"landed {landed}, expected {expected}; runs "
                f"{[(r.run_id[:8], r.status.value, r.tags.get('dagster/parent_run_id', '')[:8]) for r in runs]}\n"
                f"{served.log_tail()}"
            )
            time.sleep(2.0)

        by_id = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(job_name=JOB))}
        for fund, run_id in killed.items():
            assert by_id[run_id].status == dg.DagsterRunStatus.FAILURE, (fund, by_id[run_id].status)
            retries = [r for r in by_id.values() if r.tags.get("dagster/parent_run_id") == run_id]
            assert [r.status for r in retries] == [dg.DagsterRunStatus.SUCCESS], (fund, retries)
        registry = lake.read(canonical.FILE_REGISTRY, is_in("fund_cnpj", funds)).to_pylist()
        assert sorted(r["original_name"] for r in registry if r["status"] == "accepted") == sorted(sample.files)
