"""The big input files: one real sample file per format, its data rows repeated with a unique receivable id per
copy (header and trailer kept valid), built under ``bench/out/inputs/`` and reused when present."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import inspect
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from bench.ingest.common import (
    ID_MARK,
    INPUTS_DIR,
    LABELS,
    MIB,
    OUT_DIR,
    ROOT,
    SAMPLE_DAYS,
    SAMPLE_FUNDS,
    SAMPLE_RECEIVABLES,
    TEMPLATES,
    Input,
    log,
)


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
                when = v if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)  # same serial
                ws.write_datetime(r, c, when, date_fmt)
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
