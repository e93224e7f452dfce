"""Faults on the distributed profile (REST catalog; daemon, two Celery workers, Dagster storage in
PostgreSQL), one business day's deliveries (2 funds) per fault, injected while that day's ingestion runs
land (the steps that write S3, the Iceberg catalog and Dagster's events):

- `worker_killed`: the Celery worker executing a landing step is SIGKILLed with its whole process group (the
  machine it ran on is gone). The step's message was not acknowledged (late ack), so Redis gives it to the
  other worker after the visibility timeout; the dead worker is started again only after the day landed.
- `volume_stopped`: one of the two SeaweedFS volume servers is SIGKILLed; while it is down every object
  archived on an earlier day reads back byte for byte from its replica (replication 001); it is started
  again after `VOLUME_DOWN_S` (a write needs both replicas: a PUT waits, retried, until it is back).
- `s3_restarted`: the S3 gateway (which also serves the Iceberg REST catalog) is restarted.
- `postgres_restarted`: PostgreSQL (Dagster's runs and events, the hot marts) is restarted.

Nothing is done by hand afterwards: the product's settings recover (step RetryPolicy, Celery late ack and
visibility timeout, run monitoring and run_retries in dagster.postgres.yaml). Per fault: runs, run retries,
step retries, redelivered steps, rows lost and doubled in the lake over every day delivered so far. The marts
automation rebuilds each day in the background; the last test waits for it and counts the marts' rows of
every faulted day. The table is printed at the end of the module (docs/deploy.md has one).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.sample.generator import SampleManifest
from tests.conftest import traversable_tmp_dir
from tests.prod.conftest import S3Profile, patched_environ
from tests.prod.distributed import (
    INGEST_JOB,
    DistributedProfile,
    PgServer,
    celery_workers_of,
    expected_marts,
    keep_logs,
    marts_now,
    start_profile,
    upload_inbox,
    wait_for,
)
from tests.prod.services import RedisServer, SeaweedCluster

#: Opt-in (PROD_FAULTS=1), not in the default run: four scenarios of one day each through the daemon and the
#: Celery workers take 15-25 minutes here (the worker kill alone waits out the visibility timeout), on top of
#: the day loop. What it proves changes only with the recovery settings (lib/ops/celery.py, dagster*.yaml's
#: run monitoring and retries, the RetryPolicy of the landing assets) and the landing's idempotence: run it when
#: those change, and nightly / before a release (docs/deploy.md has its counts and command).
pytestmark = [
    pytest.mark.prod,
    pytest.mark.skipif(not os.environ.get("PROD_FAULTS"), reason="the fault runs: set PROD_FAULTS=1 (~20 min)"),
]

FAULTS = ["worker_killed", "volume_stopped", "s3_restarted", "postgres_restarted"]
SEED, FUNDS = 42, 2
SCENARIO_TIMEOUT_S = 1200.0
VOLUME_DOWN_S = 30.0
LANDING_STEPS = ("lake__receivable_positions", "lake__acquisitions", "lake__settlements", "lake__fund_quotas")
#: the longest landing step (the day's stock): the one the worker kill aims at
STOCK_STEP = "lake__receivable_positions"


@dataclass
class Counts:
    fault: str
    day: dt.date
    runs: int = 0
    run_retries: int = 0
    step_retries: int = 0
    redelivered: int = 0
    lake_lost: int = 0
    lake_doubled: int = 0
    marts_lost: int = 0
    marts_doubled: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"| {self.fault} | {self.day} | {self.runs} | {self.run_retries} | {self.step_retries} | "
            f"{self.redelivered} | {self.lake_lost + self.marts_lost} | {self.lake_doubled + self.marts_doubled} | "
            f"{self.seconds:.0f} |"
        )


HEADER = (
    "| fault | day | runs | run retries | step retries | redelivered steps | rows lost | rows doubled | s |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
TABLE: list[Counts] = []


@pytest.fixture(scope="module")
def fault_sample(tmp_path_factory) -> SampleManifest:
    from fidc_assets.sample.generator import generate_sample

    return generate_sample(tmp_path_factory.mktemp("faults") / "sample", seed=SEED, funds=FUNDS, days=len(FAULTS))


@pytest.fixture(scope="module")
def faulty(
    s3_profile: S3Profile, redis_server: RedisServer, prod_pg: PgServer, dbt_manifest, fault_sample, tmp_path_factory
) -> Iterator[DistributedProfile]:
    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.pipeline import adopt_fund_registry

    assert dbt_manifest.exists()
    home = traversable_tmp_dir("fidc-prod-faults-")
    adopt_fund_registry(fault_sample.out_dir / REGISTRY_FILE_NAME, home / "funds.yaml")
    try:
        yield from start_profile("faults", "rest", s3_profile, redis_server, prod_pg, home)
    finally:
        keep_logs(home, tmp_path_factory.mktemp("logs-faults"))
        shutil.rmtree(home, ignore_errors=True)
        if TABLE:
            print("\nfaults on the prod profile (REST catalog, 2 Celery workers, 1 day x 2 funds each):")
            print(HEADER)
            print("\n".join(c.row() for c in TABLE))
            for c in TABLE:
                for note in c.notes:
                    print(f"  {c.fault}: {note}")


def files_of_day(sample: SampleManifest, day: dt.date) -> list[str]:
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.specs import load_specs, match_file

    specs = load_specs(CUSTODIANS_DIR)
    out = []
    for name in sample.files:
        m = match_file(name, specs)
        assert m is not None, name
        if m.reference_date == day:
            out.append(name)
    return out


class Watch:
    """What the day's runs do, read from the Dagster instance (PostgreSQL) as they go."""

    def __init__(self, instance, before: set[str]) -> None:
        self.instance = instance
        self.before = before

    def runs(self) -> list:
        return [r for r in self.instance.get_runs() if r.run_id not in self.before]

    def executing(self, step_prefixes: tuple[str, ...], job: str | None = None) -> tuple[str, str, str] | None:
        """(run id, step key, worker name) of a step now executing on a Celery worker, if any."""
        import dagster as dg

        for run in self.runs():
            if run.is_finished or (job is not None and (run.job_name == INGEST_JOB) != (job == INGEST_JOB)):
                continue
            done = {
                r.step_key
                for r in self.instance.all_logs(
                    run.run_id, of_type={dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
                )
            }
            for step, worker in celery_workers_of(self.instance, run.run_id).items():
                if step.startswith(step_prefixes) and step not in done:
                    return run.run_id, step, worker.split("@")[0]
        return None

    def wait_executing(self, step_prefixes: tuple[str, ...], profile: DistributedProfile, job: str | None = None):
        deadline = time.monotonic() + SCENARIO_TIMEOUT_S
        while (found := self.executing(step_prefixes, job)) is None:
            assert time.monotonic() < deadline, f"no step {step_prefixes} seen executing\n{profile.logs()}"
            time.sleep(0.5)
        return found


def lake_counts(profile: DistributedProfile, days: list[dt.date]) -> dict[tuple[str, dt.date], int]:
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.lake.filters import is_in
    from fidc_assets.settings import Settings

    with patched_environ(profile.env):
        settings = Settings.from_env()
        lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
        rows = lake.read(canonical.RECEIVABLE_POSITIONS, is_in("reference_date", days), ("fund_cnpj", "reference_date"))
    out: dict[tuple[str, dt.date], int] = {}
    for f, d in zip(rows["fund_cnpj"].to_pylist(), rows["reference_date"].to_pylist(), strict=True):
        assert isinstance(d, dt.date)
        out[(str(f), d)] = out.get((str(f), d), 0) + 1
    return out


def lost_and_doubled(expected: dict, got: dict) -> tuple[int, int]:
    lost = sum(max(0, n - got.get(k, 0)) for k, n in expected.items())
    doubled = sum(max(0, got.get(k, 0) - expected.get(k, 0)) for k in got)
    return lost, doubled


def count_attempts(instance, runs: list) -> tuple[int, int]:
    """(step retries, redelivered steps): Dagster's step retries (STEP_UP_FOR_RETRY), and the executions of
    a step on a Celery worker beyond its Dagster attempts (a message given to a second worker)."""
    import dagster as dg

    retries = redelivered = 0
    for run in runs:
        up = [r.step_key for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)]
        retries += len(up)
        executions: dict[str, int] = {}
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            event = record.dagster_event
            if event is not None and (event.message or "").endswith("in celery worker"):
                executions[event.step_key or ""] = executions.get(event.step_key or "", 0) + 1
        redelivered += sum(max(0, n - 1 - up.count(step)) for step, n in executions.items())
    return retries, redelivered


def inject(
    fault: str, profile: DistributedProfile, watch: Watch, seaweed: SeaweedCluster, counts: Counts, archived: list
):
    """Inject `fault` once the day's runs reach the step it targets; returns a function healing it (or None)."""
    from fidc_assets.lib.lake.archive import read_archived

    if fault == "worker_killed":
        run_id, step, worker = watch.wait_executing((STOCK_STEP,), profile, job=INGEST_JOB)
        profile.workers[worker].kill()
        counts.notes.append(f"killed {worker} while it executed {step} of run {run_id[:8]}")
        return lambda: profile.start_worker(worker)
    if fault == "volume_stopped":
        _, step, _ = watch.wait_executing(LANDING_STEPS, profile, job=INGEST_JOB)
        seaweed.stop_volume(0)
        counts.notes.append(f"volume0 SIGKILLed while {step} landed; up again after {VOLUME_DOWN_S:.0f} s")
        with patched_environ(profile.env):
            for uri, data in archived:  # earlier days' raw files, from the replicas alone
                assert read_archived(uri) == data, uri
        counts.notes.append(f"{len(archived)} archived files read back byte for byte with volume0 down")
        time.sleep(VOLUME_DOWN_S)
        seaweed.start_volume(0)
        return None
    if fault == "s3_restarted":
        _, step, _ = watch.wait_executing(LANDING_STEPS, profile, job=INGEST_JOB)
        seaweed.restart_s3()
        counts.notes.append(f"S3 gateway (and Iceberg REST catalog) restarted while {step} landed")
        return None
    if fault == "postgres_restarted":
        _, step, _ = watch.wait_executing(LANDING_STEPS, profile, job=INGEST_JOB)
        started = time.monotonic()
        profile.pg.server.stop()  # pyright: ignore[reportAttributeAccessIssue]
        dsn = profile.pg.server.start()  # pyright: ignore[reportAttributeAccessIssue]
        assert dsn == profile.pg.dsn, "PostgreSQL came back on another port"
        counts.notes.append(f"PostgreSQL restarted ({time.monotonic() - started:.0f} s) while {step} landed")
        return None
    raise AssertionError(fault)


def archived_files(profile: DistributedProfile, sample: SampleManifest) -> list[tuple[str, bytes]]:
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.settings import Settings

    with patched_environ(profile.env):
        settings = Settings.from_env()
        lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
        registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    return [(r["archive_uri"], (sample.inbox_dir / r["original_name"]).read_bytes()) for r in registry]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_mid_run_loses_and_doubles_nothing(
    fault: str, faulty: DistributedProfile, s3_profile: S3Profile, seaweed: SeaweedCluster, fault_sample
) -> None:
    import dagster as dg

    index = FAULTS.index(fault)
    day = fault_sample.days[index]
    days = list(fault_sample.days[: index + 1])  # every day delivered so far must stay exact
    expected_lake = {k: v[0] for k, v in expected_marts(fault_sample).items() if k[1] in days}
    counts = Counts(fault, day)
    archived = archived_files(faulty, fault_sample) if fault == "volume_stopped" else []

    with patched_environ(faulty.env), faulty.instance() as instance:
        watch = Watch(instance, {r.run_id for r in instance.get_runs()})
        started = time.perf_counter()
        upload_inbox(faulty, s3_profile, fault_sample, files_of_day(fault_sample, day))
        heal: list[Callable[[], None] | None] = []
        errors: list[BaseException] = []

        def injector() -> None:
            try:
                heal.append(inject(fault, faulty, watch, seaweed, counts, archived))
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                errors.append(e)

        thread = threading.Thread(target=injector, daemon=True)
        thread.start()

        def landed() -> bool:
            assert not errors, errors
            runs = [r for r in watch.runs() if r.job_name == INGEST_JOB]
            if thread.is_alive() or not runs or not all(r.is_finished for r in runs):
                return False
            return lake_counts(faulty, days) == expected_lake

        try:
            wait_for(landed, f"day {day} landed after {fault}", SCENARIO_TIMEOUT_S, faulty.logs)
        finally:
            thread.join(60)
            for h in heal:
                if h is not None:
                    h()
        counts.seconds = time.perf_counter() - started
        runs = [r for r in watch.runs() if r.job_name == INGEST_JOB]
        counts.runs = len(runs)
        counts.run_retries = sum(1 for r in runs if "dagster/parent_run_id" in r.tags)
        counts.step_retries, counts.redelivered = count_attempts(instance, runs)
        # every partition's last run succeeded
        final = {}
        for r in reversed(runs):  # get_runs lists the newest first: the last run of a partition wins
            final[
                (r.job_name, r.tags.get("dagster/partition") or r.tags.get("dagster/asset_partition_range_start"))
            ] = r
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in final.values()), [
            (k, r.status) for k, r in final.items()
        ]

    counts.lake_lost, counts.lake_doubled = lost_and_doubled(expected_lake, lake_counts(faulty, days))
    TABLE.append(counts)
    print(f"\n{HEADER}\n{counts.row()}\n" + "\n".join(counts.notes))
    assert (counts.lake_lost, counts.lake_doubled) == (0, 0)
    if fault == "worker_killed":
        assert counts.redelivered >= 1, "the killed worker's step was not given to the other worker"


def test_after_the_faults_the_marts_of_every_day_equal_the_truth(faulty: DistributedProfile, fault_sample) -> None:
    """The marts automation, which ran beside the faults, rebuilt every day: to the centavo, nothing lost or
    doubled (the rows of `marts.mart_fund_daily` against the generator's)."""
    import dagster as dg

    days = list(fault_sample.days)
    expected = expected_marts(fault_sample)
    dsn = faulty.env["FIDC_PG_DSN"]
    with patched_environ(faulty.env), faulty.instance() as instance:

        def rebuilt() -> bool:
            runs = instance.get_runs()
            return all(r.is_finished for r in runs) and marts_now(dsn, days) == expected

        wait_for(rebuilt, "marts of every faulted day equal to the truth", SCENARIO_TIMEOUT_S, faulty.logs)
        marts = [r for r in instance.get_runs() if r.job_name != INGEST_JOB]
        failed = [r for r in marts if r.status == dg.DagsterRunStatus.FAILURE]
        retried = [r for r in marts if "dagster/parent_run_id" in r.tags]
    got = {k: v[0] for k, v in marts_now(dsn, days).items()}
    lost, doubled = lost_and_doubled({k: v[0] for k, v in expected.items()}, got)
    for c in TABLE:
        c.marts_lost = sum(max(0, n - got.get(k, 0)) for k, (n, _, _) in expected.items() if k[1] == c.day)
        c.marts_doubled = sum(max(0, got.get(k, 0) - n) for k, (n, _, _) in expected.items() if k[1] == c.day)
    print(
        f"\nmarts after the faults: {len(marts)} marts runs ({len(failed)} failed, {len(retried)} retries), "
        f"rows lost {lost}, doubled {doubled}"
    )
    assert (lost, doubled) == (0, 0)
