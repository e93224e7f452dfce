"""What the parts of the ingestion benchmark share: where files go, the formats and their sample templates,
the sizes, and the `Input` record of one built input file."""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]
ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
INPUTS_DIR = OUT_DIR / "inputs"
TMP_DIR = OUT_DIR / "tmp"
RESULTS_FILE = OUT_DIR / "ingest-results.md"

KINDS = ("csv", "cnab", "xlsx", "json")
#: Data rows per input (CNAB: detail records; its 6-digit sequence allows 999,999 lines, header and trailer
#: included, so 999,997 details is the largest valid file).
DEFAULT_ROWS: dict[str, tuple[int, ...]] = {
    "csv": (1_000_000, 2_500_000, 5_000_000),
    "cnab": (999_997,),
    "xlsx": (100_000,),
    "json": (200_000,),
}
QUICK_FACTOR = 10
#: kind → (custodian, entity, format kind) of the sample file it is built from.
TEMPLATES: dict[str, tuple[str, str, str]] = {
    "csv": ("custodia_alfa", "receivable_positions", "delimited"),
    "cnab": ("custodia_epsilon", "acquisitions", "fixed_width"),
    "xlsx": ("custodia_gama", "receivable_positions", "xlsx"),
    "json": ("custodia_zeta", "acquisitions", "json"),
}
LABELS = {"csv": "delimited CSV", "cnab": "CNAB 444", "xlsx": "XLSX", "json": "JSON"}
#: The sample the templates come from: fund 0 gets alfa + epsilon, fund 1 gama + zeta; one business day.
SAMPLE_FUNDS, SAMPLE_DAYS, SAMPLE_RECEIVABLES = 2, 1, 2000
CSV_BLOCK_SIZE = 4 << 20  # baseline default (--csv-block-size); the engine uses its own readers.delimited.BLOCK_SIZE
CNAB_BATCH_LINES = 200_000  # the engine's readers.fixed_width.FIXED_WIDTH_BATCH_LINES
INGESTED_AT = dt.datetime(2024, 7, 2, 6, 0, tzinfo=dt.UTC)
MIB = 1 << 20
ID_MARK = "@@RECEIVABLE_ID@@"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Input:
    kind: str
    rows: int
    path: Path
    bytes: int
    sha256: str
    params: dict[str, Any]  # what the baseline needs to read the file (encoding, delimiter, layout, ...)
    template: str
