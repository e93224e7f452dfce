"""The report: the measured code revision, the machine, and the Markdown tables of rates, ratios and memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import math
import os
import platform
import shlex
import subprocess
import sys

from bench.ingest.common import (
    LABELS,
    MIB,
    ROOT,
    Input,
)
from bench.ingest.runners import Measurement


def code_revision() -> tuple[str, str]:
    """(HEAD and whether fidc_assets/ has uncommitted changes, a hash of the content of fidc_assets/*.py): others
    may edit or commit the engine during a run; only a content change means the measured code changed."""
    content = hashlib.sha256()
    for path in sorted((ROOT / "fidc_assets").rglob("*.py")):
        content.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    fingerprint = content.hexdigest()[:12]
    try:

        def git(*cmd: str) -> str:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout

        revision = git("rev-parse", "--short", "HEAD").strip() or "?"
        changed = git("status", "--porcelain", "--", "fidc_assets").splitlines()
    except OSError:
        revision, changed = "?", []
    if changed:
        revision += f" + uncommitted changes in {len(changed)} file(s) under fidc_assets/"
    return f"git {revision}; fidc_assets/*.py content {fingerprint}", fingerprint


def machine_info() -> list[str]:
    import pyarrow

    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor() or "?",
    )
    mem = next((line.split()[1] for line in _read_lines("/proc/meminfo") if line.startswith("MemTotal")), None)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = []
    for dist in ("python-calamine", "xlsxwriter"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return [
        f"- machine: {platform.system()} {platform.release()} {platform.machine()}, {cpu}",
        f"- nproc: {usable} (os.cpu_count {os.cpu_count()}), memory: " + (f"{int(mem) / MIB:,.1f} GiB" if mem else "?"),
        "- load average (1/5/15 min) at the end: " + " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        f"- python {platform.python_version()} ({sys.executable}), pyarrow {pyarrow.__version__}, "
        + ", ".join(versions),
    ]


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.readlines()
    except OSError:
        return []


def _rate(rows: int, m: Measurement) -> float:
    return rows / m.best["seconds"] if m.ok and m.best["seconds"] > 0 else math.nan


def _fmt_rate(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _fmt_runs(m: Measurement) -> str:
    return " / ".join("err" if "error" in r else f"{r['seconds']:.2f}" for r in m.runs)


def engine_block_size() -> str:
    try:
        from fidc_assets.lib.ingest.readers import delimited

        return f"{delimited.BLOCK_SIZE / MIB:g} MiB (readers.delimited.BLOCK_SIZE)"
    except (ImportError, AttributeError):
        return "?"


def render(
    results: list[tuple[Input, dict[str, Measurement]]],
    args,
    notes: list[str],
    total_s: float,
    code: tuple[tuple[str, str], tuple[str, str]],
) -> str:
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    out = [
        "# Ingestion engine vs bare pyarrow",
        "",
        f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, took {total_s / 60:.1f} min. Command: `{command}`"
        + (" (via `make bench-ingest`)" if os.environ.get("MAKELEVEL") else ""),
        "",
        f"- code: {code[0][0]}",
        *([] if code[1][1] == code[0][1] else [f"- **fidc_assets/ changed during the run**; at the end: {code[1][0]}"]),
        *machine_info(),
        f"- runs per measurement: {args.runs} (fastest kept, all shown), each in a fresh subprocess; "
        f"sample seed {args.seed}, bad_row_rate {args.bad_row_rate:g}",
        f"- CSV block size: baseline {args.csv_block_size / MIB:g} MiB, engine {args.engine_block_size} at the start",
        "",
        "rows/s = data rows in the file / wall seconds of the work (imports and spec loading excluded); "
        "ratio = engine rows/s ÷ baseline rows/s (1.0 = as fast as bare pyarrow; 0.5 = twice as slow). "
        "Baseline = single-threaded bare pyarrow (see bench/README.md). Peak RSS = ru_maxrss of the measuring "
        "process (max over its runs), imports included.",
        "",
        "| format | rows | file MiB | engine rows/s | baseline rows/s | ratio engine/baseline | engine peak RSS MiB "
        "| baseline peak RSS MiB | rejected rows | engine s (runs) | baseline s (runs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    problems: list[str] = []
    for inp, ms in results:
        e, b = ms["engine"], ms["baseline"]
        er, br = _rate(inp.rows, e), _rate(inp.rows, b)
        ratio = er / br if not (math.isnan(er) or math.isnan(br)) else math.nan
        rejected = str(e.best["rejected"]) if e.ok else "n/a"
        out.append(
            f"| {LABELS[inp.kind]} | {inp.rows:,} | {inp.bytes / MIB:,.1f} | {_fmt_rate(er)} | {_fmt_rate(br)} | "
            f"{'n/a' if math.isnan(ratio) else f'{ratio:.2f}'} | {e.peak_mib:,.0f} | {b.peak_mib:,.0f} | {rejected} | "
            f"{_fmt_runs(e)} | {_fmt_runs(b)} |"
        )
        for m in ms.values():
            if not m.ok:
                problems.append(f"{LABELS[inp.kind]} {inp.rows:,} {m.side}: {m.error}")
            elif m.side == "engine" and m.best["rows_out"] + m.best["rejected"] != inp.rows:
                problems.append(
                    f"{LABELS[inp.kind]} {inp.rows:,} engine: {m.best['rows_out']:,} accepted + "
                    f"{m.best['rejected']:,} rejected != {inp.rows:,} rows in the file"
                )
            elif m.side != "engine" and m.best["rows_out"] != inp.rows:
                problems.append(f"{LABELS[inp.kind]} {inp.rows:,} {m.side}: wrote {m.best['rows_out']:,} rows")
    for inp, ms in results:
        e = ms["engine"]
        if e.ok and e.best["cpu_seconds"] > 1.2 * e.best["seconds"]:
            notes.append(
                f"{LABELS[inp.kind]} {inp.rows:,}: the engine used {e.best['cpu_seconds'] / e.best['seconds']:.2f} "
                "CPU seconds per wall second (more than one core); the threaded baseline is the fairer comparison."
            )
    threaded = [(inp, ms) for inp, ms in results if "baseline-mt" in ms]
    if threaded:
        out += [
            "",
            "Delimited CSV, threaded pyarrow baseline (`use_threads=True`). The headline ratio above uses the "
            "single-threaded one (the engine's CSV reader parses serially); if the engine used more than one core "
            "(see CPU s / wall s below), this ratio is the fairer one:",
            "",
            "| rows | threaded baseline rows/s | ratio engine/threaded | threaded peak RSS MiB | CPU s / wall s "
            "| threaded s (runs) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for inp, ms in threaded:
            t = ms["baseline-mt"]
            er, tr = _rate(inp.rows, ms["engine"]), _rate(inp.rows, t)
            ratio = er / tr if not (math.isnan(er) or math.isnan(tr)) else math.nan
            par = t.best["cpu_seconds"] / t.best["seconds"] if t.ok else math.nan
            out.append(
                f"| {inp.rows:,} | {_fmt_rate(tr)} | {'n/a' if math.isnan(ratio) else f'{ratio:.2f}'} | "
                f"{t.peak_mib:,.0f} | {par:.2f} | {_fmt_runs(t)} |"
            )
    out += [
        "",
        "Details of the kept (fastest) runs: import = seconds to import pyarrow (+ the engine for the engine), "
        "setup = loading the custodian specs, matching the file name and building the canonical schema "
        "(engine only), both outside the timing; "
        "RSS before = resident memory after imports and setup, before the work.",
        "",
        "| format | rows | side | seconds | CPU s / wall s | import s | setup s | RSS before MiB | peak RSS MiB "
        "| parquet MiB | rows written |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for inp, ms in results:
        for m in ms.values():
            if not m.ok:
                continue
            r = m.best
            out.append(
                f"| {LABELS[inp.kind]} | {inp.rows:,} | {m.side} | {r['seconds']:.2f} | "
                f"{r['cpu_seconds'] / r['seconds']:.2f} | {r['import_seconds']:.2f} | {r['setup_seconds']:.2f} | "
                f"{r['rss_before_kib'] / 1024:,.0f} | {r['maxrss_kib'] / 1024:,.0f} | "
                f"{r['parquet_bytes'] / MIB:,.1f} | {r['rows_out']:,} |"
            )
    out += ["", "Inputs (one sample file each, its data rows repeated with a unique receivable id per copy):", ""]
    for inp, _ in results:
        out.append(f"- {LABELS[inp.kind]} {inp.rows:,} rows: `{inp.path.relative_to(ROOT)}` (from `{inp.template}`)")
    if notes or problems:
        out += ["", "Notes:", ""] + [f"- {n}" for n in [*notes, *problems]]
    return "\n".join(out) + "\n"
