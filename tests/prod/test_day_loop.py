"""The whole day loop on the production-shaped profile, as a deployment runs it: custodian files arrive as
objects in the S3 inbox; the Dagster daemon's inbox sensor launches the ingestion runs (a date's new fund-days
batched into one run over their partition range), and the
marts automation the hot load, dbt marts and checks per date; every step of those runs executes on one of two
Celery workers (FIDC_EXECUTOR=celery, Redis); Dagster's runs, events and sensor state are in PostgreSQL
(`postgresql+psycopg2://`); the raw archive is on S3; Iceberg is on S3 through the case's catalog (the
SeaweedFS REST catalog, or a SQL catalog on PostgreSQL); the hot marts are in PostgreSQL. Nobody launches a
run: the test drops files and waits until the marts equal the generator's truth to the centavo.

One business day (2 funds, seed 42): it already takes every stage (inbox → lake → hot → marts → checks) on
every service; more days only repeat the ingestion runs (the multi-day paths are the embedded integration
tests' and tests/prod/test_faults.py's, four days cumulatively). The same sample as `fidc-lake demo --funds 2
--days 1`, so the embedded profile's wall time of the same day is that command's (docs/deploy.md has both).
The workers' probe command (`fidc-lake worker --ping`, deploy/k8s/components/celery) is run against them too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fidc_assets.defs.ingest.sensors import PARTITIONS_TAG
from fidc_assets.lib.core import canonical
from fidc_assets.sample.generator import SampleManifest
from tests.conftest import traversable_tmp_dir
from tests.prod.conftest import ARCHIVE_BUCKET, S3Profile, patched_environ
from tests.prod.distributed import (
    INGEST_JOB,
    WORKERS,
    DistributedProfile,
    PgServer,
    celery_workers_of,
    child_env,
    expected_marts,
    keep_logs,
    marts_now,
    runs_by_job,
    start_profile,
    upload_inbox,
    wait_for,
)
from tests.prod.services import RedisServer

pytestmark = pytest.mark.prod

SEED, FUNDS, DAYS = 42, 2, 1
LOOP_TIMEOUT_S = 1200.0


@pytest.fixture(scope="module")
def loop_sample(tmp_path_factory) -> SampleManifest:
    from fidc_assets.sample.generator import generate_sample

    return generate_sample(tmp_path_factory.mktemp("day-loop") / "sample", seed=SEED, funds=FUNDS, days=DAYS)


@pytest.fixture(scope="module", params=["rest", "sql"])
def distributed(
    request,
    s3_profile: S3Profile,
    redis_server: RedisServer,
    prod_pg: PgServer,
    dbt_manifest,
    loop_sample,
    tmp_path_factory,
) -> Iterator[DistributedProfile]:
    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.pipeline import adopt_fund_registry

    assert dbt_manifest.exists()
    home = traversable_tmp_dir(f"fidc-prod-loop-{request.param}-")
    adopt_fund_registry(loop_sample.out_dir / REGISTRY_FILE_NAME, home / "funds.yaml")
    try:
        yield from start_profile(f"loop-{request.param}", request.param, s3_profile, redis_server, prod_pg, home)
    finally:
        keep_logs(home, tmp_path_factory.mktemp(f"logs-loop-{request.param}"))
        shutil.rmtree(home, ignore_errors=True)


def test_the_day_loop_runs_on_the_daemon_and_two_celery_workers_and_reconciles_to_the_centavo(
    distributed: DistributedProfile, s3_profile: S3Profile, loop_sample: SampleManifest
) -> None:
    import dagster as dg
    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

    days = list(loop_sample.days)
    expected = expected_marts(loop_sample)
    assert len(expected) == FUNDS * DAYS
    dsn = distributed.env["FIDC_PG_DSN"]

    started = time.perf_counter()
    upload_inbox(distributed, s3_profile, loop_sample)
    with patched_environ(distributed.env), distributed.instance() as instance:

        def reconciled() -> bool:
            runs = instance.get_runs()
            failed = [
                r for r in runs if r.status == dg.DagsterRunStatus.FAILURE and "dagster/parent_run_id" not in r.tags
            ]
            assert not failed, f"runs failed: {[(r.job_name, r.run_id) for r in failed]}\n{distributed.logs()}"
            done = runs and all(r.is_finished for r in runs)
            return bool(done) and marts_now(dsn, days) == expected

        wait_for(reconciled, "marts equal to the truth", LOOP_TIMEOUT_S, distributed.logs)
        wall = time.perf_counter() - started
        by_job = runs_by_job(instance)

        # launched by the daemon: every fund-day by exactly one ingestion run of the inbox sensor (a date's
        # fund-days share a run over their partition range, `fidc/partitions` lists them), the marts by the automation
        ingest = by_job[INGEST_JOB]
        assert sorted(k for r in ingest for k in r.tags[PARTITIONS_TAG].split(",")) == sorted(
            f"{d}|{f.cnpj}" for d in days for f in loop_sample.funds
        )
        assert all(r.tags.get("dagster/sensor_name") == "inbox_sensor" for r in ingest)
        runs = [r for rs in by_job.values() for r in rs]
        marts = [r for r in runs if r.job_name != INGEST_JOB]
        assert marts and all(r.tags.get("dagster/sensor_name") == "marts_automation" for r in marts)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.job_name, r.status) for r in runs]

        # every step of every run executed on a Celery worker, and both workers took steps
        hosts = {}
        for run in runs:
            steps = {r.step_key for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
            by_step = celery_workers_of(instance, run.run_id)
            assert steps and steps <= set(by_step), (run.job_name, steps - set(by_step))
            hosts.update({f"{run.run_id}:{k}": v for k, v in by_step.items()})
        assert {h.split("@")[0] for h in hosts.values()} == set(WORKERS), hosts

        # the checks of the marts runs all passed
        evaluations = [
            e
            for run in marts
            for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
            if isinstance(e := r.dagster_event and r.dagster_event.event_specific_data, AssetCheckEvaluation)
        ]
        assert evaluations and all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]

    # the worker pods' probe: a live worker answers its ping, a name no worker has does not (one line, exit 1)
    if distributed.catalog == "rest":
        ping = [str(Path(sys.executable).parent / "fidc-lake"), "worker", "--ping", "--timeout", "5", "--name"]
        env = child_env(distributed.env)
        ok = subprocess.run([*ping, WORKERS[0]], env=env, capture_output=True, text=True, timeout=180)
        assert (ok.returncode, ok.stdout.strip().endswith(": ok")) == (0, True), ok.stdout + ok.stderr
        gone = subprocess.run([*ping, "nobody"], env=env, capture_output=True, text=True, timeout=180)
        assert gone.returncode == 1 and gone.stderr.strip().count("\n") == 0, gone.stderr
        assert "nobody@" in gone.stderr and "no answer" in gone.stderr

    # Dagster's storage is the case's PostgreSQL database: its runs, their events, the sensors' state
    with psycopg.connect(distributed.env["FIDC_DAGSTER_PG_URL"].replace("+psycopg2", "")) as conn:
        run_rows = conn.execute("select count(*) from runs").fetchone()
        event_rows = conn.execute("select count(*) from event_logs").fetchone()
        bodies = [str(r[0]) for r in conn.execute("select instigator_body from instigators")]
        ticks = conn.execute("select count(*) from job_ticks").fetchone()
    assert run_rows is not None and run_rows[0] == len(runs)
    assert event_rows is not None and event_rows[0] > 0
    for sensor in ("inbox_sensor", "marts_automation"):  # their state and ticks
        assert any(f'"{sensor}"' in body for body in bodies), sensor
    assert ticks is not None and ticks[0] > 0

    # the lake on S3 through the case's catalog; the raw archive on S3, byte for byte
    from fidc_assets.lib.lake.archive import read_archived
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.settings import Settings

    with patched_environ(distributed.env):
        settings = Settings.from_env()
        lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
        table = lake.table(canonical.RECEIVABLE_POSITIONS)
        assert table.metadata_location.startswith("s3://")
        catalog = {"rest": "RestCatalog", "sql": "SqlCatalog"}[distributed.catalog]
        assert type(lake.catalog).__name__ == catalog
        registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
        assert sorted(r["original_name"] for r in registry) == sorted(loop_sample.files)
        for r in registry:
            assert r["archive_uri"].startswith(f"s3://{ARCHIVE_BUCKET}/{distributed.case}/raw/")
            assert read_archived(r["archive_uri"]) == (loop_sample.inbox_dir / r["original_name"]).read_bytes()
        assert lake.read(canonical.RECEIVABLE_POSITIONS).num_rows == sum(n for n, _, _ in expected.values())

    print(
        f"\nday loop on the prod profile ({distributed.catalog} catalog): {len(loop_sample.files)} files, "
        f"{len(days)} days x {FUNDS} funds: {len(ingest)} ingest + {len(marts)} marts runs, "
        f"{len(hosts)} steps on {sorted({h.split('@')[0] for h in hosts.values()})}; "
        f"inbox -> marts reconciled in {wall:.1f} s"
    )
