"""The legacy migration at scale: generate, migrate and cross-validate N years x F funds.

``make bench-history`` (or ``.venv/bin/python -m bench.history --years 7 --funds 20``):

1. generates the legacy database (``legacy_bench`` on the embedded or FIDC_PG_DSN server; `generate_legacy`);
2. migrates every month into a fresh local lake under ``bench/out/history/`` (`migrate_months`, one Iceberg
   commit per entity per month, as the Dagster asset does);
3. reconciles and validates with Great Expectations a year at a time (`recon_months`, as the asset check does
   for a 12-month run), writing ``recon.recon_legacy_vs_lake`` and Data Docs;
4. prints wall times and rows/s (legacy rows read per second) and saves them to
   ``bench/out/history-results.md``.

Nothing here asserts a timing: the numbers are for reading. The machine's cores may be shared: say so when
quoting them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
RESULTS_FILE = OUT_DIR / "history-results.md"
DATABASE = "legacy_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=7)
    parser.add_argument("--months", type=int, help="instead of --years")
    parser.add_argument("--funds", type=int, default=20)
    parser.add_argument("--receivables-per-fund", type=int, default=150)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--shadow-days", type=int, default=10)
    args = parser.parse_args(argv)

    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.legacy.ledger import clear_log
    from fidc_assets.lib.legacy.migration import legacy_months, migrate_months
    from fidc_assets.lib.legacy.recon import recon_months
    from fidc_assets.sample.legacy import LegacyParams, generate_legacy
    from fidc_assets.settings import Settings

    months_n = args.months if args.months is not None else 12 * args.years
    params = LegacyParams(args.seed, args.funds, months_n, args.shadow_days, args.receivables_per_fund)
    settings = Settings.from_env()
    dsn = settings.resolve_pg_dsn()
    lake_dir = OUT_DIR / "history"
    shutil.rmtree(lake_dir, ignore_errors=True)
    lake_dir.mkdir(parents=True)
    lake = Lake.local(lake_dir)

    t0 = time.perf_counter()
    report = generate_legacy(dsn, params, database=DATABASE)
    t_gen = time.perf_counter() - t0
    legacy_rows = sum(report.rows.values())
    print(f"generated {legacy_rows:,} legacy rows ({report.rows}) in {t_gen:.1f} s", flush=True)

    clear_log(dsn)
    months = legacy_months(report.dsn)
    t0 = time.perf_counter()
    outcomes = migrate_months(
        lake,
        report.dsn,
        dsn,
        months,
        on_month=lambda o: (
            print(f"  {o.month:%Y-%m}: {o.legacy_rows:,} rows", flush=True) if o.month.month == 12 else None
        ),
    )
    t_mig = time.perf_counter() - t0
    read = sum(o.legacy_rows for o in outcomes)
    landed = sum(o.rows for o in outcomes)
    print(f"migrated {len(outcomes)} months: {read:,} legacy rows read, {landed:,} landed in {t_mig:.1f} s", flush=True)

    t0 = time.perf_counter()
    fund_days = 0
    statuses: dict[str, int] = {}
    all_passed = True
    for i in range(0, len(months), 12):
        chunk = months[i : i + 12]
        rows, result = recon_months(lake, report.dsn, dsn, chunk, gx_root=settings.gx_root)
        fund_days += result.fund_days
        all_passed &= result.success
        for k, v in result.by_status.items():
            statuses[k] = statuses.get(k, 0) + v
        print(f"  recon {chunk[0]:%Y-%m}..{chunk[-1]:%Y-%m}: {result.by_status}", flush=True)
    t_val = time.perf_counter() - t0
    validated = report.rows["tb_carteira"] + report.rows["tb_cota"]

    lines = [
        f"# bench-history: {params.funds} funds x {months_n} months ({len(report.days)} business days), "
        f"{params.receivables_per_fund} receivables per fund",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}",
        "",
        "| step | rows | wall s | rows/s |",
        "|---|---:|---:|---:|",
        f"| generate legacy (simulation + COPY) | {legacy_rows:,} | {t_gen:.1f} | {legacy_rows / t_gen:,.0f} |",
        f"| migrate ({len(outcomes)} months, legacy rows read) | {read:,} | {t_mig:.1f} | {read / t_mig:,.0f} |",
        f"| cross-validate ({fund_days:,} fund-days; stock + quota rows) | {validated:,} | {t_val:.1f} | "
        f"{validated / t_val:,.0f} |",
        "",
        f"recon: {statuses}; GX {'passed' if all_passed else 'FAILED'}",
    ]
    OUT_DIR.mkdir(exist_ok=True)
    RESULTS_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if all_passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
