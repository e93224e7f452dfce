"""XLSX workbooks: one sheet, read whole with calamine (a workbook is a ZIP of XML), cells turned into the text
the engine parses; record numbers are sheet rows."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from fidc_assets.lib.ingest.readers.common import (
    FileRejected,
    RawBatch,
    RawReader,
    Rejections,
    Source,
    empty_file,
    source_size,
)
from fidc_assets.lib.ingest.specs import XlsxFormat


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

        if not source_size(source):
            raise empty_file(name)
        self.name, self.fmt = name, fmt
        self.invalid = Rejections(name)
        try:  # a workbook is a ZIP of XML: calamine opens a file on disk itself (not all of it read first)
            if isinstance(source, Path):
                wb = CalamineWorkbook.from_path(str(source))
            else:
                wb = CalamineWorkbook.from_filelike(io.BytesIO(source))
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
