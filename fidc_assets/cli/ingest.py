"""`fidc-lake ingest FILE`: land one file with its custodian spec and show what it holds (--dry-run: only parse).

Landing takes the sensor's path: the file is archived and registered before anything parses it, then its
slice is landed with one parse, from which the preview is printed."""

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


def _print_parse(result, args: argparse.Namespace) -> None:
    print(f"{result.accepted_count} rows accepted, {result.rows_rejected} rejected; totals {result.control_totals}")
    preview = [c for c in result.rows.column_names if c not in ("source", "source_file_sha256", "ingested_at")]
    if result.rows.num_rows:
        print(f"first {min(args.limit, result.rows.num_rows)} canonical rows:")
        _print_table(result.rows.slice(0, args.limit).to_pylist(), preview[: args.columns])
    elif result.accepted_count:
        print("(a big file, streamed into the lake: no preview; `fidc-lake ingest --dry-run` shows one)")
    for r in result.rejected[:REJECTS_SHOWN]:
        print(f"  line {r.line_number}: {r.reason_code}: {r.message}")
    if result.rows_rejected > REJECTS_SHOWN:
        more = result.rows_rejected - REJECTS_SHOWN
        print(f"  … and {more:,} more rejected rows not listed (`fidc-lake quarantine list` lists them)")


def cmd_ingest(args: argparse.Namespace) -> int:
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
    if not args.dry_run:
        return _ingest(path, match, specs, args)
    sha = sha256_file(path)
    _print_header(path, match, sha)
    from fidc_assets.lib.ingest.adapters import FileRejected, parse_bytes

    try:
        result = parse_bytes(path, path.name, match, sha, dt.datetime.now(dt.UTC))
    except FileRejected as e:
        print(f"FILE REJECTED ({e.reason_code}): {e.message}")
        return 1
    _print_parse(result, args)
    print("dry run: nothing written")
    return 0


def _print_header(path: Path, match, sha: str) -> None:
    print(
        f"{path.name}: {match.custodian.id} / {match.file_spec.entity} / fund {match.fund_cnpj} / "
        f"{match.reference_date} / sha256 {sha[:12]}…"
    )


def _ingest(path: Path, match, specs, args: argparse.Namespace) -> int:
    """Like the sensor path: archive and register the file first (so a rejected file is kept and listed in
    the quarantine), then land its slice, parsing it once; the preview comes from that parse. The file is
    read once before the parse: hashed while it is archived (its sha256 comes from `receive_files`)."""
    from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files
    from fidc_assets.lib.lake.catalog import Lake

    settings = load_settings()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    received = receive_files(lake, [(InboxFile(path, mtime), match)])
    sha = received.received[0].sha256 if received.received else received.already_known[0]
    _print_header(path, match, sha)
    print("archived and registered" if received.received else "already received: landing its slice again")
    day, fund = match.reference_date, match.fund_cnpj
    report = land_slices(
        lake, specs, [day], entities=[match.file_spec.entity], day_funds=[(day, fund)], keep_parses=True
    )
    if sha in report.rejected_files:
        err = report.rejected_files[sha]
        print(f"FILE REJECTED ({err.reason_code}): {err.message}")
        print("kept in the archive and listed by `fidc-lake quarantine list`; fix and `fidc-lake quarantine reprocess`")
        return 1
    landed = next((s for s in report.slices if s.custodian_id == match.custodian.id), None)
    if landed is not None and landed.sha256 not in (None, sha):
        print(f"not landed: {landed.file_name}, delivered later for the same slice, is the live version")
        return 0
    if sha in report.parses:
        _print_parse(report.parses[sha], args)
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
