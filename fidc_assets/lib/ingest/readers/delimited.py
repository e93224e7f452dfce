"""Delimited text (CSV and its relatives): streamed through Arrow's CSV reader in bounded blocks, with the
physical line of every row kept for the quarantine, and an optional trailer line with control totals."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pcsv

from fidc_assets.lib.ingest.readers.common import (
    CHUNK,
    FileRejected,
    RawBatch,
    RejectedRow,
    Rejections,
    Source,
    TextReader,
    TrailerTotals,
    check_encoding,
    empty_file,
    is_blank,
    open_source,
    python_encoding,
    source_size,
    trailer_value,
)
from fidc_assets.lib.ingest.specs import DelimitedFormat, Trailer, TrailerField

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute

#: CSV bytes per block read. Arrow's streaming reader holds many blocks in flight, so this bounds its memory;
#: blocks are then grouped into batches of BATCH_ROWS rows for conversion (few, large kernel calls). Both bound
#: what a landing holds, whatever the file's size. Peak RSS of landing the 1M-row alfa file (bench/README.md,
#: "make bench-land"): 4 MiB x 100k rows 791 MiB, 4 MiB x 50k 694-711, 4 MiB x 25k 643, 1 MiB x 50k 576,
#: 512 KiB x 50k 537, 1 MiB x 25k 509; the landing's time did not change measurably.
BLOCK_SIZE = 1 << 20
BATCH_ROWS = 25_000
PEEK_BLOCK_SIZE = 1 << 20
#: Arrow cannot split a row longer than about two blocks ("straddling object straddles two block boundaries"):
#: a file with longer lines is read with blocks grown to fit its longest line, up to this; a file with a line
#: longer than this is rejected as `field_too_long`, naming the line.
MAX_BLOCK_SIZE = 1 << 26
#: A field longer than this (bytes) rejects its row (`field_too_long`): no custodian field is that long, and the
#: lake, the marts and BI tools are not the place for it. The quarantine keeps the start of the line.
MAX_FIELD_BYTES = 1 << 20
_RAW_TEXT_PREFIX = 200
_STRADDLING = "straddling object straddles"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def longest_line(source: Source) -> tuple[int, int]:
    """(length in bytes, 1-based physical line number) of the longest line, reading the file once."""
    length, line, _ = scan_lines(source, None)
    return length, line


def scan_lines(source: Source, needle: bytes | None) -> tuple[int, int, bool]:
    """(length in bytes and 1-based physical line number of the longest line, whether `needle` occurs), in one
    read of the file: the reader's checks before parsing share it."""
    best, best_line = 0, 1
    start = 0  # file offset where the current line began
    line = 1
    offset = 0
    found = False
    with open_source(source) as f:
        while chunk := f.read(CHUNK * 8):
            if needle is not None and not found:
                found = needle in chunk  # a needle of one byte (a quote) cannot straddle two chunks
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + offset
            if len(ends):
                starts = np.concatenate(([start], ends[:-1] + 1))
                lengths = ends - starts
                i = int(np.argmax(lengths))
                if lengths[i] > best:
                    best, best_line = int(lengths[i]), line + i
                line += len(ends)
                start = int(ends[-1]) + 1
            offset += len(chunk)
    if offset - start > best:
        best, best_line = offset - start, line
    return best, best_line, found


#: A file whose every line is shorter than this needs neither larger blocks (it is below BLOCK_SIZE) nor the
#: per-batch check for fields over MAX_FIELD_BYTES (three times it, a single-byte encoding's growth to UTF-8,
#: is below that): proving it needs no line lengths (see `lines_shorter_than`).
SHORT_LINE = 1 << 18


def lines_shorter_than(source: Source, limit: int, needle: bytes | None) -> tuple[bool, bool]:
    """(whether every line is shorter than `limit` bytes, whether `needle` occurs), in one read and without
    finding each line break: when every aligned window of `limit // 2` bytes holds a line break, no line
    can be `limit` long (it would hold a whole window). False is no proof of a long line: `scan_lines` then
    measures them, and finds the needle too (so on False the second value is not read to the end)."""
    piece = limit // 2
    size = CHUNK * 8 // piece * piece  # chunks made of whole windows: windows stay aligned across chunks
    short, found = True, False
    with open_source(source) as f:
        while chunk := f.read(size):
            if needle is not None and not found:
                found = needle in chunk
            if short:
                for i in range(0, len(chunk) - piece + 1, piece):
                    if chunk.find(b"\n", i, i + piece) < 0:
                        short = False
                        break
            if not short:
                break  # scan_lines reads the file again and answers both questions
    return short, found


class _Straddling(Exception):
    """Arrow met a row longer than its blocks."""


def _past_skipped(lines: pa.Array, skipped: list[int]) -> pa.Array:
    """Shift each line past the skipped (invalid) physical lines at or before it. Equivalent to adding 1 for
    each skipped line s, in ascending order, to the lines >= s; computed in one search: with the skipped lines
    sorted s_1 < s_2 < ..., a line x moves past s_j exactly when x >= s_j - (j - 1), and those thresholds
    never decrease, so the shift of x is the number of thresholds <= x."""
    if not skipped:
        return lines
    ordered = np.unique(np.asarray(skipped, dtype=np.int64))
    thresholds = ordered - np.arange(len(ordered), dtype=np.int64)
    values = lines.to_numpy(zero_copy_only=False)
    return pa.array(values + np.searchsorted(thresholds, values, side="right"), pa.int64())


class _Limited(io.RawIOBase):
    """A binary file read only up to `limit` bytes (the data before a trailer line)."""

    def __init__(self, f: io.BufferedReader | io.BytesIO, limit: int):
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


class DelimitedReader(TextReader[DelimitedFormat]):
    def __init__(self, source: Source, name: str, fmt: DelimitedFormat):
        if is_blank(source):
            raise empty_file(name)
        check_encoding(source, fmt.encoding, name)
        self.fmt, self.name, self.source = fmt, name, source
        self.invalid = Rejections(name)
        self._abort: FileRejected | None = None  # raised by the invalid-row handler, re-raised by batches()
        self._skipped: list[int] = []
        self._trailer_line: str | None = None
        self._limit = self._find_trailer(fmt.trailer)
        self.first_data_line = fmt.skip_rows + (1 if fmt.header else 0) + 1
        quote = fmt.quote_char.encode() if fmt.quote_char and len(fmt.quote_char.encode()) == 1 else None
        short, quoted = lines_shorter_than(self.source, SHORT_LINE, quote)
        if short:  # an upper bound of the longest line is all the two decisions below need
            length, line = SHORT_LINE - 1, 1
        else:
            length, line, quoted = scan_lines(self.source, quote)
        if fmt.quote_char and quote is None:
            quoted = self._contains(fmt.quote_char.encode())
        self._may_have_multiline_values = quoted
        # without quotes a field never spans lines: none is longer than the longest line (times 3 once a
        # single-byte encoding is transcoded to UTF-8), so the per-batch check for fields over MAX_FIELD_BYTES
        # is needed only when a line may be that long
        growth = 1 if fmt.encoding in ("utf-8", "utf-8-sig") else 3
        self._fields_may_be_huge = quoted or length * growth > MAX_FIELD_BYTES
        self._breaks_so_far = 0
        self.block_size = self._block_size(length, line)
        self.names = self._peek_names()

    def _block_size(self, length: int, line: int) -> int:
        """BLOCK_SIZE, or a block grown to hold the longest line (see MAX_BLOCK_SIZE)."""
        if length < BLOCK_SIZE:
            return BLOCK_SIZE
        if length >= MAX_BLOCK_SIZE:
            raise self._too_long(f"line {line} is {_mib(length)} long")
        return min(MAX_BLOCK_SIZE, 1 << length.bit_length())

    def _too_long(self, what: str) -> FileRejected:
        return FileRejected(
            "field_too_long",
            f"{self.name}: {what}, a field longer than the {MAX_BLOCK_SIZE >> 20} MiB a line may hold; the file "
            "cannot be read. Check the file (a missing quote or line break?) and resend it.",
        )

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
            block_size=self.block_size,
        )
        parse = pcsv.ParseOptions(
            delimiter=self.fmt.delimiter,
            quote_char=self.fmt.quote_char or False,
            ignore_empty_lines=False,
            invalid_row_handler=handler,
        )
        return read, parse

    def _peek_names(self) -> list[str]:
        """The column names, from the file's first lines only (up to the header, or the first row without one):
        opening the whole file would parse a block of it, and Arrow's cost per invalid row grows with the block
        (a block of a million bad lines took minutes)."""
        read, parse = self._options(lambda row: "skip")
        try:
            return pcsv.open_csv(io.BytesIO(self._head()), read_options=read, parse_options=parse).schema.names
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e):
                raise FileRejected("no_rows", f"{self.name}: the file has a header but no data rows.") from None
            raise FileRejected(
                "unreadable", f"{self.name}: the file could not be read as {self.fmt.delimiter!r}-separated text: {e}"
            ) from None

    def _head(self) -> bytes:
        """The bytes of the first `skip_rows` + 1 lines."""
        wanted, head = self.fmt.skip_rows + 1, b""
        with self._input_stream() as f:
            while head.count(b"\n") < wanted and (chunk := f.read(PEEK_BLOCK_SIZE)):
                head += chunk
        cut = -1
        for _ in range(wanted):
            cut = head.find(b"\n", cut + 1)
            if cut < 0:
                return head
        return head[: cut + 1]

    def _input_stream(self):
        source = self._input()
        return open(source, "rb") if isinstance(source, str) else source

    def _handler(self, row: pcsv.InvalidRow) -> str:
        line = row.number
        if line is None:  # only with threaded parsing, which is never used here
            return "error"
        self._skipped.append(line)
        if row.text.strip():
            detail = None
            if self.invalid.wants_detail():
                detail = RejectedRow(
                    line, None, "wrong_column_count",
                    f"line {line} has {row.actual_columns} columns but the header has {row.expected_columns}",
                    row.text,
                )  # fmt: skip
            try:
                if detail is not None:
                    self.invalid.append(detail)
                else:
                    self.invalid.count(1, line)
            except FileRejected as e:  # too many: stop parsing (Arrow raises), batches() says why
                self._abort = e
                return "error"
        return "skip"

    def _lines_for(self, start_index: int, batch: pa.RecordBatch) -> pa.Array:
        """Physical line of each row: its index, plus lines the reader skipped, plus line breaks inside
        quoted values of earlier rows (a quoted value may span lines)."""
        count = batch.num_rows
        first = start_index + self.first_data_line
        lines = pa.array(np.arange(first, first + count, dtype=np.int64), pa.int64())
        if self._may_have_multiline_values and count:
            breaks = None
            for column in batch.columns:
                n = pc.count_substring(column, "\n")
                breaks = n if breaks is None else pc.add(breaks, n)
            breaks = pc.cast(breaks, pa.int64())
            before = pc.subtract(pc.cumulative_sum(breaks), breaks)
            lines = pc.add(pc.add(lines, before), self._breaks_so_far)
            self._breaks_so_far += pc.sum(breaks).as_py() or 0
        return _past_skipped(lines, self._skipped)

    def batches(self) -> Iterator[RawBatch]:
        """Batches of BATCH_ROWS rows; if Arrow still finds a row longer than its blocks (a quoted value
        spanning lines) before anything was handed out, read again with blocks twice as large."""
        while True:
            started = False
            try:
                for batch in self._batches():
                    started = True
                    yield batch
                return
            except _Straddling:
                if started or self.block_size >= MAX_BLOCK_SIZE:
                    raise self._too_long(f"a row from about line {self._rows_seen + self.first_data_line}") from None
                self.block_size *= 2
                self.invalid = Rejections(self.name)
                self._skipped, self._breaks_so_far = [], 0

    def _batches(self) -> Iterator[RawBatch]:
        read, parse = self._options(self._handler)
        convert = pcsv.ConvertOptions(
            column_types={n: pa.string() for n in self.names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        seen = self._rows_seen = 0
        pending: list[pa.RecordBatch] = []
        pending_lines: list[pa.Array] = []
        try:
            reader = pcsv.open_csv(self._input(), read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                pending_lines.append(self._lines_for(seen, batch))
                pending.append(batch)
                seen = self._rows_seen = seen + batch.num_rows
                if sum(b.num_rows for b in pending) >= BATCH_ROWS:
                    yield self._without_huge_fields(pa.Table.from_batches(pending), pa.concat_arrays(pending_lines))
                    pending, pending_lines = [], []
            if pending:
                yield self._without_huge_fields(pa.Table.from_batches(pending), pa.concat_arrays(pending_lines))
        except pa.ArrowInvalid as e:
            if self._abort is not None:
                raise self._abort from None
            if _STRADDLING in str(e):
                raise _Straddling from None
            raise FileRejected("unreadable", f"{self.name}: the file could not be parsed: {e}") from None

    def _without_huge_fields(self, table: pa.Table, lines: pa.Array) -> RawBatch:
        """Rows with a field longer than MAX_FIELD_BYTES become rejected rows (`field_too_long`)."""
        table = table.combine_chunks()
        if not table.num_rows or not self._fields_may_be_huge:
            return RawBatch(table, lines)
        huge = None
        for column in table.columns:
            long = pc.greater(pc.binary_length(column), MAX_FIELD_BYTES)
            huge = long if huge is None else pc.or_(huge, long)
        if huge is None or not pc.any(huge).as_py():
            return RawBatch(table, lines)
        rows: list[int] = pc.indices_nonzero(huge).to_pylist()
        for i in rows:
            line = lines[i].as_py()
            values = {name: table.column(name)[i].as_py() or "" for name in table.column_names}
            name, value = max(values.items(), key=lambda kv: len(kv[1].encode()))
            text = self.fmt.delimiter.join(v[:_RAW_TEXT_PREFIX] for v in values.values())
            detail = None
            if self.invalid.wants_detail():
                detail = RejectedRow(
                    line, name, "field_too_long",
                    f"line {line}: {name} is {_mib(len(value.encode()))} long, more than the "
                    f"{_mib(MAX_FIELD_BYTES)} a field may hold",
                    f"{text[:2 * _RAW_TEXT_PREFIX]}…",
                )  # fmt: skip
            self.invalid.append(detail)
        keep = pc.invert(huge)
        return RawBatch(table.filter(keep), lines.filter(keep))

    def trailer_totals(self) -> TrailerTotals | None:
        trailer = self.fmt.trailer
        if trailer is None or self._trailer_line is None:
            return None
        parts = self._trailer_line.split(self.fmt.delimiter)

        def at(spec: TrailerField, what: str) -> Decimal:
            text = parts[spec.index] if spec.index is not None and spec.index < len(parts) else None
            return trailer_value(text, spec, what, self.name, self.fmt.decimal, self.fmt.thousands)

        count = int(at(trailer.record_count, "record count")) if trailer.record_count else None
        return TrailerTotals(count, {f: at(s, f"total of {f}") for f, s in trailer.sums.items()})
