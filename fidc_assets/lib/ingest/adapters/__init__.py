"""The one engine that reads every custodian file through its YAML spec (see `engine`).

`engine` streams a file through the format reader, `convert` (typing and checks per batch), `duplicates`
(repeated business keys) and sorts rows into accepted and rejected; `reasons` holds the reason codes and the
messages. Callers use the names re-exported here.
"""

from __future__ import annotations

from fidc_assets.lib.ingest.adapters.convert import DATED_BY_FILE
from fidc_assets.lib.ingest.adapters.engine import FileParse, ParseResult, parse_bytes
from fidc_assets.lib.ingest.adapters.reasons import FILE_REASONS, ROW_REASONS
from fidc_assets.lib.ingest.readers import FileRejected, RejectedRow

__all__ = [
    "DATED_BY_FILE",
    "FILE_REASONS",
    "ROW_REASONS",
    "FileParse",
    "FileRejected",
    "ParseResult",
    "RejectedRow",
    "parse_bytes",
]
