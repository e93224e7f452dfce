"""What every format reader shares: the reader interface and its results, the source of a file (on disk or in
memory), the checks done before parsing (blank file, encoding) and the whole-file error.

A reader only splits records and fields; typing, validation and mapping happen once, for every format, in
`fidc_assets.lib.ingest.adapters`. Whatever a reader cannot split becomes a `RejectedRow`; whatever makes the
whole file unusable raises `FileRejected` with a message for the custodian's analyst.
"""

from __future__ import annotations

import codecs
import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Generic, TypeVar

import pyarrow as pa

from fidc_assets.lib.ingest.specs import DelimitedFormat, FixedWidthFormat, TrailerField


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


#: Rejected rows of a file kept with their full detail (line, field, reason, message, raw text) for the quarantine
#: and the CLI; every further one is only counted. Bounds memory however many rows a file gets wrong.
REJECTED_ROWS_KEPT = 1_000
#: A file with more rejected rows than this is quarantined whole as soon as the count passes it (it is not
#: read to its end): such a file is of another layout or damaged, not a delivery with a few bad rows.
MAX_REJECTED_ROWS = 100_000
#: A file is also quarantined whole when, read to its end, more than this share of its records were rejected
#: (and more than REJECTED_ROWS_KEPT rows: a small file with a few bad rows still lands its good ones).
MAX_REJECTED_SHARE = 0.5


def too_many_rejected(name: str, total: int, detail: str) -> FileRejected:
    return FileRejected(
        "too_many_rejected_rows",
        f"{name}: {detail} ({total:,} rows rejected); a file this wrong is not a delivery with a few bad rows, "
        "so none of it was loaded. Check that it is the right file in the agreed layout and resend it.",
    )


class Rejections:
    """The rejected rows of one file: all counted (`total`), the first `keep` kept with their detail (`rows`,
    in the order added), past `limit` the whole file rejected (`append` raises `FileRejected`)."""

    def __init__(self, name: str, keep: int = REJECTED_ROWS_KEPT, limit: int = MAX_REJECTED_ROWS):
        self.name, self.keep, self.limit = name, keep, limit
        self.rows: list[RejectedRow] = []
        self.total = 0

    def wants_detail(self) -> bool:
        """Whether the next rejected row is kept: callers skip building its message when it is not."""
        return self.total < self.keep

    def append(self, row: RejectedRow | None) -> None:
        """Count one rejected row (kept when `wants_detail`; None: counted only)."""
        if row is not None and len(self.rows) < self.keep:
            self.rows.append(row)
        self.count(1, None if row is None else row.line_number)

    def count(self, n: int, line: int | None = None, also: int = 0) -> None:
        """Count `n` more rejected rows (up to `line`); `also`: rejected rows counted elsewhere for the same
        file (the reader's), which the limit includes."""
        self.total += n
        if self.total + also > self.limit:
            first = f"; the first: line {self.rows[0].line_number}: {self.rows[0].message}" if self.rows else ""
            where = f" by line {line}" if line is not None else ""
            raise too_many_rejected(
                self.name, self.total + also, f"more than {self.limit:,} rows were rejected{where}{first}"
            )

    def __len__(self) -> int:
        return self.total

    def __bool__(self) -> bool:
        return self.total > 0


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
    invalid: Rejections  # rows the reader could not split: counted, the first kept in detail

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


def open_source(source: Source) -> io.BufferedReader | io.BytesIO:
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


def empty_file(name: str) -> FileRejected:
    return FileRejected("empty_file", f"{name}: the file is empty; nothing was received for this day.")


def python_encoding(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _check_text(head: bytes, encoding: str, name: str) -> None:
    """The first bytes of a text delivery: UTF-16 (a byte order mark, or a NUL beside most characters) and binary
    data (any NUL byte: no latin-1 or UTF-8 text holds one) are named as such, not as a wrong layout."""
    if encoding.lower().startswith("utf-16"):
        return
    utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    if not utf16 and len(head) >= 4:
        odd, even = head[1::2], head[0::2]
        utf16 = odd.count(0) > 0.4 * len(odd) or even.count(0) > 0.4 * len(even)
    if utf16:
        raise FileRejected(
            "wrong_encoding",
            f'{name}: the file is encoded as UTF-16 (two bytes per character, as Excel\'s "Unicode text" saves), '
            f"but the layout says {encoding}. Please resend it saved as {encoding}.",
        )
    if b"\x00" in head:
        raise FileRejected(
            "wrong_encoding",
            f"{name}: this is not a text file (it holds binary data, byte {head.index(0)} is NUL): perhaps a "
            f"spreadsheet, archive or PDF saved under a text file's name. Please resend the {encoding} text "
            "file the layout describes.",
        )


def check_encoding(source: Source, encoding: str, name: str) -> None:
    """Decode the whole file once, in chunks, so a wrong encoding is named with its byte and line.
    (Every byte is a latin-1 character: there only the byte order mark is checked.)"""
    with open_source(source) as f:
        head = f.read(4096)
    _check_text(head, encoding, name)
    head = head[:3]
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


def trailer_value(
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


TextFormat = TypeVar("TextFormat", DelimitedFormat, FixedWidthFormat)


class TextReader(RawReader, Generic[TextFormat]):
    """A reader of a text file whose record numbers are physical lines."""

    source: Source
    fmt: TextFormat

    def raw_texts(self, numbers: set[int]) -> dict[int, str]:
        return lines_of(self.source, numbers, python_encoding(self.fmt.encoding))


def lines_of(source: Source, numbers: set[int], encoding: str) -> dict[int, str]:
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
