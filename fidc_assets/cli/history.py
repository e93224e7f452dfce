"""`fidc-lake history ...`: the legacy migration from the command line (docs/legacy.md).

fidc-lake history migrate [--from YYYY-MM] [--to YYYY-MM] [--restart]   resumable: done months are skipped
fidc-lake history recon [--from YYYY-MM] [--to YYYY-MM] [--tolerance 0.01]
fidc-lake history as-of TIMESTAMP          what every lake table held then (time travel)
fidc-lake history log [--table receivable_positions]
fidc-lake history rollback YYYY-MM [--run RUN_ID]
fidc-lake history shadow [--from DAY] [--to DAY]   legacy vs custodian files where both exist (from the cutover)

`fidc-lake sample legacy` (the legacy database to migrate) is in `fidc_assets.cli.sample`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import TYPE_CHECKING

from fidc_assets.cli.common import decimal, iso_date, load_settings, moment, month, positive_int
from fidc_assets.lib.hot.dsn import redacted

if TYPE_CHECKING:
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.legacy.ledger import MonthOutcome
    from fidc_assets.lib.legacy.mapping import LegacySpec


def _context() -> tuple[Lake, str, str, LegacySpec]:
    """The lake, the hot DSN, the legacy source DSN and the legacy mapping every history command works on."""
    from fidc_assets.lib.hot.dsn import with_database
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.legacy.mapping import load_legacy_spec

    settings = load_settings()
    dsn = settings.resolve_pg_dsn()
    spec = load_legacy_spec(settings.config.legacy_mapping_file)
    source = settings.legacy.dsn or with_database(dsn, spec.database)
    return Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive), dsn, source, spec


def _months(args: argparse.Namespace, source: str, spec: LegacySpec) -> list[dt.date]:
    from fidc_assets.lib.core.months import parse_month
    from fidc_assets.lib.legacy.migration import legacy_months

    months = legacy_months(source, spec)
    if args.from_month:
        months = [m for m in months if m >= parse_month(args.from_month)]
    if args.to_month:
        months = [m for m in months if m <= parse_month(args.to_month)]
    return months


def _cmd_migrate(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.ledger import pending_months
    from fidc_assets.lib.legacy.migration import migrate_months

    lake, dsn, source, spec = _context()
    months = _months(args, source, spec)
    todo = months if args.restart else pending_months(dsn, months)
    print(f"{len(months)} months in the legacy selection, {len(todo)} to migrate", flush=True)
    started = time.perf_counter()

    def report(o: MonthOutcome) -> None:
        print(f"{o.month:%Y-%m}: {o.legacy_rows} legacy rows, {o.rows} landed, {o.rejected} quarantined", flush=True)

    outcomes = migrate_months(lake, source, dsn, todo, resume=False, spec=spec, on_month=report)
    elapsed = time.perf_counter() - started
    rows = sum(o.legacy_rows for o in outcomes)
    print(
        f"migrated {len(outcomes)} months, {rows} legacy rows in {elapsed:.1f} s "
        f"({rows / max(elapsed, 1e-9):,.0f} rows/s)"
    )
    return 0


def _cmd_recon(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.cutover import rule_from
    from fidc_assets.lib.legacy.recon import recon_months

    lake, dsn, source, spec = _context()
    months = _months(args, source, spec)
    settings = load_settings()
    rule = rule_from(spec.cutover_date, settings.legacy.cutover)
    rows, result = recon_months(lake, source, dsn, months, spec, args.tolerance, gx_root=settings.gx_root, rule=rule)
    print(
        f"{result.fund_days} fund-days over {len(months)} months: {result.by_status}; GX "
        f"{'passed' if result.success else 'FAILED'}\nrecon.recon_legacy_vs_lake in {redacted(dsn)}\n"
        f"Data Docs: {result.data_docs}"
    )
    for r in rows:
        if r["status"] != "match":
            print(f"  {r['fund_cnpj']} {r['reference_date']} {r['status']}: {r['reason']}")
    for f in result.failed_expectations:
        print(f"  failed: {f}")
    return 0 if result.success else 1


def _cmd_as_of(args: argparse.Namespace) -> int:
    from fidc_assets.lib.lake.history import as_of

    lake, *_ = _context()
    when: dt.datetime = args.timestamp
    print(f"the lake as of {when.isoformat()}")
    for state in as_of(lake, when):
        if state.snapshot_id is None:
            print(f"{state.table}: no snapshot yet")
            continue
        print(
            f"{state.table}: snapshot {state.snapshot_id} of {state.committed_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({state.operation}, run {state.run_id or '-'}), {state.rows} rows"
        )
        for (source, month_key), n in state.rows_by_source_month.items():
            print(f"    {source:15} {month_key}  {n:>10}")
    return 0


def _cmd_log(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.rollback import migration_log

    lake, *_ = _context()
    for row in migration_log(lake.table(args.table))[: args.limit]:
        print("  ".join(f"{row[k]}" for k in ("committed_at", "snapshot_id", "operation", "month", "run_id", "tags")))
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from fidc_assets.lib.core.months import parse_month
    from fidc_assets.lib.legacy.rollback import rollback_month

    lake, dsn, _, spec = _context()
    done = rollback_month(lake, parse_month(args.month), args.run, log_dsn=dsn, spec=spec)
    if not done:
        print(f"no migration of {args.month} to roll back", file=sys.stderr)
        return 1
    for r in done:
        print(
            f"{r.table}: run {r.run_id} undone, slice restored from snapshot {r.restored_from} "
            f"({r.rows_before} → {r.rows_after} rows)"
        )
    return 0


def _cmd_shadow(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.cutover import rule_from
    from fidc_assets.lib.legacy.shadow import shadow_report

    lake, _, _, spec = _context()
    rule = rule_from(spec.cutover_date, load_settings().legacy.cutover)
    report = shadow_report(lake, rule, args.from_day, args.to_day)
    print(f"cutover {rule.cutover}; {report.summary()} (legacy − custodian files)")
    for d in report.differing:
        print(f"  {d.describe()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    hist = sub.add_parser("history", help="legacy migration: migrate, recon, as-of, log, rollback, shadow")
    hs = hist.add_subparsers(dest="action", required=True)
    for name, func in (("migrate", _cmd_migrate), ("recon", _cmd_recon)):
        p = hs.add_parser(name)
        p.add_argument("--from", dest="from_month", type=month, help="first month, YYYY-MM")
        p.add_argument("--to", dest="to_month", type=month, help="last month, YYYY-MM")
        if name == "migrate":
            p.add_argument("--restart", action="store_true", help="migrate done months again too")
        else:
            p.add_argument("--tolerance", type=decimal, default="0.01", help="R$ per fund-day and measure")
        p.set_defaults(func=func)
    p = hs.add_parser("as-of", help="what the lake held at TIMESTAMP (ISO, UTC unless an offset is given)")
    p.add_argument("timestamp", type=moment)
    p.set_defaults(func=_cmd_as_of)
    p = hs.add_parser("log", help="a table's snapshots with their migration run, month and tags")
    p.add_argument("--table", default="receivable_positions")
    p.add_argument("--limit", type=positive_int, default=30)
    p.set_defaults(func=_cmd_log)
    p = hs.add_parser("rollback", help="undo the latest migration of a month (or of --run)")
    p.add_argument("month", type=month, help="YYYY-MM")
    p.add_argument("--run", help="the run id to undo (default: the month's latest)")
    p.set_defaults(func=_cmd_rollback)
    p = hs.add_parser("shadow", help="compare legacy and custodian rows where both exist (from the cutover)")
    p.add_argument("--from", dest="from_day", type=iso_date, help="first day, ISO (default: the cutover)")
    p.add_argument("--to", dest="to_day", type=iso_date, help="last day, ISO (default: the latest)")
    p.set_defaults(func=_cmd_shadow)
