"""The engine that reads every custodian file (being split by concern: this commit only moves the file)."""

from fidc_assets.lib.ingest.adapters.engine import (
    DATED_BY_FILE,
    ROW_REASONS,
    FileParse,
    FileRejected,
    ParseResult,
    RejectedRow,
    parse_bytes,
)

__all__ = ["DATED_BY_FILE", "ROW_REASONS", "FileParse", "FileRejected", "ParseResult", "RejectedRow", "parse_bytes"]
