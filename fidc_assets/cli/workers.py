"""`fidc-lake worker` and `fidc-lake daemon`: the processes of a distributed deployment on the settings.

fidc-lake worker [--name N] [--concurrency 1]   a Celery worker executing the steps of runs (FIDC_EXECUTOR=celery)
fidc-lake worker --name N --ping [--timeout S]  whether the worker N of this host answers a Celery ping (the
                                                worker pod's probes): exit 0, or 1 and one line
fidc-lake daemon                                the Dagster daemon: sensors, schedules, the run queue, run
                                                monitoring and retries, launching runs

Both install the instance's dagster.yaml in DAGSTER_HOME first (dagster.postgres.yaml when
FIDC_DAGSTER_PG_URL is set), then replace themselves with Dagster's own process (`dagster-celery worker
start`, `dagster-daemon run` with its code server's heartbeat TTL set, `daemon_main`), so a signal sent to
them reaches it. The worker's Celery settings (broker,
backend, late acknowledgement, visibility timeout) are the ones the runs submit with
(`fidc_assets.lib.ops.celery`), written to DAGSTER_HOME/celery/worker.yaml.
"""

from __future__ import annotations

import argparse
import os
import socket
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
    config = celery_executor_config(celery.broker, celery.backend, celery.visibility_timeout_s)
    if args.ping:
        return _ping(config, args.name, args.timeout)
    home = ensure_dagster_home(settings)
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


def _ping(config: dict, name: str | None, timeout: int) -> int:
    """Ping the worker `name` of this host through the broker, with the workers' own Celery settings."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    from fidc_assets.lib.ops.celery import answered, worker_node_name

    if not name:
        raise CliError("fidc-lake worker --ping needs --name (the name the worker was started with)")
    node = worker_node_name(name, socket.gethostname())
    app = make_app(CeleryExecutor.for_cli(**config).app_args())
    try:
        replies = app.control.ping(destination=[node], timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - kombu/redis errors: the broker is down or refuses us
        raise CliError(f"worker {node}: broker unreachable ({type(exc).__name__}: {exc})", code=1) from None
    if not answered(replies, node):
        raise CliError(f"worker {node}: no answer to a ping within {timeout} s", code=1)
    print(f"worker {node}: ok")
    return 0


def cmd_daemon(_: argparse.Namespace) -> int:
    from fidc_assets.pipeline import ensure_dagster_home

    ensure_dagster_home(load_settings())  # exports DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS, read by daemon_main
    main = f"from {__name__} import daemon_main; daemon_main()"
    argv = [sys.executable, "-c", main, "run", "-w", str(REPO_DIR / "workspace.yaml")]
    os.chdir(REPO_DIR)
    os.execv(argv[0], argv)
    return 0  # not reached


def daemon_main() -> None:
    """`dagster-daemon`'s own command line, with the heartbeat TTL of the code server it starts taken from
    DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS (the same setting as `dagster dev`'s code server). Dagster
    hard-codes 20 s there (`dagster._daemon.controller.DAEMON_GRPC_SERVER_HEARTBEAT_TTL`, no variable): on 2
    busy cores the daemon's pings came late, the code server shut itself down, and the sensors and the marts
    automation failed with DagsterUserCodeUnreachableError for minutes (the prod day loop saw 15)."""
    import dagster._daemon.controller as controller
    from dagster._daemon.cli import main

    controller.DAEMON_GRPC_SERVER_HEARTBEAT_TTL = int(os.environ["DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS"])
    sys.argv[0] = "dagster-daemon"
    sys.exit(main())


def register(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("worker", help="a Celery worker executing run steps (FIDC_EXECUTOR=celery)")
    w.add_argument("--name", default=None, help="the worker's name (default: dagster-<random>@<host>)")
    w.add_argument("--concurrency", type=positive_int, default=1, help="steps at a time (default 1)")
    w.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    w.add_argument("--ping", action="store_true", help="only check that the worker --name of this host answers")
    w.add_argument("--timeout", type=positive_int, default=10, help="seconds --ping waits (default 10)")
    w.set_defaults(func=cmd_worker)
    d = sub.add_parser("daemon", help="the Dagster daemon (sensors, schedules, run queue, monitoring, retries)")
    d.set_defaults(func=cmd_daemon)
