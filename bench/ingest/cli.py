"""`python -m bench.ingest`: the options, and the run (inputs, measurements, report); `--one` is the child."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bench.ingest as package
from bench.ingest.common import (
    CSV_BLOCK_SIZE,
    DEFAULT_ROWS,
    KINDS,
    LABELS,
    MIB,
    OUT_DIR,
    QUICK_FACTOR,
    RESULTS_FILE,
    ROOT,
    Input,
    log,
)
from bench.ingest.inputs import Inputs
from bench.ingest.report import code_revision, engine_block_size, render
from bench.ingest.runners import Measurement, measure, run_one


def _size(text: str) -> int:
    """Bytes: 4194304, 4M (MiB) or 512K (KiB)."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = {"K": 1 << 10, "M": MIB}.get(text[-1:], 1)
    return int(text.rstrip("KM")) * factor


def _rows_list(text: str) -> tuple[int, ...]:
    return tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    description = (package.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=description)
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_FACTOR}x smaller than the defaults")
    parser.add_argument("--formats", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)}")
    for kind in KINDS:
        parser.add_argument(
            f"--{kind}-rows",
            type=_rows_list,
            default=None,
            help=f"comma list of data row counts (default {','.join(str(r) for r in DEFAULT_ROWS[kind])})",
        )
    parser.add_argument("--runs", type=int, default=2, help="runs per measurement; the fastest is kept (default 2)")
    parser.add_argument("--no-threaded", action="store_true", help="skip the threaded CSV baseline")
    parser.add_argument(
        "--csv-block-size", type=_size, default=CSV_BLOCK_SIZE, help="the CSV baseline's block_size (default 4M)"
    )
    parser.add_argument("--seed", type=int, default=42, help="sample seed (default 42)")
    parser.add_argument(
        "--bad-row-rate", type=float, default=0.0, help="corrupted rows in the sample (default 0: clean files)"
    )
    # child mode
    parser.add_argument("--one", choices=("engine", "baseline", "baseline-mt"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sha256", default="0" * 64, help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        result = run_one(args.one, args.kind, args.input, args.output, args.sha256, json.loads(args.params))
        print(json.dumps(result))
        return 0
    started = time.perf_counter()
    code_at_start = code_revision()
    args.engine_block_size = engine_block_size()
    kinds = [k.strip() for k in args.formats.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise SystemExit(f"unknown formats {unknown}; known: {', '.join(KINDS)}")
    notes: list[str] = []
    inputs = Inputs(args.seed, args.bad_row_rate, notes)
    results: list[tuple[Input, dict[str, Measurement]]] = []
    for kind in kinds:
        sizes = getattr(args, f"{kind}_rows") or tuple(
            max(1, r // QUICK_FACTOR) if args.quick else r for r in DEFAULT_ROWS[kind]
        )
        for rows in sizes:
            inp = inputs.get(kind, rows)
            if inp is None:
                break
            if kind == "csv":
                inp.params["block_size"] = args.csv_block_size
            sides = ["engine", "baseline"] + (["baseline-mt"] if kind == "csv" and not args.no_threaded else [])
            log(f"measuring {LABELS[kind]} {rows:,} rows ({inp.bytes / MIB:,.1f} MiB)")
            before = code_revision()[1]
            results.append((inp, measure(inp, sides, args.runs)))
            if code_revision()[1] != before:
                notes.append(f"{LABELS[kind]} {rows:,}: fidc_assets/ changed while it was being measured.")
    report = render(results, args, notes, time.perf_counter() - started, (code_at_start, code_revision()))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(report, encoding="utf-8")
    print(report)
    log(f"saved {RESULTS_FILE.relative_to(ROOT)}")
    return 0
