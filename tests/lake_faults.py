"""Faults that leave orphan files in a lake, shared by the local (integration) and S3 (prod) maintenance tests:
a landing SIGKILLed mid-commit, and day-by-day landings that make small files."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to
from fidc_assets.lib.lake.maintenance import remove_orphan_files
from fidc_assets.sample.canonical_rows import canonical_rows

RP = canonical.RECEIVABLE_POSITIONS
FUNDS = ["11111111000111", "22222222000122"]
JULY = [dt.date(2024, 7, d) for d in (1, 2, 3, 4, 5)]

#: A landing that streams batches forever into one transaction (each batch writes a data file) and is killed.
KILLED_WRITER = textwrap.dedent("""
    import datetime as dt, sys, time
    from fidc_assets.lib.core import canonical
    from fidc_assets.lib.lake import datafiles
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.lake.filters import equal_to
    from fidc_assets.sample.canonical_rows import canonical_rows

    datafiles.MAX_FILE_BYTES = 1  # every batch rolls its data file: each chunk leaves a whole file on disk

    day = dt.date(2024, 7, 2)
    def batches():
        i = 0
        while True:
            yield canonical_rows(canonical.RECEIVABLE_POSITIONS, 400, [day], ["33333333000133"], seed=1000 + i)
            i += 1
            print(f"chunk {i}", flush=True)
            time.sleep(0.05)
    Lake(sys.argv[1], sys.argv[2]).replace_slice_streaming(
        canonical.RECEIVABLE_POSITIONS, batches(), equal_to("reference_date", day))
""")


def land_days(lake: Lake, days: list[dt.date], seed: int = 0) -> None:
    for i, day in enumerate(days):
        rows = canonical_rows(RP, 300, [day], FUNDS, seed=seed + i)
        lake.replace_slice(RP, rows, equal_to("reference_date", day))


def unreferenced(lake: Lake) -> int:
    """Unreferenced files of every table, whatever their age (a dry run with no margin)."""
    return sum(len(r.orphans) for r in remove_orphan_files(lake, dt.timedelta(0), dry_run=True))


def kill_a_landing_mid_commit(lake: Lake) -> None:
    """A real landing process (the product's streaming slice replacement) SIGKILLed after it wrote three data
    files and before its commit. The child inherits os.environ (the S3 profile's variables in tests/prod)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-c", KILLED_WRITER, lake.catalog_uri, lake.warehouse]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b"chunk 4"):  # three chunks appended (data files written), no commit yet
                break
        else:
            pytest.fail(f"the writer ended before it was killed (exit {proc.wait()})")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
