"""The ingestion engine against a bare-pyarrow baseline, on the same files, in the same run.

``make bench-ingest`` (or ``.venv/bin/python -m bench.ingest [--quick] ...``):

1. generates a small sample once (`fidc_assets.sample.generator.generate_sample`) and takes one real file per
   format from it: delimited CSV (``custodia_alfa``), CNAB 444 (``custodia_epsilon``), XLSX
   (``custodia_gama``) and JSON (``custodia_zeta``);
2. builds big inputs under ``bench/out/inputs/`` by repeating the file's data rows with a unique receivable id
   per copy (header and trailer kept valid), reused by later runs when present with the same size;
3. measures, each in a fresh subprocess (``--one``) and ``--runs`` times (fastest kept, all reported):
   the engine (`FileParse` + `pyarrow.parquet.ParquetWriter` of the accepted batches) and a bare-pyarrow
   baseline reading the same file and writing Parquet the same way;
4. prints a Markdown table (rows/s, engine/baseline ratio, peak RSS, rejected rows) and saves it to
   ``bench/out/ingest-results.md``.

Nothing here asserts a timing: the numbers are for reading. See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import importlib.metadata
import inspect
import io
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
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
CSV_BLOCK_SIZE = 4 << 20  # baseline default (--csv-block-size); the engine uses its own readers.BLOCK_SIZE
CNAB_BATCH_LINES = 200_000  # the engine's readers.FIXED_WIDTH_BATCH_LINES
INGESTED_AT = dt.datetime(2024, 7, 2, 6, 0, tzinfo=dt.UTC)
MIB = 1 << 20
ID_MARK = "@@RECEIVABLE_ID@@"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ inputs


@dataclass
class Input:
    kind: str
    rows: int
    path: Path
    bytes: int
    sha256: str
    params: dict[str, Any]  # what the baseline needs to read the file (encoding, delimiter, layout, ...)
    template: str


def _python_encoding(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _arrow_encoding(encoding: str) -> str:
    return {"utf-8": "utf8", "utf-8-sig": "utf8", "latin-1": "latin1"}.get(encoding, encoding)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB * 8):
            h.update(chunk)
    return h.hexdigest()


def _tag_width(rows: int, template_rows: int) -> int:
    return max(6, len(str(math.ceil(rows / template_rows) - 1)))


def _new_id(copy: int, width: int, original: str) -> str:
    """A unique receivable id per copy: a fixed-width copy number before the original (a blank id stays blank,
    so a row the source file had as bad stays bad)."""
    return f"{copy:0{width}d}{original}" if original.strip() else original


def _baseline_params(kind: str, match) -> dict[str, Any]:
    fmt = match.file_spec.format
    if kind == "csv":
        return {
            "encoding": _arrow_encoding(fmt.encoding),
            "delimiter": fmt.delimiter,
            "quote_char": fmt.quote_char or "",
            "skip_rows": fmt.skip_rows,
        }
    if kind == "cnab":
        layout = fmt.resolved_layout()
        rt = layout.record_type
        return {
            "encoding": _python_encoding(fmt.encoding),
            "record_type": [rt.start, rt.end],
            "detail_code": layout.detail.code,
            "fields": [[name, f.start, f.end] for name, f in layout.detail.fields.items()],
        }
    if kind == "xlsx":
        return {"sheet": fmt.sheet, "header_row": fmt.header_row}
    return {"records_path": fmt.records_path, "encoding": _python_encoding(fmt.encoding)}


def _build_csv(template: Path, match, rows: int, dest: Path) -> None:
    fmt = match.file_spec.format
    if fmt.trailer is not None or not fmt.header or fmt.skip_rows:
        raise SystemExit(f"{template.name}: only headed CSVs without trailer or banner lines are supported")
    enc = _python_encoding(fmt.encoding)
    id_col = match.file_spec.column_maps()["receivable_id"].column
    text = template.read_bytes().decode(enc)
    eol = "\r\n" if "\r\n" in text else "\n"
    quote = fmt.quote_char or '"'
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter, quotechar=quote))
    header, data = records[0], [r for r in records[1:] if any(v.strip() for v in r)]
    idx = header.index(id_col)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=fmt.delimiter, quotechar=quote, lineterminator=eol)

    def serialize(values: list[str]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue()

    parts = []
    for r in data:
        prefix, suffix = serialize([*r[:idx], ID_MARK, *r[idx + 1 :]]).split(ID_MARK)
        parts.append((prefix.encode(enc), r[idx] if idx < len(r) else "", suffix.encode(enc)))
    width, n = _tag_width(rows, len(data)), len(data)
    with dest.open("wb", buffering=8 * MIB) as f:
        f.write(serialize(header).encode(enc))
        for copy in range(math.ceil(rows / n)):
            count = min(n, rows - copy * n)
            f.write(b"".join(p + _new_id(copy, width, i).encode(enc) + s for p, i, s in parts[:count]))


def _build_cnab(template: Path, match, rows: int, dest: Path) -> None:
    fmt = match.file_spec.format
    layout = fmt.resolved_layout()
    enc = _python_encoding(fmt.encoding)
    raw = template.read_bytes()
    eol = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = [line.rstrip(b"\r\n") for line in raw.splitlines()]
    rt = layout.record_type

    def code(line: bytes) -> str:
        return line[rt.start - 1 : rt.end].decode(enc)

    header = next(line for line in lines if code(line) == layout.header.code)
    trailer = [line for line in lines if code(line) == layout.trailer.code][-1]
    details = [line for line in lines if code(line) == layout.detail.code and len(line) == layout.line_length]
    rid = layout.detail.fields[match.file_spec.column_maps()["receivable_id"].column]
    seq = layout.detail.fields["sequence"]
    seq_width = seq.end - seq.start + 1
    if rows + 2 > 10**seq_width - 1:
        raise SystemExit(
            f"CNAB: {rows:,} details need {rows + 2:,} lines but the {seq_width}-digit sequence field stops at "
            f"{10**seq_width - 1:,}; ask for at most {10**seq_width - 3:,} rows"
        )
    id_width = rid.end - rid.start + 1
    width, n = _tag_width(rows, len(details)), len(details)
    # (before the id, the id, between the id and the sequence, after the sequence) of each detail line
    pieces = [
        (d[: rid.start - 1], d[rid.start - 1 : rid.end].decode(enc).strip(), d[rid.end : seq.start - 1], d[seq.end :])
        for d in details
    ]
    with dest.open("wb", buffering=8 * MIB) as f:
        f.write(header + eol)
        for i in range(rows):
            copy, j = divmod(i, n)
            before, original, middle, after = pieces[j]
            new_id = _new_id(copy, width, original)
            if len(new_id) > id_width:
                raise SystemExit(f"CNAB: receivable id {new_id!r} does not fit {id_width} characters")
            f.write(before + new_id.ljust(id_width).encode(enc) + middle + b"%0*d" % (seq_width, i + 2) + after + eol)
        t = trailer
        t = t[: seq.start - 1] + b"%0*d" % (seq_width, rows + 2) + t[seq.end :]  # its own line number
        count = layout.trailer_record_count
        if count is not None and count.start and count.end:
            w = count.end - count.start + 1
            t = t[: count.start - 1] + b"%0*d" % (w, rows + count.offset) + t[count.end :]
        f.write(t + eol)


def _build_xlsx(template: Path, match, rows: int, dest: Path) -> None:
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    fmt = match.file_spec.format
    wb_in = CalamineWorkbook.from_path(str(template))
    sheet = wb_in.get_sheet_by_index(fmt.sheet) if isinstance(fmt.sheet, int) else wb_in.get_sheet_by_name(fmt.sheet)
    cells = sheet.to_python(skip_empty_area=False)
    head, data = cells[: fmt.header_row], [r for r in cells[fmt.header_row :] if any(v != "" for v in r)]
    idx = list(head[-1]).index(match.file_spec.column_maps()["receivable_id"].column)
    width, n = _tag_width(rows, len(data)), len(data)
    wb = xlsxwriter.Workbook(str(dest), {"constant_memory": True})
    ws = wb.add_worksheet(fmt.sheet if isinstance(fmt.sheet, str) else "Sheet1")
    date_fmt = wb.add_format({"num_format": "dd/mm/yyyy"})

    def write(r: int, values: list) -> None:
        for c, v in enumerate(values):
            if v is None or v == "":
                continue
            if isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, int | float):
                ws.write_number(r, c, v)
            elif isinstance(v, dt.date):  # datetime too
                ws.write_datetime(r, c, v, date_fmt)
            else:
                ws.write_string(r, c, str(v))

    for r, values in enumerate(head):
        write(r, values)
    for i in range(rows):
        copy, j = divmod(i, n)
        values = list(data[j])
        values[idx] = _new_id(copy, width, str(values[idx]))
        write(len(head) + i, values)
    wb.close()


def _build_json(template: Path, match, rows: int, dest: Path) -> None:
    fmt = match.file_spec.format
    enc = _python_encoding(fmt.encoding)
    doc = json.loads(template.read_bytes().decode(enc))
    *parents, last = fmt.records_path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    records = node[last]
    key = match.file_spec.column_maps()["receivable_id"].column
    width, n = _tag_width(rows, len(records)), len(records)
    out = []
    for i in range(rows):
        copy, j = divmod(i, n)
        record = dict(records[j])
        record[key] = _new_id(copy, width, str(record.get(key) or ""))
        out.append(record)
    node[last] = out
    dest.write_bytes((json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(enc))


BUILDERS = {"csv": _build_csv, "cnab": _build_cnab, "xlsx": _build_xlsx, "json": _build_json}


class Inputs:
    """Builds (or reuses) the big input files; the sample is generated only when something must be built."""

    def __init__(self, seed: int, bad_row_rate: float, notes: list[str]):
        from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
        from fidc_assets.lib.ingest.specs import load_specs

        self.seed, self.bad_row_rate, self.notes = seed, bad_row_rate, notes
        self.specs = load_specs(CUSTODIANS_DIR)
        self._templates: dict[str, tuple[Path, Any]] | None = None

    def _key(self, kind: str, rows: int) -> str:
        return f"{kind}-{rows}-s{self.seed}-b{self.bad_row_rate:g}"

    def templates(self) -> dict[str, tuple[Path, Any]]:
        if self._templates is not None:
            return self._templates
        from fidc_assets.lib.ingest.specs import match_file
        from fidc_assets.sample.generator import generate_sample

        out = OUT_DIR / f"sample-s{self.seed}-b{self.bad_row_rate:g}"
        kwargs: dict[str, Any] = {
            "seed": self.seed, "funds": SAMPLE_FUNDS, "days": SAMPLE_DAYS, "receivables_per_fund": SAMPLE_RECEIVABLES,
            "bad_row_rate": self.bad_row_rate,
        }  # fmt: skip
        if "custodians" in inspect.signature(generate_sample).parameters:
            kwargs["custodians"] = tuple(dict.fromkeys(c for c, _, _ in TEMPLATES.values()))
        else:
            self.notes.append(
                "generate_sample() has no `custodians` option yet: only custodia_alfa's delimited CSV is benchmarked."
            )
        log(f"generating the sample in {out.relative_to(ROOT)} ({kwargs})")
        manifest = generate_sample(out, **kwargs)
        found: dict[str, tuple[Path, Any]] = {}
        for name in manifest.files:
            m = match_file(name, self.specs)
            if m is None or name.lower().endswith(".zip"):
                continue
            for kind, (custodian, entity, fmt_kind) in TEMPLATES.items():
                if (m.custodian.id, m.file_spec.entity, m.file_spec.format.kind) == (custodian, entity, fmt_kind):
                    path = manifest.inbox_dir / name
                    if kind not in found or path.stat().st_size > found[kind][0].stat().st_size:
                        found[kind] = (path, m)
        self._templates = found
        return found

    def get(self, kind: str, rows: int) -> Input | None:
        from fidc_assets.lib.ingest.specs import match_file

        folder = INPUTS_DIR / self._key(kind, rows)
        meta_path = folder / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            path = folder / meta["file"]
            if path.exists() and path.stat().st_size == meta["bytes"] and meta["rows"] == rows:
                log(f"reusing {path.relative_to(ROOT)}")
                match = match_file(path.name, self.specs)
                return Input(kind, rows, path, meta["bytes"], meta["sha256"], _baseline_params(kind, match),
                             meta["template"])  # fmt: skip
        template = self.templates().get(kind)
        if template is None:
            self.notes.append(f"{LABELS[kind]}: the sample has no {TEMPLATES[kind][0]} file; skipped.")
            return None
        source, match = template
        folder.mkdir(parents=True, exist_ok=True)
        meta_path.unlink(missing_ok=True)
        dest = folder / source.name
        part = folder / (source.name + ".part")
        log(f"building {dest.relative_to(ROOT)} ({rows:,} rows from {source.name})")
        started = time.perf_counter()
        BUILDERS[kind](source, match, rows, part)
        os.replace(part, dest)
        size, digest = dest.stat().st_size, _sha256(dest)
        meta = {"file": dest.name, "rows": rows, "bytes": size, "sha256": digest, "template": source.name}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        log(f"built {size / MIB:,.1f} MiB in {time.perf_counter() - started:.1f} s")
        return Input(kind, rows, dest, size, digest, _baseline_params(kind, match), source.name)


# ------------------------------------------------------------------------------------------------ child side


def _rss_now_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def _engine_setup(path: Path):
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


def _engine(path: Path, out: Path, match, sha256: str) -> dict[str, Any]:
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
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

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
    match = _engine_setup(path) if side == "engine" else None
    setup_s = time.perf_counter() - started
    rss_before = _rss_now_kib()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        if side == "engine":
            result = _engine(path, out, match, sha256)
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


# ------------------------------------------------------------------------------------------------ parent side


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


def _engine_block_size() -> str:
    try:
        from fidc_assets.lib.ingest import readers

        return f"{readers.BLOCK_SIZE / MIB:g} MiB (readers.BLOCK_SIZE)"
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


def _size(text: str) -> int:
    """Bytes: 4194304, 4M (MiB) or 512K (KiB)."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = {"K": 1 << 10, "M": MIB}.get(text[-1:], 1)
    return int(text.rstrip("KM")) * factor


def _rows_list(text: str) -> tuple[int, ...]:
    return tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
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
    args.engine_block_size = _engine_block_size()
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


if __name__ == "__main__":
    sys.exit(main())
