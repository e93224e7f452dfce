"""One measurement and the runs around it: the child side (`run_one`: the engine, or a bare-pyarrow baseline per
format, timed in a fresh process) and the parent side (`measure`: interleaved runs, each in a subprocess)."""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ingest.common import (
    CNAB_BATCH_LINES,
    INGESTED_AT,
    LABELS,
    ROOT,
    TMP_DIR,
    Input,
    log,
)


def _rss_now_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def engine_setup(path: Path):
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.specs import load_specs, match_file

    match = match_file(path.name, load_specs(CUSTODIANS_DIR))
    if match is None:
        raise SystemExit(f"{path.name} matches no custodian pattern")
    # the canonical Arrow schema is built once per process, importing pyiceberg's pyarrow module (~0.3 s):
    # a long-running pipeline pays it once, so it is setup here, not part of the file's time
    from fidc_assets.lib.core.canonical import ENTITIES, arrow_schema

    arrow_schema(ENTITIES[match.file_spec.entity])
    return match


def run_engine(path: Path, out: Path, match, sha256: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from fidc_assets.lib.ingest.adapters import FileParse

    parse = FileParse(path, path.name, match, sha256, INGESTED_AT)
    writer = None
    try:
        for batch in parse.accepted_batches():
            if writer is None:
                writer = pq.ParquetWriter(out, batch.schema)
            writer.write_table(batch)
    finally:
        if writer is not None:
            writer.close()
    return {"rows_out": parse.rows_accepted, "rejected": len(parse.rejected)}


def _baseline_csv(path: Path, out: Path, p: dict[str, Any], threaded: bool) -> dict[str, Any]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    read = pcsv.ReadOptions(
        use_threads=threaded, block_size=p["block_size"], encoding=p["encoding"], skip_rows=p["skip_rows"]
    )
    parse = pcsv.ParseOptions(delimiter=p["delimiter"], quote_char=p["quote_char"] or False)
    reader = pcsv.open_csv(str(path), read_options=read, parse_options=parse)
    rows = 0
    with pq.ParquetWriter(out, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return {"rows_out": rows, "rejected": 0}


def _baseline_cnab(path: Path, out: Path, p: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as compute
    import pyarrow.parquet as pq

    pc: Any = compute  # its kernels are generated at import time: invisible to a type checker
    rt_start, rt_end = p["record_type"]
    fields = p["fields"]
    writer = None
    rows = 0
    with path.open("rb") as f:
        while True:
            lines = f.readlines(CNAB_BATCH_LINES * 446)  # ~CNAB_BATCH_LINES lines of 444 characters + CRLF
            if not lines:
                break
            text = pa.array(b"".join(lines).decode(p["encoding"]).splitlines(), pa.string())
            code = pc.utf8_slice_codeunits(text, rt_start - 1, rt_end)
            details = text.filter(pc.equal(code, p["detail_code"]))
            table = pa.table(
                {name: pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(details, s - 1, e)) for name, s, e in fields}
            )
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            rows += table.num_rows
    if writer is not None:
        writer.close()
    return {"rows_out": rows, "rejected": 0}


def _baseline_xlsx(path: Path, out: Path, p: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    sheet = wb.get_sheet_by_index(p["sheet"]) if isinstance(p["sheet"], int) else wb.get_sheet_by_name(p["sheet"])
    cells = sheet.to_python(skip_empty_area=False)
    header, data = cells[p["header_row"] - 1], cells[p["header_row"] :]
    columns = zip(*data, strict=True) if data else [()] * len(header)
    table = pa.table(
        {
            str(name) or f"column_{i + 1}": pa.array([None if v == "" else str(v) for v in col], pa.string())
            for i, (name, col) in enumerate(zip(header, columns, strict=True))
        }
    )
    pq.write_table(table, out)
    return {"rows_out": table.num_rows, "rejected": 0}


def _baseline_json(path: Path, out: Path, p: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    node = json.loads(path.read_bytes().decode(p["encoding"]))
    for part in p["records_path"].split("."):
        node = node[part]
    # pa.Table.from_pylist, column by column as it does, except that a column mixing numbers and strings
    # (Zeta sends "1.234,56" and 1234.56 in the same field) becomes text instead of raising ArrowInvalid.
    names = dict.fromkeys(k for record in node for k in record)
    columns = {}
    for name in names:
        values = [record.get(name) for record in node]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    table = pa.table(columns)
    pq.write_table(table, out)
    return {"rows_out": table.num_rows, "rejected": 0}


def run_one(side: str, kind: str, path: Path, out: Path, sha256: str, params: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (fresh) process: imports, setup, then the timed work."""
    started = time.perf_counter()
    import pyarrow  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if side == "engine":
        import fidc_assets.lib.ingest.adapters  # noqa: F401
    if kind == "xlsx":
        import python_calamine  # noqa: F401
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    match = engine_setup(path) if side == "engine" else None
    setup_s = time.perf_counter() - started
    rss_before = _rss_now_kib()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        if side == "engine":
            result = run_engine(path, out, match, sha256)
        elif kind == "csv":
            result = _baseline_csv(path, out, params, threaded=side == "baseline-mt")
        elif kind == "cnab":
            result = _baseline_cnab(path, out, params)
        elif kind == "xlsx":
            result = _baseline_xlsx(path, out, params)
        else:
            result = _baseline_json(path, out, params)
    except Exception as e:  # reported in the table, not a crash of the whole benchmark
        result = {"error": f"{type(e).__name__}: {e}"[:300], "rows_out": 0, "rejected": 0}
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime + usage.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {
        **result,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "import_seconds": import_s,
        "setup_seconds": setup_s,
        "rss_before_kib": rss_before,
        "maxrss_kib": usage.ru_maxrss,  # KiB on Linux
    }


@dataclass
class Measurement:
    side: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not any("error" in r for r in self.runs)

    @property
    def best(self) -> dict[str, Any]:
        return min(self.runs, key=lambda r: r["seconds"])

    @property
    def error(self) -> str | None:
        return next((r["error"] for r in self.runs if "error" in r), None)

    @property
    def peak_mib(self) -> float:
        return max(r["maxrss_kib"] for r in self.runs) / 1024


def _child(side: str, inp: Input) -> dict[str, Any]:
    TMP_DIR.mkdir(parents=True, exist_ok=True)
    out = TMP_DIR / f"{inp.kind}-{inp.rows}-{side}-{os.getpid()}.parquet"  # several benchmarks may run at once
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "bench.ingest", "--one", side, "--kind", inp.kind, "--input", str(inp.path),
        "--output", str(out), "--sha256", inp.sha256, "--params", json.dumps(inp.params),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        result = {"error": f"exit {proc.returncode}: {' | '.join(tail)}"[:300], "seconds": math.nan, "maxrss_kib": 0}
    result["parquet_bytes"] = out.stat().st_size if out.exists() else 0
    out.unlink(missing_ok=True)
    return result


def measure(inp: Input, sides: list[str], runs: int) -> dict[str, Measurement]:
    """Runs interleaved (engine, baseline, engine, baseline, ...) so drift hits both sides alike."""
    results = {side: Measurement(side) for side in sides}
    for run in range(1, runs + 1):
        for side in sides:
            r = _child(side, inp)
            results[side].runs.append(r)
            shown = r.get("error") or f"{r['seconds']:.2f} s, peak RSS {r['maxrss_kib'] / 1024:,.0f} MiB"
            log(f"  {LABELS[inp.kind]} {inp.rows:,} rows, {side} run {run}: {shown}")
    return results
