"""`fidc-lake sample` (custodian files with their ground truth), `fidc-lake sample legacy` (a legacy
PostgreSQL database to migrate, docs/legacy.md) and `fidc-lake sample shadow` (the legacy's shadow period for
the files' own funds and days). The only commands, with `demo`, that import `sample/`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fidc_assets.cli.common import CliError, iso_date, load_settings, non_negative_int, positive_int

if TYPE_CHECKING:
    from fidc_assets.sample.generator import SampleManifest


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    """The sample's options, shared by `sample` and `demo` (the demo generates the same sample)."""
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--funds", type=positive_int, default=4, help="funds; fund i goes to the i-th custodian in turn")
    p.add_argument("--custodians", help="comma-separated custodian ids to render (default: all shipped)")
    p.add_argument("--days", type=positive_int, default=22, help="business days")
    p.add_argument("--start", type=iso_date, default="2024-07-01", help="first day (ISO); moved to a business day")


def generate(args: argparse.Namespace, out: Path) -> SampleManifest:
    """The sample the `sample` and `demo` commands share (same options)."""
    from fidc_assets.sample.custodians import resolve_custodians
    from fidc_assets.sample.generator import generate_sample

    custodians = args.custodians.split(",") if args.custodians else None
    try:
        resolve_custodians(custodians)
    except ValueError as e:  # the generator's message names the unknown ids and the known ones
        raise CliError(f"--custodians: {e}") from e
    return generate_sample(
        out, seed=args.seed, funds=args.funds, days=args.days, start=args.start, custodians=custodians
    )


def cmd_sample(args: argparse.Namespace) -> int:
    if args.mode == "legacy":
        return cmd_sample_legacy(args)
    if args.mode == "shadow":
        return cmd_sample_shadow(args)
    if not args.out:
        raise CliError("sample needs --out DIR (the directory that gets inbox/ and truth/)")

    manifest = generate(args, Path(args.out))
    print(
        f"{len(manifest.files)} files, {manifest.row_count} valid rows, {manifest.corrupted_count} corrupted rows "
        f"for {len(manifest.funds)} funds over {len(manifest.days)} business days "
        f"({manifest.days[0]} to {manifest.days[-1]})\ninbox: {manifest.inbox_dir}\ntruth: {manifest.truth_dir}"
    )
    return 0


def cmd_sample_legacy(args: argparse.Namespace) -> int:
    from fidc_assets.lib.hot.dsn import redacted
    from fidc_assets.lib.legacy.ledger import clear_log
    from fidc_assets.sample.legacy import LegacyParams, generate_legacy

    months = args.months if args.months is not None else 12 * args.years
    params = LegacyParams(args.seed, args.funds, months, args.shadow_days, args.receivables_per_fund)
    started = time.perf_counter()
    settings = load_settings()
    dsn = settings.resolve_pg_dsn()
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


def cmd_sample_shadow(args: argparse.Namespace) -> int:
    """The legacy's shadow period for the sample the same options generate (docs/legacy.md)."""
    from fidc_assets.lib.hot.dsn import redacted
    from fidc_assets.lib.legacy.ledger import clear_log
    from fidc_assets.sample.custodians import resolve_custodians
    from fidc_assets.sample.legacy_shadow import ShadowParams, generate_shadow_legacy

    custodians = tuple(args.custodians.split(",")) if args.custodians else None
    try:
        resolve_custodians(custodians)
    except ValueError as e:
        raise CliError(f"--custodians: {e}") from e
    if not 1 <= args.shadow_days <= args.days:
        raise CliError(f"--shadow-days must be between 1 and --days ({args.days}), got {args.shadow_days}")
    params = ShadowParams(
        args.seed, args.funds, args.days, args.start, custodians=custodians, shadow_days=args.shadow_days
    )
    settings = load_settings()
    dsn = settings.resolve_pg_dsn()
    report = generate_shadow_legacy(dsn, params)
    clear_log(dsn)  # a regenerated legacy is a new source: its migration starts over
    rows = ", ".join(f"{t} {n:,}" for t, n in report.rows.items())
    print(
        f"legacy database: {redacted(report.dsn)}\nshadow period of the sample: {len(report.days)} business days "
        f"({report.days[0]} .. {report.days[-1]}) for its {args.funds} funds; cutover {report.cutover} "
        f"(export FIDC_LEGACY_CUTOVER={report.cutover})\nrows: {rows}\n"
        f"seeded differences (table shadow_differences, legacy − custodian files): {len(report.differences)}"
    )
    for d in report.differences:
        print(f"  {d.fund_cnpj} {d.reference_date} {d.kind}: {d.detail}")
    return 0


def add_sample_legacy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--years", type=positive_int, default=7, help="legacy: years of history from 2019-01-02 (cutover after)"
    )
    p.add_argument("--months", type=positive_int, help="legacy: months of history instead of --years")
    p.add_argument(
        "--shadow-days", type=non_negative_int, default=10, help="legacy: business days it ran past the cutover"
    )
    p.add_argument("--receivables-per-fund", type=positive_int, default=150, help="legacy: target book size per fund")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate deterministic custodian files and their ground truth")
    add_sample_arguments(p)
    mode_help = (
        "files (default); legacy: a PostgreSQL database `legacy` with years of history; shadow: the database "
        "`legacy` holding the shadow period (the last --shadow-days days) of the sample these options generate "
        "(see docs/legacy.md)"
    )
    p.add_argument("mode", nargs="?", choices=["files", "legacy", "shadow"], default="files", help=mode_help)
    p.add_argument("--out", help="output directory (gets inbox/ and truth/); required for files")
    add_sample_legacy_arguments(p)
    p.set_defaults(func=cmd_sample)
