"""The defaults of the lake's maintenance, in a module that imports nothing heavy: the Dagster definitions
show them as run-config defaults at load time without importing pyiceberg (`compaction`, `orphans` use them)."""

from __future__ import annotations

import datetime as dt

#: A data file smaller than this is "small" (Iceberg's default target file size is 512 MiB).
DEFAULT_SMALL_FILE_BYTES = 32 * 1024 * 1024
#: A partition is compacted when it has at least this many small files.
DEFAULT_MIN_FILES = 2
#: ... and none of its files was added more recently than this.
DEFAULT_QUIET_FOR = dt.timedelta(days=7)
#: Apache Iceberg's default for remove_orphan_files' older_than: files younger than this are never removed.
DEFAULT_MARGIN = dt.timedelta(days=3)
