"""`fidc-lake quarantine list|reprocess`: what is quarantined, and landing it again after a spec or registry fix."""

from __future__ import annotations

import argparse
import re

from fidc_assets.cli.common import CliError, custodians_dir, iso_date, load_settings


def _lake():
    from fidc_assets.lib.lake.catalog import Lake

    settings = load_settings()
    return Lake(settings.iceberg_catalog_uri, settings.warehouse)


def cmd_list(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ingest.reprocess import list_quarantine

    entries = list_quarantine(_lake(), since=args.since, reason=args.reason)
    if not entries:
        print("nothing quarantined" + (f" since {args.since}" if args.since else ""))
        return 0
    for e in entries:
        s = e.delivery.slice
        what = "whole file" if e.whole_file else ", ".join(f"{n} × {code}" for code, n in e.reasons)
        print(
            f"{e.quarantined_at:%Y-%m-%d %H:%M} {e.delivery.sha256[:12]} {e.file_name} ({s.custodian_id}, {s.entity}, "
            f"fund {s.fund_cnpj}, {s.reference_date}; {e.status}): {what}: {e.message[:160]}"
        )
    print(f"{len(entries)} file(s); to land again after a fix: `fidc-lake quarantine reprocess --file SHA256`")
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ingest.reprocess import Selection, reprocess
    from fidc_assets.lib.ingest.specs import load_specs

    if (args.fund is None) != (args.date is None):
        raise CliError("--fund and --date go together (one fund-day)")
    if args.file is not None and not re.fullmatch(r"[0-9a-f]{64}", args.file):
        raise CliError(
            f"--file {args.file!r}: expected a sha256 (64 hex digits; `fidc-lake quarantine list` shows them)"
        )
    selection = Selection(sha256=args.file, fund_cnpj=args.fund, day=args.date, reason=args.reason)
    deliveries, report = reprocess(_lake(), load_specs(custodians_dir()), selection)
    if not deliveries:
        raise CliError("nothing matches that selection in the registry")
    print(f"{len(deliveries)} file(s) selected, {len(report.slices)} slice(s) landed again:")
    for s in report.slices:
        landed = (
            f"{s.file_name}: {s.rows_accepted} rows landed, {s.rows_rejected} quarantined"
            if s.file_name
            else "no usable file"
        )
        print(f"  {s.custodian_id} / {s.entity} / fund {s.fund_cnpj} / {s.reference_date}: {landed}")
    for sha, err in report.rejected_files.items():
        print(f"  still rejected: {sha[:12]} ({err.reason_code}): {err.message[:160]}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quarantine", help="list quarantined files and rows; reprocess them after a fix")
    qs = q.add_subparsers(dest="quarantine_command", required=True)
    ls = qs.add_parser("list", help="deliveries with quarantined rows or rejected whole, newest first")
    ls.add_argument("--since", type=iso_date, help="quarantined on or after this day (YYYY-MM-DD)")
    ls.add_argument("--reason", help="only deliveries with rows of this reason code (e.g. unknown_code)")
    ls.set_defaults(func=cmd_list)
    rp = qs.add_parser("reprocess", help="re-parse archived files with the current specs and replace their slices")
    group = rp.add_mutually_exclusive_group(required=True)
    group.add_argument("--file", metavar="SHA256", help="one file's bytes (every slice it was delivered for)")
    group.add_argument("--fund", help="a fund CNPJ (with --date): every file of that fund-day")
    group.add_argument("--reason", help="every current file with quarantined rows of this reason code")
    rp.add_argument("--date", type=iso_date, help="the business day, with --fund")
    rp.set_defaults(func=cmd_reprocess)
