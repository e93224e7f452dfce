"""Format readers (being split into one module per format: this commit only moves the file)."""

from fidc_assets.lib.ingest.readers.delimited import (
    BLOCK_SIZE,
    FIXED_WIDTH_BATCH_LINES,
    FileRejected,
    RawBatch,
    RawReader,
    RejectedRow,
    Source,
    open_reader,
    unpack_archive,
)

__all__ = [
    "BLOCK_SIZE",
    "FIXED_WIDTH_BATCH_LINES",
    "FileRejected",
    "RawBatch",
    "RawReader",
    "RejectedRow",
    "Source",
    "open_reader",
    "unpack_archive",
]
