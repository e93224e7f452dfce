"""Compaction: the small data files of each partition rewritten as one, in one atomic commit per table.

Every delivery is one commit, and a commit that replaces a fund-day writes new Parquet files for the
partitions it touches: a month of daily deliveries leaves a month partition with dozens of small files, and
every scan opens each of them. pyiceberg 0.12 has no rewrite-data-files action, so it is built on its
transaction API: per partition with at least `min_files` files smaller than `small_file_bytes`, those files'
rows are read (through pyiceberg's own reader, so schema evolution applies) and written again as files of the
table's target size; then one overwrite snapshot deletes the old files and adds the new ones. Readers see
the old files or the new ones, never both and never neither; the rows are the same rows.

Only quiet partitions are compacted: none of their files added in the last `quiet_for` (default 7 days).
Landing is copy-on-write: a delivery that replaces a fund-day rewrites every file holding rows of that day,
so compacting the month still receiving daily files would make each later delivery rewrite the whole month.
A month is compacted once its deliveries stop (a late re-delivery rewrites it once more, which is rare).

A partition whose files carry delete files (merge-on-read deletes; pyiceberg writes copy-on-write, so the
lake has none) is left alone. A concurrent commit that removed one of the files being rewritten makes the
commit fail validation; the files written for it are deleted again and the table is unchanged (the next
night tries again). The nightly job runs when no custodian delivers, so this is rare.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files  # pyright: ignore[reportPrivateUsage]
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table
from pyiceberg.typedef import Record

#: Snapshot summary property marking a compaction commit (the data did not change).
PROP_OPERATION = "fidc.operation"
OPERATION = "compaction"
#: A data file smaller than this is "small" (Iceberg's default target file size is 512 MiB).
DEFAULT_SMALL_FILE_BYTES = 32 * 1024 * 1024
#: A partition is compacted when it has at least this many small files.
DEFAULT_MIN_FILES = 2
#: ... and none of its files was added more recently than this.
DEFAULT_QUIET_FOR = dt.timedelta(days=7)


@dataclass(frozen=True)
class Compacted:
    table: str
    partitions: int  # partitions rewritten
    files_before: int  # data files of the table before
    files_after: int  # and after
    rewritten: int  # small files replaced
    written: int  # files written in their place
    rows: int  # rows rewritten (the same rows)
    snapshot_id: int | None  # the compaction's one snapshot; None when nothing was compacted
    skipped: str = ""  # why a table was left alone (a concurrent commit won)


def added_at(table: Table) -> dict[str, dt.datetime]:
    """When each live data file was added (its snapshot's time; epoch when that snapshot has expired)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return {}
    times = {s.snapshot_id: s.timestamp_ms for s in table.metadata.snapshots}
    out = {}
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            ms = times.get(entry.snapshot_id, 0) if entry.snapshot_id is not None else 0
            out[entry.data_file.file_path] = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return out


def _groups(
    tasks: list[FileScanTask],
    small_file_bytes: int,
    min_files: int,
    busy_after: dt.datetime,
    added: dict[str, dt.datetime],
) -> list[tuple[tuple[int, Record], list[FileScanTask]]]:
    by_partition: dict[tuple[int, Record], list[FileScanTask]] = defaultdict(list)
    left_alone: set[tuple[int, Record]] = set()
    epoch = dt.datetime.fromtimestamp(0, dt.UTC)
    for task in tasks:
        key = (task.file.spec_id, task.file.partition)
        if task.delete_files or added.get(task.file.file_path, epoch) > busy_after:
            left_alone.add(key)
        if task.file.file_size_in_bytes < small_file_bytes:
            by_partition[key].append(task)
    return [(k, v) for k, v in by_partition.items() if len(v) >= min_files and k not in left_alone]


def compact_table(
    table: Table,
    small_file_bytes: int = DEFAULT_SMALL_FILE_BYTES,
    min_files: int = DEFAULT_MIN_FILES,
    quiet_for: dt.timedelta = DEFAULT_QUIET_FOR,
    snapshot_properties: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> Compacted:
    """Rewrite each quiet partition's small files as one (per target size), all in one overwrite snapshot."""
    name = ".".join(table.name())
    tasks = list(table.scan().plan_files())
    files_before = len(tasks)
    busy_after = (now or dt.datetime.now(dt.UTC)) - quiet_for
    groups = _groups(tasks, small_file_bytes, min_files, busy_after, added_at(table))
    if not groups:
        return Compacted(name, 0, files_before, files_before, 0, 0, 0, None)
    props = {PROP_OPERATION: OPERATION, **(snapshot_properties or {})}
    written: list[DataFile] = []
    rewritten = rows = 0
    try:
        with table.transaction() as tx:
            with tx.update_snapshot(snapshot_properties=props).overwrite() as overwrite:
                for _, group in groups:
                    data = ArrowScan(tx.table_metadata, table.io, table.schema(), AlwaysTrue()).to_table(group)
                    rows += data.num_rows
                    for data_file in _dataframe_to_data_files(
                        table_metadata=tx.table_metadata, df=data, io=table.io, write_uuid=overwrite.commit_uuid
                    ):
                        written.append(data_file)
                        overwrite.append_data_file(data_file)
                    for task in group:
                        overwrite.delete_data_file(task.file)
                        rewritten += 1
    except (CommitFailedException, ValidationException) as e:
        # the commit definitely did not happen: the files written for it are garbage now
        for data_file in written:
            table.io.delete(data_file.file_path)
        return Compacted(name, 0, files_before, files_before, 0, 0, 0, None, skipped=f"{type(e).__name__}: {e}")
    table.refresh()
    snapshot = table.current_snapshot()
    files_after = len(list(table.scan().plan_files()))
    return Compacted(
        name, len(groups), files_before, files_after, rewritten, len(written), rows,
        snapshot.snapshot_id if snapshot else None,
    )  # fmt: skip
