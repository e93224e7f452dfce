"""What a soak subprocess runs: one ingestion run through the library's own entry points, no Dagster.

    python -m bench.soak.worker LAKE_DIR INBOX_DIR [--only NAME ...]

Scans INBOX_DIR (`scan_inbox`: names matched against the shipped custodian specs), receives the matched files
(`receive_files`), lands every day they name (`land_slices`) and prints one JSON line: matched and unmatched
names, and every slice outcome. "ready" is printed once the imports are done, so a parent that kills the
process at a random moment kills it while it works, not while Python starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lake_dir", type=Path)
    parser.add_argument("inbox_dir", type=Path)
    parser.add_argument("--only", nargs="*", default=None, help="land only these file names of the inbox")
    args = parser.parse_args()

    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
    from fidc_assets.lib.ingest.specs import load_specs
    from fidc_assets.lib.lake.catalog import Lake

    lake = Lake.local(args.lake_dir)
    specs = load_specs(CUSTODIANS_DIR)
    print("ready", flush=True)
    matched, unmatched = scan_inbox(args.inbox_dir, specs)
    if args.only is not None:
        matched = [(f, m) for f, m in matched if f.name in args.only]
        unmatched = [f for f in unmatched if f.name in args.only]
    receive_files(lake, matched)
    days = sorted({m.reference_date for _, m in matched})
    report = land_slices(lake, specs, days) if days else None
    print(
        json.dumps({
            "matched": [f.name for f, _ in matched],
            "unmatched": [f.name for f in unmatched],
            "rows_accepted": report.rows_accepted if report is not None else 0,
            "rejected": {sha: err.reason_code for sha, err in (report.rejected_files if report else {}).items()},
        }),
        flush=True,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
