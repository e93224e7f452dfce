"""Format readers: bytes of a received file → batches of raw text columns with their line numbers.

One reader per format (delimited, xlsx, fixed width, json) and one unpacker for ZIP deliveries. A reader
only splits records and fields; typing, validation and mapping happen once, for every format, in
`fidc_assets.lib.ingest.adapters`. Whatever a reader cannot split (a line with the wrong number of columns, a
fixed-width line of the wrong length) becomes a `RejectedRow`; whatever makes the whole file unusable raises
`FileRejected` with a message for the custodian's analyst.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from fidc_assets.lib.ingest.specs import (
    ArchiveSpec,
    DelimitedFormat,
    FileSpec,
    FixedField,
    FixedWidthFormat,
    JsonFormat,
    Trailer,
    TrailerField,
    XlsxFormat,
)

#: CSV bytes per block read. Arrow's streaming reader holds a few dozen blocks in flight, so this bounds its
#: memory (4 MiB: ~150 MiB); blocks are then grouped into batches of BATCH_ROWS rows for conversion, so the
#: engine makes few, large kernel calls.
BLOCK_SIZE = 1 << 22
BATCH_ROWS = 100_000
PEEK_BLOCK_SIZE = 1 << 20
FIXED_WIDTH_BATCH_LINES = 200_000


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
class RawBatch:
    table: pa.Table  # string columns, named as in the source
    lines: pa.Array  # int64: physical line (text), sheet row (xlsx) or record number (json)


@dataclass
class TrailerTotals:
    record_count: int | None
    sums: dict[str, Decimal] = field(default_factory=dict)


class RawReader(ABC):
    """What every format reader offers the engine."""

    names: list[str]
    invalid: list[RejectedRow]

    @abstractmethod
    def batches(self) -> Iterator[RawBatch]:
        """Raw text columns with their record numbers, in bounded batches."""

    @abstractmethod
    def raw_texts(self, numbers: set[int]) -> dict[int, str]:
        """The original text of the given records, for the quarantine."""

    def trailer_totals(self) -> TrailerTotals | None:
        return None


Source = Path | bytes  # a received file on disk (streamed) or its bytes in memory
CHUNK = 1 << 20


def open_source(source: Source) -> BinaryIO:
    return source.open("rb") if isinstance(source, Path) else io.BytesIO(source)


def source_size(source: Source) -> int:
    return source.stat().st_size if isinstance(source, Path) else len(source)


def read_all(source: Source) -> bytes:
    return source.read_bytes() if isinstance(source, Path) else source


def is_blank(source: Source) -> bool:
    with open_source(source) as f:
        while chunk := f.read(CHUNK):
            if chunk.strip():
                return False
    return True


class _Limited(io.RawIOBase):
    """A binary file read only up to `limit` bytes (the data before a trailer line)."""

    def __init__(self, f: BinaryIO, limit: int):
        self._f, self._left = f, limit

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(b)[: self._left]
        n = self._f.readinto(view)
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def empty_file(name: str) -> FileRejected:
    return FileRejected("empty_file", f"{name}: the file is empty; nothing was received for this day.")


def python_encoding(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def check_encoding(source: Source, encoding: str, name: str) -> None:
    """Decode the whole file once, in chunks, so a wrong encoding is named with its byte and line.
    (Every byte is a latin-1 character: there only the byte order mark is checked.)"""
    with open_source(source) as f:
        head = f.read(3)
    if encoding in ("latin-1", "cp1252") and head == b"\xef\xbb\xbf":
        raise FileRejected(
            "wrong_encoding",
            f"{name}: the file starts with a UTF-8 byte order mark but the layout says {encoding}. "
            f"Please resend it in {encoding}.",
        )
    if encoding == "latin-1":
        return
    decoder = codecs.getincrementaldecoder(python_encoding(encoding))()
    offset = lines = 0
    with open_source(source) as f:
        while True:
            chunk = f.read(CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                bad = offset + e.start
                line = lines + chunk.count(b"\n", 0, max(e.start, 0)) + 1
                raise FileRejected(
                    "wrong_encoding",
                    f"{name}: the file is not valid {encoding} (byte {bad} on line {line} cannot be read as "
                    f"{encoding}). Please resend it in {encoding}, as agreed in the custodian layout.",
                ) from None
            if not chunk:
                break
            offset += len(chunk)
            lines += chunk.count(b"\n")


def _trailer_value(
    text: str | None, spec: TrailerField, what: str, name: str, decimal: str = ".", thousands: str | None = None
) -> Decimal:
    """A control total as the trailer writes it (implied decimals, or the file's separators)."""
    raw = (text or "").strip()
    if decimal == "auto":
        decimal, thousands = (",", ".") if "," in raw else (".", None)
    plain = raw.replace(thousands, "") if thousands else raw
    plain = plain.replace(decimal, ".") if decimal != "." else plain
    try:
        value = Decimal(plain)
    except InvalidOperation:
        raise FileRejected("bad_trailer", f"{name}: the trailer's {what} {raw!r} is not a number.") from None
    return value.scaleb(-spec.implied_decimals) - spec.offset if spec.implied_decimals else value - spec.offset


# ------------------------------------------------------------------------------------------------ unpacking


def unpack_archive(source: Source, name: str, spec: FileSpec) -> tuple[Source, str]:
    """For a .zip delivery, the one member the spec wants; refuses archives that expand beyond the limit."""
    if not name.lower().endswith(".zip"):
        return source, name
    data = read_all(source)
    archive: ArchiveSpec | None = spec.archive
    if archive is None:
        raise FileRejected("unsupported_format", f"{name}: a ZIP file, but this layout does not accept ZIPs.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise FileRejected(
            "unreadable", f"{name}: the file is not a valid ZIP archive (damaged or truncated)."
        ) from None
    pattern = re.compile(archive.member_pattern)
    members = [i for i in zf.infolist() if not i.is_dir() and pattern.search(i.filename)]
    if not members:
        listed = ", ".join(i.filename for i in zf.infolist()) or "nothing"
        raise FileRejected(
            "archive_member_missing",
            f"{name}: the ZIP holds {listed}; expected a file matching {archive.member_pattern!r}.",
        )
    if len(members) > 1:
        raise FileRejected(
            "archive_ambiguous",
            f"{name}: the ZIP holds {len(members)} files matching {archive.member_pattern!r}; send one file per ZIP.",
        )
    total = sum(i.file_size for i in zf.infolist())
    limit = archive.max_uncompressed_bytes
    if total > limit:
        raise FileRejected(
            "archive_too_large",
            f"{name}: the ZIP expands to {total:,} bytes, more than the {limit:,} allowed; it was not opened.",
        )
    member = members[0]
    try:
        with zf.open(member) as f:
            content = f.read(limit + 1)  # the header's size may lie: never read past the limit
    except (zipfile.BadZipFile, RuntimeError, OSError) as e:
        raise FileRejected("unreadable", f"{name}: {member.filename} could not be extracted: {e}") from None
    if len(content) > limit:
        raise FileRejected("archive_too_large", f"{name}: {member.filename} expands beyond {limit:,} bytes.")
    return content, f"{name}:{member.filename}"


# ------------------------------------------------------------------------------------------------ delimited


class _TextReader(RawReader):
    """A reader of a text file whose record numbers are physical lines."""

    source: Source
    fmt: DelimitedFormat | FixedWidthFormat

    def raw_texts(self, numbers: set[int]) -> dict[int, str]:
        return _lines_of(self.source, numbers, python_encoding(self.fmt.encoding))


class DelimitedReader(_TextReader):
    def __init__(self, source: Source, name: str, fmt: DelimitedFormat):
        if is_blank(source):
            raise empty_file(name)
        check_encoding(source, fmt.encoding, name)
        self.fmt, self.name, self.source = fmt, name, source
        self.invalid = []
        self._skipped: list[int] = []
        self._trailer_line: str | None = None
        self._limit = self._find_trailer(fmt.trailer)
        self.first_data_line = fmt.skip_rows + (1 if fmt.header else 0) + 1
        self._may_have_multiline_values = bool(fmt.quote_char) and self._contains(fmt.quote_char.encode())
        self._breaks_so_far = 0
        self.names = self._peek_names()

    def _contains(self, needle: bytes) -> bool:
        with open_source(self.source) as f:
            while chunk := f.read(CHUNK):
                if needle in chunk:
                    return True
        return False

    def _find_trailer(self, trailer: Trailer | None) -> int | None:
        """Byte offset where the trailer line starts (the data stops there), from the file's tail."""
        if trailer is None:
            return None
        size = source_size(self.source)
        with open_source(self.source) as f:
            start = max(0, size - 65536)
            f.seek(start)
            tail = f.read()
        body = tail.rstrip(b"\r\n\t ")
        cut = body.rfind(b"\n")
        last = body[cut + 1 :].decode(python_encoding(self.fmt.encoding), errors="replace").rstrip("\r")
        if re.search(trailer.match, last):
            self._trailer_line = last
            return start + cut + 1
        if trailer.required:
            raise FileRejected(
                "truncated_file",
                f"{self.name}: the file has no trailer line (expected a last line matching {trailer.match!r}); "
                f"it looks truncated. Please resend the complete file.",
            )
        return None

    def _input(self):
        if self._limit is None:
            return str(self.source) if isinstance(self.source, Path) else io.BytesIO(self.source)
        return io.BufferedReader(_Limited(open_source(self.source), self._limit), buffer_size=CHUNK)

    def _options(self, handler) -> tuple[pcsv.ReadOptions, pcsv.ParseOptions]:
        enc = {"utf-8": "utf8", "utf-8-sig": "utf8", "latin-1": "latin1"}.get(self.fmt.encoding, self.fmt.encoding)
        read = pcsv.ReadOptions(
            encoding=enc,
            skip_rows=self.fmt.skip_rows,
            autogenerate_column_names=not self.fmt.header,
            use_threads=False,  # invalid-row line numbers are only known when parsing serially
            block_size=BLOCK_SIZE,
        )
        parse = pcsv.ParseOptions(
            delimiter=self.fmt.delimiter,
            quote_char=self.fmt.quote_char or False,
            ignore_empty_lines=False,
            invalid_row_handler=handler,
        )
        return read, parse

    def _peek_names(self) -> list[str]:
        read, parse = self._options(lambda row: "skip")  # throwaway handler: each invalid row is seen once
        read.block_size = PEEK_BLOCK_SIZE  # opening parses one block: keep it small, only the header is needed
        try:
            return pcsv.open_csv(self._input(), read_options=read, parse_options=parse).schema.names
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e):
                raise FileRejected("no_rows", f"{self.name}: the file has a header but no data rows.") from None
            raise FileRejected(
                "unreadable", f"{self.name}: the file could not be read as {self.fmt.delimiter!r}-separated text: {e}"
            ) from None

    def _handler(self, row: pcsv.InvalidRow) -> str:
        line = row.number
        if line is None:  # only with threaded parsing, which is never used here
            return "error"
        self._skipped.append(line)
        if row.text.strip():
            self.invalid.append(
                RejectedRow(
                    line, None, "wrong_column_count",
                    f"line {line} has {row.actual_columns} columns but the header has {row.expected_columns}",
                    row.text,
                )
            )  # fmt: skip
        return "skip"

    def _lines_for(self, start_index: int, batch: pa.RecordBatch) -> pa.Array:
        """Physical line of each row: its index, plus lines the reader skipped, plus line breaks inside
        quoted values of earlier rows (a quoted value may span lines)."""
        count = batch.num_rows
        lines = pc.add(pa.array(range(start_index, start_index + count), pa.int64()), self.first_data_line)
        if self._may_have_multiline_values and count:
            breaks = None
            for column in batch.columns:
                n = pc.count_substring(column, "\n")
                breaks = n if breaks is None else pc.add(breaks, n)
            breaks = pc.cast(breaks, pa.int64())
            before = pc.subtract(pc.cumulative_sum(breaks), breaks)
            lines = pc.add(pc.add(lines, before), self._breaks_so_far)
            self._breaks_so_far += pc.sum(breaks).as_py() or 0
        for s in sorted(self._skipped):
            lines = pc.if_else(pc.greater_equal(lines, s), pc.add(lines, 1), lines)
        return lines

    def batches(self) -> Iterator[RawBatch]:
        read, parse = self._options(self._handler)
        convert = pcsv.ConvertOptions(
            column_types={n: pa.string() for n in self.names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        reader = pcsv.open_csv(self._input(), read_options=read, parse_options=parse, convert_options=convert)
        seen = 0
        pending: list[pa.RecordBatch] = []
        pending_lines: list[pa.Array] = []
        try:
            for batch in reader:
                pending_lines.append(self._lines_for(seen, batch))
                pending.append(batch)
                seen += batch.num_rows
                if sum(b.num_rows for b in pending) >= BATCH_ROWS:
                    yield RawBatch(pa.Table.from_batches(pending).combine_chunks(), pa.concat_arrays(pending_lines))
                    pending, pending_lines = [], []
            if pending:
                yield RawBatch(pa.Table.from_batches(pending).combine_chunks(), pa.concat_arrays(pending_lines))
        except pa.ArrowInvalid as e:
            raise FileRejected("unreadable", f"{self.name}: the file could not be parsed: {e}") from None

    def trailer_totals(self) -> TrailerTotals | None:
        trailer = self.fmt.trailer
        if trailer is None or self._trailer_line is None:
            return None
        parts = self._trailer_line.split(self.fmt.delimiter)

        def at(spec: TrailerField, what: str) -> Decimal:
            text = parts[spec.index] if spec.index is not None and spec.index < len(parts) else None
            return _trailer_value(text, spec, what, self.name, self.fmt.decimal, self.fmt.thousands)

        count = int(at(trailer.record_count, "record count")) if trailer.record_count else None
        return TrailerTotals(count, {f: at(s, f"total of {f}") for f, s in trailer.sums.items()})


def _lines_of(source: Source, numbers: set[int], encoding: str) -> dict[int, str]:
    """The text of the given 1-based physical lines, reading the file once."""
    texts: dict[int, str] = {}
    if not numbers:
        return texts
    last = max(numbers)
    with open_source(source) as f:
        for number, line in enumerate(f, start=1):
            if number in numbers:
                texts[number] = line.rstrip(b"\r\n").decode(encoding, errors="replace")
            if number >= last:
                break
    return texts


# ------------------------------------------------------------------------------------------------ xlsx


def cell_text(value: object) -> str | None:
    """An XLSX cell as text the engine parses: numbers with '.' decimals, dates as ISO."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class XlsxReader(RawReader):
    def __init__(self, source: Source, name: str, fmt: XlsxFormat):
        from python_calamine import CalamineWorkbook

        data = read_all(source)  # a workbook is a ZIP of XML: calamine needs all of it
        if not data:
            raise empty_file(name)
        self.name, self.fmt = name, fmt
        self.invalid = []
        try:
            wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        except Exception as e:  # calamine raises its own error types for damaged workbooks
            raise FileRejected("unreadable", f"{name}: the file is not a readable XLSX workbook ({e}).") from None
        try:
            sheet = wb.get_sheet_by_index(fmt.sheet) if isinstance(fmt.sheet, int) else wb.get_sheet_by_name(fmt.sheet)
        except Exception:
            raise FileRejected(
                "missing_sheet", f"{name}: the workbook has no sheet {fmt.sheet!r}; it has {', '.join(wb.sheet_names)}."
            ) from None
        rows = sheet.to_python(skip_empty_area=False)
        first_row = 1  # skip_empty_area=False starts at A1
        header_at = fmt.header_row - first_row
        if len(rows) <= header_at:
            raise FileRejected("no_rows", f"{name}: the sheet ends before its header row {fmt.header_row}.")
        self.names = [cell_text(c) or f"column_{i + 1}" for i, c in enumerate(rows[header_at])]
        self._rows = []
        self._numbers = []
        for offset, row in enumerate(rows[header_at + 1 :], start=fmt.header_row + 1):
            texts = [cell_text(c) for c in row]
            if all(t is None or not str(t).strip() for t in texts):
                continue  # blank rows are not records
            width = len(self.names)
            self._rows.append((texts + [None] * width)[:width])  # cells past the header's width are ignored
            self._numbers.append(offset)
        if not self._rows:
            raise FileRejected("no_rows", f"{name}: the sheet has a header but no data rows.")

    def batches(self) -> Iterator[RawBatch]:
        columns = list(zip(*self._rows, strict=True))
        table = pa.table({n: pa.array(list(col), pa.string()) for n, col in zip(self.names, columns, strict=True)})
        yield RawBatch(table, pa.array(self._numbers, pa.int64()))

    def raw_texts(self, numbers: set[int]) -> dict[int, str]:
        by_number = dict(zip(self._numbers, self._rows, strict=True))
        return {n: ";".join("" if v is None else v for v in by_number[n]) for n in numbers if n in by_number}


# ------------------------------------------------------------------------------------------------ fixed width


def _slice(lines: pa.Array, f: FixedField) -> pa.Array:
    text = pc.utf8_trim_whitespace(pc.utf8_slice_codeunits(lines, f.start - 1, f.end))
    if f.implied_decimals:
        n = f.implied_decimals
        digits = pc.fill_null(pc.match_substring_regex(text, r"^[0-9]+$"), False)
        padded = pc.utf8_lpad(text, n + 1, "0")
        with_point = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(padded, 0, -n), pc.utf8_slice_codeunits(padded, -n), "."
        )
        text = pc.if_else(digits, with_point, text)  # non-digits stay as they are: the engine rejects them
    return text


class FixedWidthReader(_TextReader):
    """Streams lines: header, details in batches, trailer; memory is bounded by the batch size."""

    def __init__(self, source: Source, name: str, fmt: FixedWidthFormat):
        if is_blank(source):
            raise empty_file(name)
        check_encoding(source, fmt.encoding, name)
        self.name, self.fmt, self.source = name, fmt, source
        self.layout = fmt.resolved_layout()
        self.invalid = []
        self.names = list(self.layout.detail.fields)
        self._trailer: str | None = None
        self._header: str | None = None
        self._details = 0

    def _classify(self, number: int, line: str) -> bool:
        """True for a detail line; header, trailer and bad lines are recorded."""
        lay = self.layout
        rt = lay.record_type
        code = line[rt.start - 1 : rt.end]
        if len(line) != lay.line_length:
            self.invalid.append(RejectedRow(
                number, None, "wrong_line_length",
                f"line {number} has {len(line)} characters; the {lay.name} layout has {lay.line_length}", line,
            ))  # fmt: skip
        elif self._trailer is not None:
            self.invalid.append(RejectedRow(
                number, None, "unknown_record_type", f"line {number} comes after the trailer record", line
            ))  # fmt: skip
        elif lay.header and code == lay.header.code and self._header is None and not self._details:
            self._header = line
        elif code == lay.detail.code:
            self._details += 1
            return True
        elif lay.trailer and code == lay.trailer.code:
            self._trailer = line
        else:
            self.invalid.append(RejectedRow(
                number, None, "unknown_record_type",
                f"line {number} has record type {code!r}, not one of the {lay.name} layout's", line,
            ))  # fmt: skip
        return False

    def batches(self) -> Iterator[RawBatch]:
        fields = self.layout.detail.fields
        lines: list[str] = []
        numbers: list[int] = []

        def flush() -> RawBatch:
            arr = pa.array(lines, pa.string())
            batch = RawBatch(pa.table({n: _slice(arr, f) for n, f in fields.items()}), pa.array(numbers, pa.int64()))
            lines.clear()
            numbers.clear()
            return batch

        with open_source(self.source) as raw:
            text = io.TextIOWrapper(raw, encoding=python_encoding(self.fmt.encoding), newline=None)
            for number, line in enumerate(text, start=1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                if self._classify(number, line):
                    lines.append(line)
                    numbers.append(number)
                    if len(lines) >= FIXED_WIDTH_BATCH_LINES:
                        yield flush()
        if lines:
            yield flush()
        if self.layout.trailer and self._trailer is None:
            raise FileRejected(
                "truncated_file",
                f"{self.name}: the file has no trailer record (type {self.layout.trailer.code!r}); it looks "
                "truncated. Please resend the complete file.",
            )
        if not self._details and not self.invalid:
            raise FileRejected("no_rows", f"{self.name}: the file has no detail records.")

    def trailer_totals(self) -> TrailerTotals | None:
        spec = self.layout.trailer_record_count
        if spec is None or self._trailer is None:
            return None
        text = self._trailer[spec.start - 1 : spec.end] if spec.start and spec.end else None
        return TrailerTotals(int(_trailer_value(text, spec, "record count", self.name)))


# ------------------------------------------------------------------------------------------------ json


def json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _flatten(record: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class JsonReader(RawReader):
    def __init__(self, source: Source, name: str, fmt: JsonFormat, document_paths: list[str]):
        data = read_all(source)
        if not data.strip():
            raise empty_file(name)
        check_encoding(source, fmt.encoding, name)
        self.name, self.fmt = name, fmt
        self.invalid = []
        try:
            doc = json.loads(data.decode(python_encoding(fmt.encoding)))
        except json.JSONDecodeError as e:
            raise FileRejected(
                "unreadable", f"{name}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                "the file may be truncated."
            ) from None  # fmt: skip
        node = doc
        for part in fmt.records_path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise FileRejected("missing_records", f"{name}: no list of records at {fmt.records_path!r}.")
            node = node[part]
        if not isinstance(node, list):
            raise FileRejected("missing_records", f"{name}: {fmt.records_path!r} is not a list of records.")
        if not node:
            raise FileRejected("no_rows", f"{name}: the list at {fmt.records_path!r} is empty.")
        self._records = node
        flat = [_flatten(r) if isinstance(r, dict) else {} for r in node]
        for i, r in enumerate(node, start=1):
            if not isinstance(r, dict):
                self.invalid.append(
                    RejectedRow(i, None, "wrong_column_count", f"record {i} is not an object", json_text(r))
                )
        names: dict[str, None] = {}
        for r in flat:
            names.update(dict.fromkeys(r))
        top = _flatten(doc) if isinstance(doc, dict) else {}
        self._document = {p: json_text(top.get(p.removeprefix("$."))) for p in document_paths}
        self._flat = flat
        self._numbers = [i for i, r in enumerate(node, start=1) if isinstance(r, dict)]
        self.names = list(names) + document_paths

    def batches(self) -> Iterator[RawBatch]:
        rows = [self._flat[n - 1] for n in self._numbers]
        columns = {}
        for name in self.names:
            if name in self._document:
                columns[name] = pa.array([self._document[name]] * len(rows), pa.string())
            else:
                columns[name] = pa.array([json_text(r.get(name)) for r in rows], pa.string())
        yield RawBatch(pa.table(columns), pa.array(self._numbers, pa.int64()))

    def raw_texts(self, numbers: set[int]) -> dict[int, str]:
        return {n: json_text(self._records[n - 1]) for n in numbers if 0 < n <= len(self._records)}


def open_reader(data: Source, name: str, spec: FileSpec) -> RawReader:
    fmt = spec.format
    if isinstance(fmt, DelimitedFormat):
        return DelimitedReader(data, name, fmt)
    if isinstance(fmt, XlsxFormat):
        return XlsxReader(data, name, fmt)
    if isinstance(fmt, FixedWidthFormat):
        return FixedWidthReader(data, name, fmt)
    if isinstance(fmt, JsonFormat):
        paths = sorted({c.column for c in spec.column_maps().values() if c.column and c.column.startswith("$.")})
        return JsonReader(data, name, fmt, paths)
    raise FileRejected("unsupported_format", f"{name}: format {fmt.kind!r} is not supported")
