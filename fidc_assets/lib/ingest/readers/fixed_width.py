"""Fixed-width text (CNAB-style layouts): header, detail and trailer records told apart by their record type,
fields sliced by position (implied decimals restored), streamed in bounded batches of lines."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as _compute

from fidc_assets.lib.ingest.readers.common import (
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
    trailer_value,
)
from fidc_assets.lib.ingest.specs import FixedField, FixedWidthFormat

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute

FIXED_WIDTH_BATCH_LINES = 200_000


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


class FixedWidthReader(TextReader[FixedWidthFormat]):
    """Streams lines: header, details in batches, trailer; memory is bounded by the batch size."""

    def __init__(self, source: Source, name: str, fmt: FixedWidthFormat):
        if is_blank(source):
            raise empty_file(name)
        check_encoding(source, fmt.encoding, name)
        self.name, self.fmt, self.source = name, fmt, source
        self.layout = fmt.resolved_layout()
        self.invalid = Rejections(name)
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
        return TrailerTotals(int(trailer_value(text, spec, "record count", self.name)))
