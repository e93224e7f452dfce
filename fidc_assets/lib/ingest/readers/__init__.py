"""Format readers: bytes of a received file → batches of raw text columns with their line numbers.

One module per format (`delimited`, `xlsx`, `fixed_width`, `json`), what they share in `common`, and the
unpacker for ZIP deliveries in `unpack`. A reader only splits records and fields; typing, validation and
mapping happen once, for every format, in `fidc_assets.lib.ingest.adapters`. Whatever a reader cannot split
(a line with the wrong number of columns, a fixed-width line of the wrong length) becomes a `RejectedRow`;
whatever makes the whole file unusable raises `FileRejected` with a message for the custodian's analyst.
"""

from __future__ import annotations

from fidc_assets.lib.ingest.readers.common import (
    FileRejected,
    RawBatch,
    RawReader,
    RejectedRow,
    Rejections,
    Source,
    TrailerTotals,
)
from fidc_assets.lib.ingest.readers.delimited import DelimitedReader
from fidc_assets.lib.ingest.readers.fixed_width import FixedWidthReader
from fidc_assets.lib.ingest.readers.json import JsonReader
from fidc_assets.lib.ingest.readers.unpack import unpack_archive
from fidc_assets.lib.ingest.readers.xlsx import XlsxReader
from fidc_assets.lib.ingest.specs import DelimitedFormat, FileSpec, FixedWidthFormat, JsonFormat, XlsxFormat

__all__ = [
    "DelimitedReader",
    "FileRejected",
    "FixedWidthReader",
    "JsonReader",
    "RawBatch",
    "RawReader",
    "RejectedRow",
    "Rejections",
    "Source",
    "TrailerTotals",
    "XlsxReader",
    "open_reader",
    "unpack_archive",
]


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
