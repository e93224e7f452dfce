"""Peak RSS of a landing whose ZIP holds a member just under the spec's size limit (the soak's hostile case),
against the same landing of a ZIP of a small member, measured in the same run (ratio printed).

    .venv/bin/python -m bench.soak.zip_rss [--under-mib N]

Both are a custodia_gama stock ZIP of zeros (not a workbook: quarantined `unreadable` once extracted),
landed by bench.soak.worker (scan, receive, land) on an empty lake; peak RSS from the child's rusage."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.soak.common import land
from bench.soak.hostile import _zip_limit, _zip_of_zeros
from tests.integration.test_concurrent_landing import fresh_lake

GAMA_FUND = "33511658000117"
DAY = dt.date(2024, 7, 1)


def measure(root: Path, label: str, size: int) -> float:
    inbox = root / label / "inbox"
    inbox.mkdir(parents=True)
    _zip_of_zeros(inbox / f"ESTOQUE_GAMA_{GAMA_FUND}_{DAY:%Y%m%d}.zip", "estoque.xlsx", size)
    lake = fresh_lake(root / label, "lake")
    run = land(Path(lake.catalog_uri.removeprefix("sqlite:///")).parent, inbox)
    print(f"{label}: member {size >> 20} MiB, exit {run.returncode}, peak RSS {run.peak_rss_mb:.0f} MB, "
          f"outcome {json.dumps(run.output.get('rejected'))}", flush=True)  # fmt: skip
    return run.peak_rss_mb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--under-mib", type=int, default=1, help="how far under the limit the member is (MiB)")
    args = parser.parse_args()
    limit = _zip_limit()
    root = Path(tempfile.mkdtemp(prefix="fidc-zip-rss-"))
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"limit {limit:,} bytes ({limit >> 20} MiB); load: {uptime}", flush=True)
    try:
        small = measure(root, "baseline", 1 << 20)
        under = measure(root, "under-the-limit", limit - (args.under_mib << 20))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"under the limit / baseline: {under / small:.2f}x ({under:.0f} MB / {small:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
