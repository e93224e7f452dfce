"""`fidc-lake sample legacy` and `fidc-lake history ...`: the legacy migration from the command line.

fidc-lake sample legacy --funds F --years Y [--months M] [--shadow-days N] [--receivables-per-fund R]
fidc-lake history migrate [--from YYYY-MM] [--to YYYY-MM] [--restart]   resumable: done months are skipped
fidc-lake history recon [--from YYYY-MM] [--to YYYY-MM] [--tolerance 0.01]
fidc-lake history as-of TIMESTAMP          what every lake table held then (time travel)
fidc-lake history log [--table receivable_positions]
fidc-lake history rollback YYYY-MM [--run RUN_ID]
fidc-lake history shadow                   legacy vs custodian files where both exist (after the cutover)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal

from fidc_assets.lib.hot.dsn import redacted
from fidc_assets.settings import Settings


def _context():
    from fidc_assets.lib.hot.dsn import resolve_dsn, with_database
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.legacy.migration import default_spec

    settings = Settings.from_env()
    dsn = resolve_dsn(settings.pg_dsn, settings.pg_root)
    spec = default_spec()
    source = os.environ.get("FIDC_LEGACY_DSN") or with_database(dsn, spec.database)
    return Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive), dsn, source, spec


def cmd_sample_legacy(args: argparse.Namespace) -> int:
    from fidc_assets.lib.hot.dsn import resolve_dsn
    from fidc_assets.lib.legacy.migration import clear_log
    from fidc_assets.sample.legacy import LegacyParams, generate_legacy

    months = args.months if args.months is not None else 12 * args.years
    params = LegacyParams(args.seed, args.funds, months, args.shadow_days, args.receivables_per_fund)
    started = time.perf_counter()
    settings = Settings.from_env()
    dsn = resolve_dsn(settings.pg_dsn, settings.pg_root)
    report = generate_legacy(dsn, params)
    # a regenerated legacy is a new source: its migration starts over (the lake's legacy rows are rewritten)
    clear_log(dsn)
    elapsed = time.perf_counter() - started
    rows = ", ".join(f"{t} {n:,}" for t, n in report.rows.items())
    kinds = {k: sum(1 for d in report.defects if d.kind == k) for k in dict.fromkeys(d.kind for d in report.defects)}
    print(
        f"legacy database: {redacted(report.dsn)}\n{params.funds} funds, {len(report.days)} business days "
        f"({report.days[0]} .. {report.days[-1]}; cutover {params.cutover}, {params.shadow_days} shadow days)\n"
        f"rows: {rows}\nknown defects (table known_defects, fund-days): {kinds}\nwall time {elapsed:.1f} s"
    )
    return 0


def _months(args: argparse.Namespace, source: str, spec) -> list[dt.date]:
    from fidc_assets.lib.core.months import parse_month
    from fidc_assets.lib.legacy.migration import legacy_months

    months = legacy_months(source, spec)
    if args.from_month:
        months = [m for m in months if m >= parse_month(args.from_month)]
    if args.to_month:
        months = [m for m in months if m <= parse_month(args.to_month)]
    return months


def _cmd_migrate(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.migration import migrate_months, pending_months

    lake, dsn, source, spec = _context()
    months = _months(args, source, spec)
    todo = months if args.restart else pending_months(dsn, months)
    print(f"{len(months)} months in the legacy selection, {len(todo)} to migrate", flush=True)
    started = time.perf_counter()

    def report(o) -> None:
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
    from fidc_assets.lib.legacy.recon import recon_months

    lake, dsn, source, spec = _context()
    months = _months(args, source, spec)
    rows, result = recon_months(lake, source, dsn, months, spec, Decimal(args.tolerance))
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


def _parse_moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _cmd_as_of(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.history import as_of

    lake, *_ = _context()
    moment = _parse_moment(args.timestamp)
    print(f"the lake as of {moment.isoformat()}")
    for state in as_of(lake, moment):
        if state.snapshot_id is None:
            print(f"{state.table}: no snapshot yet")
            continue
        print(
            f"{state.table}: snapshot {state.snapshot_id} of {state.committed_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({state.operation}, run {state.run_id or '-'}), {state.rows} rows"
        )
        for (source, month), n in state.rows_by_source_month.items():
            print(f"    {source:15} {month}  {n:>10}")
    return 0


def _cmd_log(args: argparse.Namespace) -> int:
    from fidc_assets.lib.legacy.history import migration_log

    lake, *_ = _context()
    for row in migration_log(lake.table(args.table))[: args.limit]:
        print("  ".join(f"{row[k]}" for k in ("committed_at", "snapshot_id", "operation", "month", "run_id", "tags")))
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from fidc_assets.lib.core.months import parse_month
    from fidc_assets.lib.legacy.history import rollback_month

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
    from pyiceberg.expressions import GreaterThanOrEqual

    from fidc_assets.lib.core.canonical import RECEIVABLE_POSITIONS
    from fidc_assets.lib.legacy.cutover import rule_from, shadow_compare

    lake, _, _, spec = _context()
    rule = rule_from(spec.cutover_date, os.environ)
    rows = lake.read(
        RECEIVABLE_POSITIONS,
        GreaterThanOrEqual("reference_date", rule.cutover.isoformat()),
        ("fund_cnpj", "reference_date", "source", "nominal_value", "present_value"),
    )
    diffs = shadow_compare(rows, rule)
    print(f"cutover {rule.cutover}: {len(diffs)} fund-days in both sources, {sum(not d.equal for d in diffs)} differ")
    for d in diffs:
        if not d.equal:
            print(
                f"  {d.fund_cnpj} {d.reference_date} counted {d.counted}: rows {d.legacy_rows} vs {d.custodian_rows}, "
                f"nominal {d.legacy_nominal} vs {d.custodian_nominal}"
            )
    return 0


def add_sample_legacy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--years", type=int, default=7, help="legacy: years of history from 2019-01-02 (cutover after)")
    p.add_argument("--months", type=int, help="legacy: months of history instead of --years")
    p.add_argument("--shadow-days", type=int, default=10, help="legacy: business days it ran past the cutover")
    p.add_argument("--receivables-per-fund", type=int, default=150, help="legacy: target book size per fund")


def add_history_parser(sub) -> None:
    hist = sub.add_parser("history", help="legacy migration: migrate, recon, as-of, log, rollback, shadow")
    hs = hist.add_subparsers(dest="action", required=True)
    for name, func in (("migrate", _cmd_migrate), ("recon", _cmd_recon)):
        p = hs.add_parser(name)
        p.add_argument("--from", dest="from_month", help="first month, YYYY-MM")
        p.add_argument("--to", dest="to_month", help="last month, YYYY-MM")
        if name == "migrate":
            p.add_argument("--restart", action="store_true", help="migrate done months again too")
        else:
            p.add_argument("--tolerance", default="0.01", help="R$ per fund-day and measure")
        p.set_defaults(func=func)
    p = hs.add_parser("as-of", help="what the lake held at TIMESTAMP (ISO, UTC unless an offset is given)")
    p.add_argument("timestamp")
    p.set_defaults(func=_cmd_as_of)
    p = hs.add_parser("log", help="a table's snapshots with their migration run, month and tags")
    p.add_argument("--table", default="receivable_positions")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(func=_cmd_log)
    p = hs.add_parser("rollback", help="undo the latest migration of a month (or of --run)")
    p.add_argument("month", help="YYYY-MM")
    p.add_argument("--run", help="the run id to undo (default: the month's latest)")
    p.set_defaults(func=_cmd_rollback)
    hs.add_parser("shadow", help="compare legacy and custodian rows after the cutover").set_defaults(func=_cmd_shadow)
