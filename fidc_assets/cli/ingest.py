"""`fidc-lake ingest FILE`: parse one file with its custodian spec, show what it holds, land it unless --dry-run."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from fidc_assets.cli.common import CliError, custodians_dir, input_file, load_settings, positive_int

#: Rejected rows listed on the terminal; the rest are only counted (lake.quarantine keeps the first ones).
REJECTS_SHOWN = 20


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  " + "  ".join(str("" if r.get(c) is None else r.get(c)).ljust(widths[c]) for c in columns))


def cmd_ingest(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ingest.adapters import FileRejected, parse_bytes
    from fidc_assets.lib.ingest.specs import load_specs, match_file
    from fidc_assets.lib.lake.archive import sha256_file

    path = input_file(Path(args.file))
    specs = load_specs(custodians_dir())
    if args.custodian:
        if args.custodian not in specs:
            raise CliError(f"unknown custodian {args.custodian!r}; known: {', '.join(specs)}")
        specs = {args.custodian: specs[args.custodian]}
    match = match_file(path.name, specs)
    if match is None:
        raise CliError(f"{path.name}: matches no file pattern of {', '.join(specs)}")
    sha = sha256_file(path)
    print(
        f"{path.name}: {match.custodian.id} / {match.file_spec.entity} / fund {match.fund_cnpj} / "
        f"{match.reference_date} / sha256 {sha[:12]}…"
    )
    try:
        result = parse_bytes(path.read_bytes(), path.name, match, sha, dt.datetime.now(dt.UTC))
    except FileRejected as e:
        print(f"FILE REJECTED ({e.reason_code}): {e.message}")
        return 1
    print(f"{result.rows.num_rows} rows accepted, {result.rows_rejected} rejected; totals {result.control_totals}")
    preview = [c for c in result.rows.column_names if c not in ("source", "source_file_sha256", "ingested_at")]
    if result.rows.num_rows:
        print(f"first {min(args.limit, result.rows.num_rows)} canonical rows:")
        _print_table(result.rows.slice(0, args.limit).to_pylist(), preview[: args.columns])
    for r in result.rejected[:REJECTS_SHOWN]:
        print(f"  line {r.line_number}: {r.reason_code}: {r.message}")
    if result.rows_rejected > REJECTS_SHOWN:
        print(f"  … and {result.rows_rejected - REJECTS_SHOWN:,} more rejected rows not listed")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files
    from fidc_assets.lib.lake.catalog import Lake

    settings = load_settings()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    receive_files(lake, [(InboxFile(path, mtime), match)])
    report = land_slices(lake, specs, [match.reference_date], entities=[match.file_spec.entity])
    print(f"landed: {report.rows_accepted} rows, {report.rows_rejected} quarantined, {report.commits} commits")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ing = sub.add_parser("ingest", help="parse one file with its custodian spec; land it unless --dry-run")
    ing.add_argument("file")
    ing.add_argument("--custodian", help="only try this custodian's patterns")
    ing.add_argument("--dry-run", action="store_true", help="parse and show, write nothing")
    ing.add_argument("--limit", type=positive_int, default=5, help="canonical rows to preview (at least 1)")
    ing.add_argument("--columns", type=positive_int, default=8, help="canonical columns to preview (at least 1)")
    ing.set_defaults(func=cmd_ingest)
