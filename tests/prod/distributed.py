"""The distributed half of the production-shaped profile: the Dagster daemon and two Celery workers, started
with the product's own commands (`fidc-lake daemon`, `fidc-lake worker`) in an environment made of the
deployment's variables only (the S3 profile, FIDC_PG_DSN, FIDC_DAGSTER_PG_URL, FIDC_EXECUTOR=celery,
FIDC_CELERY_BROKER). Nothing here executes a step: the daemon launches the runs, the workers run their steps.

`DistributedProfile.catalog` names the Iceberg catalog of a case: `rest` (SeaweedFS's Iceberg REST catalog,
tables in an S3 table bucket) or `sql` (pyiceberg's SqlCatalog in a PostgreSQL database, tables in a plain S3
bucket). Each case has its own databases, buckets (or prefixes), Redis database and FIDC_HOME.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from fidc_assets.sample.generator import SampleManifest
from fidc_assets.settings import REPO_DIR
from tests.prod.conftest import ARCHIVE_BUCKET, INBOX_BUCKET, TABLE_BUCKET, S3Profile
from tests.prod.services import RedisServer, wait_until

WORKERS = ("w1", "w2")
#: a step of the small sample takes seconds; the test's visibility timeout (redelivery of a dead worker's step)
#: stays well above the longest one seen (docs/deploy.md) and keeps the kill fault's wait short
VISIBILITY_TIMEOUT_S = 120
CELERY_READY = re.compile(r"\] (\S+)@\S+ ready\.")
SQL_WAREHOUSE_BUCKET = "fidc-warehouse-sql"
INGEST_JOB = "ingest_files"


@dataclass
class PgServer:
    """The profile's PostgreSQL: the project's embedded server (its own, so a test may restart it)."""

    server: object  # EmbeddedPostgres
    dsn: str

    def database_url(self, database: str, driver: str = "postgresql") -> str:
        base = self.dsn.rsplit("/", 1)[0]
        return f"{base}/{database}".replace("postgresql://", f"{driver}://", 1)

    def create_database(self, database: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def profile_env(
    case: str, catalog: str, s3: S3Profile, redis: RedisServer, pg: PgServer, home: Path, redis_db: int
) -> dict[str, str]:
    """The deployment's variables for one case: a fresh FIDC_HOME, its own databases, table bucket (or
    warehouse prefix), inbox and archive prefixes and Redis database, so cases share no state."""
    db = case.replace("-", "_")
    env = {
        **s3.env,
        "FIDC_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FIDC_FUNDS": str(home / "funds.yaml"),
        "FIDC_INBOX": f"s3://{INBOX_BUCKET}/{case}/inbox",
        "FIDC_ARCHIVE": f"s3://{ARCHIVE_BUCKET}/{case}",
        "FIDC_PG_DSN": pg.database_url(f"fidc_{db}"),
        "FIDC_DAGSTER_PG_URL": pg.database_url(f"dagster_{db}", "postgresql+psycopg2"),
        "FIDC_EXECUTOR": "celery",
        "FIDC_CELERY_BROKER": redis.url.rsplit("/", 1)[0] + f"/{redis_db}",
        "FIDC_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
        # the inbox sensor's re-request is the last line of defence; the faults must be recovered before it
        "FIDC_SENSOR_REREQUEST_MINUTES": "30",
    }
    if catalog == "rest":
        env["FIDC_WAREHOUSE"] = f"s3://{TABLE_BUCKET}-{case}"
    else:
        env["FIDC_ICEBERG_CATALOG_URI"] = pg.database_url(f"iceberg_{db}", "postgresql+psycopg")
        env["FIDC_WAREHOUSE"] = f"s3://{SQL_WAREHOUSE_BUCKET}/{case}"
    return env


def child_env(profile: dict[str, str]) -> dict[str, str]:
    """This process's environment without any FIDC_/DAGSTER_/PYICEBERG_ variable, plus the profile's."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FIDC_", "DAGSTER_", "PYICEBERG_"))}
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return {**base, **profile}


@dataclass
class Group:
    """A process started in a session of its own (the command and whatever it spawns: celery's pool, the
    daemon's code server and run workers), stopped or killed as a whole."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, cwd=REPO_DIR, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the whole group: the machine the worker ran on is gone."""
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(10)

    def stop(self) -> None:
        from tests.processes import stop_process_group

        if self.popen is not None:
            stop_process_group(self.popen)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "<no log>"


@dataclass
class DistributedProfile:
    case: str
    catalog: str  # rest | sql
    env: dict[str, str]
    home: Path
    pg: PgServer
    workers: dict[str, Group] = field(default_factory=dict)
    daemon: Group | None = None

    def _fidc_lake(self, name: str, *args: str) -> Group:
        argv = [str(Path(sys.executable).parent / "fidc-lake"), *args]
        return Group(name, argv, child_env(self.env), self.home / f"{name}.log")

    def start_worker(self, name: str) -> None:
        log = self.home / f"{name}.log"
        seen = len(CELERY_READY.findall(log.read_text(errors="replace"))) if log.exists() else 0
        worker = self._fidc_lake(name, "worker", "--name", name, "--concurrency", "1")
        worker.start()
        self.workers[name] = worker

        def ready() -> bool:
            assert worker.popen is not None and worker.popen.poll() is None, f"worker {name} exited\n{worker.tail()}"
            return len(CELERY_READY.findall(log.read_text(errors="replace"))) > seen

        wait_until(ready, f"celery worker {name}", 120, log)

    def start(self) -> DistributedProfile:
        for name in WORKERS:
            self.start_worker(name)
        self.daemon = self._fidc_lake("daemon", "daemon")
        self.daemon.start()
        return self

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        for worker in self.workers.values():
            worker.stop()

    def logs(self) -> str:
        groups = [g for g in (self.daemon, *self.workers.values()) if g is not None]
        return "\n".join(f"--- {g.name} ---\n{g.tail(2000)}" for g in groups)

    def instance(self):
        """The Dagster instance of the case (PostgreSQL storage), as the daemon sees it."""
        import dagster as dg
        from dagster._core.instance.ref import InstanceRef

        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(self.env["DAGSTER_HOME"]))


_REDIS_DBS = iter(range(1, 16))  # one Redis database per case of the session (0 is the fixture's own test)


def start_profile(
    case: str, catalog: str, s3: S3Profile, redis: RedisServer, pg: PgServer, home: Path
) -> Iterator[DistributedProfile]:
    """Databases, buckets and the processes of one case; the processes are stopped afterwards."""
    import boto3

    db = case.replace("-", "_")
    for database in (f"fidc_{db}", f"dagster_{db}", f"iceberg_{db}"):
        pg.create_database(database)
    if catalog == "rest":
        boto3.client("s3tables", **s3.boto3_kwargs()).create_table_bucket(name=f"{TABLE_BUCKET}-{case}")
    else:
        s3client = boto3.client("s3", **s3.boto3_kwargs())
        if SQL_WAREHOUSE_BUCKET not in {b["Name"] for b in s3client.list_buckets().get("Buckets", [])}:
            s3client.create_bucket(Bucket=SQL_WAREHOUSE_BUCKET)
    home.mkdir(parents=True, exist_ok=True)
    env = profile_env(case, catalog, s3, redis, pg, home, next(_REDIS_DBS))
    profile = DistributedProfile(case, catalog, env, home, pg)
    try:
        yield profile.start()
    finally:
        profile.stop()


def wait_for(check, what: str, timeout: float, logs) -> None:
    """Poll `check` (True when done) every 2 s; on timeout fail with `what` and the processes' logs."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached after {timeout:.0f} s\n{logs()}"
        time.sleep(2.0)


def upload_inbox(
    profile: DistributedProfile, s3: S3Profile, sample: SampleManifest, names: list[str] | None = None
) -> None:
    """The custodians deliver: the sample's files (default all) as objects under the case's inbox prefix."""
    import boto3

    client = boto3.client("s3", **s3.boto3_kwargs())
    prefix = profile.env["FIDC_INBOX"].removeprefix(f"s3://{INBOX_BUCKET}/")
    for name in sample.files if names is None else names:
        client.upload_file(str(sample.inbox_dir / name), INBOX_BUCKET, f"{prefix}/{name}")


def expected_marts(sample: SampleManifest) -> dict:
    from fidc_assets.sample.truth import read_truth

    return {k: t.totals for k, t in read_truth(sample.truth_dir).items()}


def marts_now(dsn: str, days: list[dt.date]) -> dict:
    from fidc_assets.pipeline import mart_totals

    try:
        return mart_totals(dsn, days)
    except psycopg.errors.UndefinedTable:  # the first dbt run has not created the mart yet
        return {}


def runs_by_job(instance) -> dict[str, list]:
    out: dict[str, list] = {}
    for run in instance.get_runs():
        out.setdefault(run.job_name, []).append(run)
    return out


def celery_workers_of(instance, run_id: str) -> dict[str, str]:
    """step key → the Celery worker that executed it (the task's engine event), for every step of a run."""
    import dagster as dg

    workers = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        if event is None or not (event.message or "").endswith("in celery worker"):
            continue
        metadata = event.engine_event_data.metadata
        workers[event.step_key] = str(metadata["Celery worker"].value)
    return workers


def keep_logs(home: Path, dest: Path) -> None:
    """The processes' logs of a case, copied out of its FIDC_HOME before that is removed (pytest keeps its
    last temp directories: a failure's logs can be read afterwards)."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for log in home.glob("*.log"):
        shutil.copy(log, dest / log.name)
