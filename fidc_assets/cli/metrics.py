"""`fidc-lake metrics serve|show`: the lakehouse's Prometheus metrics (series listed in lib/ops/metrics.py).

fidc-lake metrics serve [--host 127.0.0.1] [--port 9464] [--refresh 30]   a small HTTP process: /metrics
fidc-lake metrics show                                                    one measurement, in the text format

`serve` measures once before it listens, then every `--refresh` seconds on a thread of its own; a scrape
reads the latest measurement. Failed Dagster runs are exported when the Dagster instance (DAGSTER_HOME, or
FIDC_HOME/dagster) has a dagster.yaml; otherwise that series is left out. SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from fidc_assets.cli.common import load_settings, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="Prometheus metrics: files, rows, freshness, lag, snapshots, orphans")
    m = p.add_subparsers(dest="metrics_command", required=True)
    s = m.add_parser("serve", help="serve /metrics over HTTP for Prometheus to scrape")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a pod)")
    s.add_argument("--port", type=positive_int, default=9464, help="port (default 9464)")
    s.add_argument("--refresh", type=positive_int, default=30, help="seconds between measurements (default 30)")
    s.add_argument("--no-orphans", action="store_true", help="skip the orphan listing (large buckets)")
    s.set_defaults(func=cmd_serve)
    show = m.add_parser("show", help="measure once and print the metrics")
    show.add_argument("--no-orphans", action="store_true", help="skip the orphan listing")
    show.set_defaults(func=cmd_show)


def _runs_failed(home: Path) -> int | None:
    if not (home / "dagster.yaml").exists():
        return None
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))


def _collector(with_orphans: bool):
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.ops.metrics import LakehouseCollector, measure

    settings = load_settings()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    dsn = settings.pg_dsn if settings.pg_dsn else settings.embedded_server().url()
    home = settings.dagster.home

    def once():
        return measure(lake, dsn, settings.hot_window_months, lambda: _runs_failed(home), with_orphans)

    return LakehouseCollector(once)


def _registry(collector):
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def cmd_show(args: argparse.Namespace) -> int:
    from prometheus_client import generate_latest

    collector = _collector(not args.no_orphans)
    collector.refresh()
    sys.stdout.write(generate_latest(_registry(collector)).decode())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    collector = _collector(not args.no_orphans)
    collector.refresh()
    server, thread = start_http_server(args.port, addr=args.host, registry=_registry(collector))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    refresher = threading.Thread(target=collector.refresh_forever, args=(args.refresh, stop), daemon=True)
    refresher.start()
    print(f"serving metrics on http://{args.host}:{args.port}/metrics (refresh every {args.refresh} s)", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
        thread.join(5)
    return 0
