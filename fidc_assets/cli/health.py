"""`fidc-lake health [--json] [--timeout S]`: is every service the lakehouse needs up, and are deliveries fresh.

Checks, in order: PostgreSQL (a connection; the embedded server is never started by a probe), the Iceberg
catalog (its tables listed), the storage (a small object written, read back and deleted under FIDC_ARCHIVE),
the inbox (listed), the dbt manifest (present and made from the current project), and the freshness of the
expected deliveries of the latest business day (the fund registry's `expected`).

Exit 0 when every critical check passes (late or missing deliveries are a warning, not a failure, unless
`--strict`), 1 otherwise with the first problem as one line on stderr; `--json` prints the whole report as
one JSON document on stdout (for a probe or a monitor) in either case.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from fidc_assets.cli.common import load_settings

#: Exit status when a critical check is down (or, with --strict, any check is not ok).
UNHEALTHY = 1


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("health", help="PostgreSQL, catalog, storage, inbox, dbt manifest, delivery freshness")
    p.add_argument("--json", action="store_true", help="print the report as JSON (for probes and monitors)")
    p.add_argument("--timeout", type=positive_seconds, default=20.0, help="seconds per check (default 20)")
    p.add_argument("--strict", action="store_true", help="late or missing deliveries fail too (exit 1)")
    p.set_defaults(func=cmd_health)


def cmd_health(args: argparse.Namespace, now: dt.datetime | None = None) -> int:
    from pathlib import Path

    from fidc_assets.defs.dbt.project import dbt_project
    from fidc_assets.lib.core.funds import load_fund_registry
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.ops import health as h

    settings = load_settings()
    now = now or dt.datetime.now(dt.UTC)
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    dsn = settings.pg_dsn if settings.pg_dsn else settings.embedded_server().url()

    def deliveries() -> str:
        registry = load_fund_registry(settings.funds_file) if Path(settings.funds_file).exists() else None
        if registry is None:
            return f"no fund registry at {settings.funds_file}: no delivery is expected"
        return h.check_deliveries(lake, registry, now)

    checks = [
        h.Check("postgresql", lambda: h.check_postgres(dsn)),
        h.Check("catalog", lambda: h.check_catalog(lake)),
        h.Check("storage", lambda: h.check_storage(lake.archive_root)),
        h.Check("inbox", lambda: h.check_inbox(settings.inbox)),
        h.Check("dbt_manifest", lambda: h.check_manifest(lambda: dbt_project() and None, "dbt manifest")),
        h.Check("deliveries", deliveries, critical=False),
    ]
    report = h.run_checks(checks, timeout=args.timeout)
    healthy = report.ok and (not args.strict or report.reason is None)
    if args.json:
        print(json.dumps({**report.as_dict(), "ok": healthy}, indent=2))
    else:
        width = max(len(r.name) for r in report.results)
        for r in report.results:
            print(f"{r.name.ljust(width)}  {str(r.status).ljust(4)}  {r.detail}  ({r.seconds:.2f} s)")
    code = 0
    if not healthy:
        print(f"fidc-lake health: {report.reason}", file=sys.stderr)
        code = UNHEALTHY
    if report.timed_out:
        # a check still blocked in a client (pyarrow's S3 client waits for its requests at interpreter exit):
        # a probe must end now, with its answer
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
