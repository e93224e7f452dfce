"""The one engine that reads every custodian file through its YAML spec.

No custodian has Python of its own: the spec says how to read the bytes and how columns map to canonical
fields; this module turns text into typed Arrow columns with vectorized kernels and sorts rows into accepted
and rejected (with file, line, field, reason code and a message an analyst understands). A problem with the
file as a whole (unreadable encoding, missing columns, empty) raises `FileRejected`: nothing of such a file is
written anywhere but the raw archive and the quarantine.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from pyiceberg.types import BooleanType, DateType, DecimalType, IntegerType, LongType, StringType

from fidc_assets.lib.canonical import ENTITIES, Entity, arrow_schema
from fidc_assets.lib.specs import ColumnMap, DelimitedFormat, FileMatch
from fidc_assets.lib.typed import (
    blank_to_null,
    map_values,
    normalize_documents,
    parse_dates,
    parse_decimals,
    parse_integers,
)

DOCUMENT_FIELDS = frozenset({"fund_cnpj", "cedente_doc", "sacado_doc", "originator_doc"})
NON_NEGATIVE_FIELDS = frozenset({"nominal_value", "acquisition_value", "present_value", "pdd_value"})
LINEAGE_FIELDS = ("file_date", "source", "source_file_sha256", "source_line", "ingested_at")

#: Row reason codes → what they mean, for messages and for the README.
ROW_REASONS = {
    "unparseable_number": "is not a number in the file's format",
    "unparseable_date": "is not a valid date in the file's format",
    "missing_required": "is required but empty",
    "invalid_document": "is not a valid CPF/CNPJ (length or check digits)",
    "negative_value": "is negative where only positive values are allowed",
    "unknown_code": "is not one of the codes the custodian spec lists",
    "wrong_column_count": "has a different number of columns than the header",
    "fund_mismatch": "belongs to another fund than the one in the file name",
    "date_mismatch": "has another reference date than the one in the file name",
    "duplicate_key": "repeats the key of an earlier row in the same file",
}


class FileRejected(Exception):
    """The whole file is unusable; `message` is written for the custodian's analyst."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class RejectedRow:
    line_number: int
    field: str | None
    reason_code: str
    message: str
    raw_text: str | None = None


@dataclass
class ParseResult:
    """Accepted canonical rows (lineage filled) and every rejected row with its reason."""

    entity: Entity
    rows: pa.Table
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def control_totals(self) -> dict[str, str | int]:
        totals: dict[str, str | int] = {"rows_accepted": self.rows.num_rows, "rows_rejected": len(self.rejected)}
        for name in ("nominal_value", "present_value"):
            if name in self.rows.column_names:
                total = pc.sum(self.rows[name]).as_py()
                totals[f"sum_{name}"] = str(total if total is not None else Decimal("0.00"))
        return totals


def _pyarrow_encoding(encoding: str) -> str:
    # Arrow reads UTF-8 natively (and skips a BOM); other encodings go through Python's codecs.
    return {"utf-8": "utf8", "utf-8-sig": "utf8", "latin-1": "latin1"}.get(encoding, encoding)


def _check_encoding(data: bytes, fmt: DelimitedFormat, name: str) -> None:
    encoding = "utf-8" if fmt.encoding == "utf-8-sig" else fmt.encoding
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FileRejected(
            "wrong_encoding",
            f"{name}: the file is not valid {fmt.encoding} (byte {e.start} on line {line} cannot be read as "
            f"{fmt.encoding}). Please resend it in {fmt.encoding}, as agreed in the custodian layout.",
        ) from None
    if fmt.encoding in ("latin-1", "cp1252") and data.startswith(b"\xef\xbb\xbf"):
        raise FileRejected(
            "wrong_encoding",
            f"{name}: the file starts with a UTF-8 byte order mark but the layout says {fmt.encoding}. "
            f"Please resend it in {fmt.encoding}.",
        )


class _LineTracker:
    """Maps data-row indexes to physical line numbers, skipping lines the CSV reader dropped."""

    def __init__(self, first_data_line: int):
        self.first_data_line = first_data_line
        self.skipped: list[int] = []
        self.invalid: list[RejectedRow] = []

    def handler(self, row: pcsv.InvalidRow) -> str:
        line = row.number
        if line is None:  # only with threaded parsing, which we never use
            return "error"
        self.skipped.append(line)
        if row.text.strip():
            self.invalid.append(
                RejectedRow(
                    line,
                    None,
                    "wrong_column_count",
                    f"line {line} has {row.actual_columns} columns but the header has {row.expected_columns}",
                    row.text,
                )
            )
        return "skip"

    def lines_for(self, start_index: int, count: int) -> pa.Array:
        lines = pc.add(pa.array(range(start_index, start_index + count), pa.int64()), self.first_data_line)
        for s in sorted(self.skipped):
            lines = pc.if_else(pc.greater_equal(lines, s), pc.add(lines, 1), lines)
        return lines


def _convert_field(
    name: str, itype, raw: pa.Array, cmap: ColumnMap, fmt: DelimitedFormat
) -> tuple[pa.Array, pa.Array, str]:
    """(typed values, bad mask, reason code for bad) for one canonical field."""
    if cmap.map is not None:
        target = pa.bool_() if isinstance(itype, BooleanType) else pa.string()
        values, bad = map_values(raw, cmap.map, target)
        return values, bad, "unknown_code"
    if isinstance(itype, DateType):
        values, bad = parse_dates(raw, fmt.date_formats)
        return values, bad, "unparseable_date"
    if isinstance(itype, DecimalType):
        values, bad = parse_decimals(raw, fmt.decimal, fmt.thousands, itype.scale, itype.precision)
        return values, bad, "unparseable_number"
    if isinstance(itype, IntegerType | LongType):
        values, bad = parse_integers(raw)
        return (values if isinstance(itype, IntegerType) else pc.cast(values, pa.int64())), bad, "unparseable_number"
    if isinstance(itype, StringType) and name in DOCUMENT_FIELDS:
        values, bad = normalize_documents(raw)
        return values, bad, "invalid_document"
    if isinstance(itype, StringType):
        values = blank_to_null(raw)
        return values, pa.array([False] * len(values), pa.bool_()), ""
    raise TypeError(f"no converter for field {name} of type {itype}")


def _mark(reason: pa.Array, fieldname: pa.Array, mask: pa.Array, code: str, name: str) -> tuple[pa.Array, pa.Array]:
    """Record `code` for rows in `mask` that have no reason yet (the first problem of a row wins)."""
    new = pc.and_(pc.fill_null(mask, False), pc.is_null(reason))
    return (
        pc.if_else(new, pa.scalar(code, pa.string()), reason),
        pc.if_else(new, pa.scalar(name, pa.string()), fieldname),
    )


@dataclass
class _Batch:
    canonical: pa.Table  # every row, typed, with lineage; nulls where bad
    reason: pa.Array
    field: pa.Array
    raw: pa.Table  # the source text columns, for messages


def _convert_batch(
    raw: pa.RecordBatch, lines: pa.Array, match: FileMatch, entity: Entity, sha256: str, ingested_at: dt.datetime
) -> _Batch:
    fmt = match.file_spec.format
    n = raw.num_rows
    reason = pa.nulls(n, pa.string())
    fieldname = pa.nulls(n, pa.string())
    schema = arrow_schema(entity)
    cmaps = match.file_spec.column_maps()
    columns: dict[str, pa.Array] = {}
    for f in entity.fields:
        if f.name in LINEAGE_FIELDS:
            continue
        cmap = cmaps.get(f.name)
        if f.name == "custodian_id":
            columns[f.name] = pa.array([match.custodian.id] * n, pa.string())
            continue
        if cmap is None:
            default = match.custodian.default_currency if f.name == "currency" else None
            columns[f.name] = pa.array([default] * n, schema.field(f.name).type)
            continue
        if cmap.column is not None:
            text = raw.column(cmap.column)
            if cmap.default is not None:
                text = pc.coalesce(blank_to_null(text), pa.scalar(cmap.default))
        else:
            text = pa.array([cmap.default] * n, pa.string())
        values, bad, code = _convert_field(f.name, f.type, text, cmap, fmt)
        present = pc.is_valid(blank_to_null(text))
        reason, fieldname = _mark(reason, fieldname, bad, code, cmap.column or f.name)
        if f.required:
            reason, fieldname = _mark(reason, fieldname, pc.invert(present), "missing_required", cmap.column or f.name)
        if f.name in NON_NEGATIVE_FIELDS:
            negative = pc.less(values, pa.scalar(Decimal(0), values.type))
            reason, fieldname = _mark(reason, fieldname, negative, "negative_value", cmap.column or f.name)
        columns[f.name] = pc.cast(values, schema.field(f.name).type)
    if "fund_cnpj" in columns:
        other = pc.not_equal(columns["fund_cnpj"], pa.scalar(match.fund_cnpj))
        reason, fieldname = _mark(reason, fieldname, other, "fund_mismatch", _source_name(cmaps, "fund_cnpj"))
    if entity.partition_date and entity.partition_date in columns:
        other = pc.not_equal(columns[entity.partition_date], pa.scalar(match.reference_date, pa.date32()))
        reason, fieldname = _mark(reason, fieldname, other, "date_mismatch", _source_name(cmaps, entity.partition_date))
    columns["file_date"] = pa.array([match.reference_date] * n, pa.date32())
    columns["source"] = pa.array(["custodian_file"] * n, pa.string())
    columns["source_file_sha256"] = pa.array([sha256] * n, pa.string())
    columns["source_line"] = lines
    columns["ingested_at"] = pa.array([ingested_at] * n, schema.field("ingested_at").type)
    table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema.remove_metadata())
    return _Batch(table, reason, fieldname, pa.Table.from_batches([raw]))


def _source_name(cmaps: dict[str, ColumnMap], name: str) -> str:
    cmap = cmaps.get(name)
    return (cmap.column if cmap and cmap.column else None) or name


def _mark_duplicates(batch: _Batch, entity: Entity, cmaps: dict[str, ColumnMap]) -> _Batch:
    """Second and later rows with the same business key in one file are rejected; the first is kept."""
    key_cols = [k for k in entity.key if k in batch.canonical.column_names]
    if not key_cols:
        return batch
    ok_rows = pc.is_null(batch.reason)
    idx = pa.array(range(batch.canonical.num_rows), pa.int64())
    keys = batch.canonical.select(key_cols).append_column("__idx", idx).filter(ok_rows)
    if keys.num_rows == 0:
        return batch
    first = keys.group_by(key_cols, use_threads=False).aggregate([("__idx", "min")])
    keep = pc.is_in(idx, value_set=first["__idx_min"].combine_chunks())
    duplicate = pc.and_(ok_rows, pc.invert(keep))
    key_source = _source_name(cmaps, entity.key[-1])
    reason, fieldname = _mark(batch.reason, batch.field, duplicate, "duplicate_key", key_source)
    return _Batch(batch.canonical, reason, fieldname, batch.raw)


def _message(reason_code: str, field_name: str | None, value: str | None, fmt: DelimitedFormat) -> str:
    what = ROW_REASONS.get(reason_code, reason_code)
    shown = "" if value is None else f" {value!r}"
    hint = ""
    if reason_code == "unparseable_date":
        human = [
            f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy").replace("%y", "yy")
            for f in fmt.date_formats
        ]
        hint = f" (expected {' or '.join(human)})"
    elif reason_code == "unparseable_number":
        example = "1234" + fmt.decimal + "56"
        hint = f" (expected a number like {example})"
    return f"{field_name or 'row'}{shown} {what}{hint}"


def _open_reader(data: bytes, fmt: DelimitedFormat, tracker: _LineTracker, name: str) -> pcsv.CSVStreamingReader:
    read_options = pcsv.ReadOptions(
        encoding=_pyarrow_encoding(fmt.encoding),
        skip_rows=fmt.skip_rows,
        autogenerate_column_names=not fmt.header,
        use_threads=False,  # invalid-row line numbers are only known when parsing serially
        block_size=1 << 22,
    )
    parse_options = pcsv.ParseOptions(
        delimiter=fmt.delimiter,
        quote_char=fmt.quote_char or False,
        ignore_empty_lines=False,
        invalid_row_handler=tracker.handler,
    )
    try:
        # Peek at the header with a throwaway handler: the tracker must see each invalid row once.
        peek_options = pcsv.ParseOptions(
            delimiter=fmt.delimiter, quote_char=fmt.quote_char or False, invalid_row_handler=lambda row: "skip"
        )
        names = pcsv.open_csv(io.BytesIO(data), read_options=read_options, parse_options=peek_options).schema.names
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):
            raise FileRejected("no_rows", f"{name}: the file has a header but no data rows.") from None
        raise FileRejected(
            "unreadable", f"{name}: the file could not be read as {fmt.delimiter!r}-separated text: {e}"
        ) from None
    convert_options = pcsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
    )
    return pcsv.open_csv(
        io.BytesIO(data), read_options=read_options, parse_options=parse_options, convert_options=convert_options
    )


def parse_delimited(data: bytes, name: str, match: FileMatch, sha256: str, ingested_at: dt.datetime) -> ParseResult:
    """Parse a delimited custodian file into canonical rows and rejected rows."""
    fmt = match.file_spec.format
    entity = ENTITIES[match.file_spec.entity]
    if not data.strip():
        raise FileRejected("empty_file", f"{name}: the file is empty; nothing was received for this day.")
    _check_encoding(data, fmt, name)
    first_data_line = fmt.skip_rows + (1 if fmt.header else 0) + 1
    tracker = _LineTracker(first_data_line)
    reader = _open_reader(data, fmt, tracker, name)
    needed = sorted({c.column for c in match.file_spec.column_maps().values() if c.column})
    missing = [c for c in needed if c not in reader.schema.names]
    if missing:
        raise FileRejected(
            "missing_columns",
            f"{name}: the header lacks the column(s) {', '.join(missing)} required by the layout of "
            f"{match.custodian.name}. Found: {', '.join(reader.schema.names)}.",
        )
    batches: list[_Batch] = []
    seen = 0
    try:
        for raw in reader:
            lines = tracker.lines_for(seen, raw.num_rows)
            seen += raw.num_rows
            raw, lines = _drop_blank_lines(raw, lines)
            if raw.num_rows:
                batches.append(_convert_batch(raw, lines, match, entity, sha256, ingested_at))
    except pa.ArrowInvalid as e:
        raise FileRejected("unreadable", f"{name}: the file could not be parsed: {e}") from None
    if not batches and not tracker.invalid:
        raise FileRejected("no_rows", f"{name}: the file has a header but no data rows.")
    batch = _concat(batches, entity) if batches else None
    rejected = list(tracker.invalid)
    if batch is None:
        return ParseResult(entity, arrow_schema(entity).empty_table(), _with_raw_text(rejected, data, fmt))
    batch = _mark_duplicates(batch, entity, match.file_spec.column_maps())
    bad_idx = pc.indices_nonzero(pc.is_valid(batch.reason)).to_pylist()
    reasons, fields, lines = batch.reason.to_pylist(), batch.field.to_pylist(), batch.canonical["source_line"]
    for i in bad_idx:
        col = fields[i]
        value = batch.raw.column(col)[i].as_py() if col in batch.raw.column_names else None
        rejected.append(RejectedRow(lines[i].as_py(), col, reasons[i], _message(reasons[i], col, value, fmt)))
    good = batch.canonical.filter(pc.is_null(batch.reason))
    rejected.sort(key=lambda r: r.line_number)
    return ParseResult(entity, good.cast(arrow_schema(entity)), _with_raw_text(rejected, data, fmt))


def _drop_blank_lines(raw: pa.RecordBatch, lines: pa.Array) -> tuple[pa.RecordBatch, pa.Array]:
    """Blank lines (all fields empty) are not rows: custodians' exports often end with a few."""
    blank = None
    for column in raw.columns:
        empty = pc.equal(pc.utf8_trim_whitespace(column), "")
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None or not pc.any(blank).as_py():
        return raw, lines
    keep = pc.invert(blank)
    return raw.filter(keep), lines.filter(keep)


def _concat(batches: list[_Batch], entity: Entity) -> _Batch:
    return _Batch(
        pa.concat_tables([b.canonical for b in batches]),
        pa.concat_arrays([b.reason for b in batches]),
        pa.concat_arrays([b.field for b in batches]),
        pa.concat_tables([b.raw for b in batches]),
    )


def _with_raw_text(rejected: list[RejectedRow], data: bytes, fmt: DelimitedFormat) -> list[RejectedRow]:
    """Attach each rejected row's original line, decoded as the layout says, for the quarantine."""
    wanted = {r.line_number for r in rejected if r.raw_text is None}
    if not wanted:
        return rejected
    encoding = "utf-8" if fmt.encoding == "utf-8-sig" else fmt.encoding
    texts: dict[int, str] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if number in wanted:
            texts[number] = line.decode(encoding, errors="replace")
    return [
        r
        if r.raw_text is not None
        else RejectedRow(r.line_number, r.field, r.reason_code, r.message, texts.get(r.line_number))
        for r in rejected
    ]


def parse_bytes(data: bytes, name: str, match: FileMatch, sha256: str, ingested_at: dt.datetime) -> ParseResult:
    """Parse one received file (its archived bytes) with the engine its spec's format names."""
    kind = match.file_spec.format.kind
    if kind == "delimited":
        return parse_delimited(data, name, match, sha256, ingested_at)
    raise FileRejected("unsupported_format", f"{name}: format {kind!r} is not supported")
