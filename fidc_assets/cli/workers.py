"""`fidc-lake worker` and `fidc-lake daemon`: the processes of a distributed deployment on the settings.

fidc-lake worker [--name N] [--concurrency 1]   a Celery worker executing the steps of runs (FIDC_EXECUTOR=celery)
fidc-lake daemon                                the Dagster daemon: sensors, schedules, the run queue, run
                                                monitoring and retries, launching runs

Both install the instance's dagster.yaml in DAGSTER_HOME first (dagster.postgres.yaml when
FIDC_DAGSTER_PG_URL is set), then replace themselves with Dagster's own process (`dagster-celery worker
start`, `dagster-daemon run`), so a signal sent to them reaches it. The worker's Celery settings (broker,
backend, late acknowledgement, visibility timeout) are the ones the runs submit with
(`fidc_assets.lib.ops.celery`), written to DAGSTER_HOME/celery/worker.yaml.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from fidc_assets.cli.common import CliError, load_settings, positive_int
from fidc_assets.settings import REPO_DIR


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def cmd_worker(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ops.celery import CELERY_APP, celery_executor_config
    from fidc_assets.pipeline import ensure_dagster_home

    settings = load_settings()
    celery = settings.dagster.celery
    if celery is None:
        raise CliError("fidc-lake worker needs FIDC_CELERY_BROKER (the broker the runs submit steps to)")
    home = ensure_dagster_home(settings)
    config = celery_executor_config(celery.broker, celery.backend, celery.visibility_timeout_s)
    path = home / "celery" / "worker.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"execution": {"config": config}}))
    path.chmod(0o600)  # the broker URL may hold a password
    argv = [_bin("dagster-celery"), "worker", "start", "-A", CELERY_APP, "-y", str(path), "-l", args.loglevel]
    if args.name:
        argv += ["-n", args.name]
    argv += ["--", f"--concurrency={args.concurrency}"]
    os.chdir(REPO_DIR)  # the code location is loaded by module name, as the workspace does
    os.execv(argv[0], argv)
    return 0  # not reached


def cmd_daemon(_: argparse.Namespace) -> int:
    from fidc_assets.pipeline import ensure_dagster_home

    ensure_dagster_home(load_settings())
    argv = [_bin("dagster-daemon"), "run", "-w", str(REPO_DIR / "workspace.yaml")]
    os.chdir(REPO_DIR)
    os.execv(argv[0], argv)
    return 0  # not reached


def register(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("worker", help="a Celery worker executing run steps (FIDC_EXECUTOR=celery)")
    w.add_argument("--name", default=None, help="the worker's name (default: dagster-<random>@<host>)")
    w.add_argument("--concurrency", type=positive_int, default=1, help="steps at a time (default 1)")
    w.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    w.set_defaults(func=cmd_worker)
    d = sub.add_parser("daemon", help="the Dagster daemon (sensors, schedules, run queue, monitoring, retries)")
    d.set_defaults(func=cmd_daemon)
