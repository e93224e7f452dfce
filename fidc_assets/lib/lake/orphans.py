"""Orphan files: data and metadata files under a table's location that no snapshot or metadata references.

A landing killed mid-commit, or a commit that lost a conflict, leaves the Parquet data files (and manifests)
it wrote behind: no snapshot points at them, so no reader sees them, but they take storage forever. Snapshot
expiry (pyiceberg 0.12 removes expired snapshots from the metadata only) leaves the files only the expired
snapshots referenced in the same state. pyiceberg 0.12 has no orphan removal (`table.maintenance` offers only
`expire_snapshots`), so it is built here on the table's metadata and its FileIO's filesystem:

- referenced: every retained snapshot's manifest list, its manifests and their live data and delete files;
  the current metadata file and the previous ones in its metadata log; statistics files;
- listed: every file under the table's location (recursive listing, with modification times);
- orphan: listed, not referenced, and older than the safety margin. The margin is what keeps a file that a
  commit still running may reference (written before its commit, by a writer that has not committed yet):
  pick it longer than the longest landing or compaction can take (the default is 3 days, as Apache
  Iceberg's own `remove_orphan_files`). Files under another table's location nested inside this one are
  never considered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.fs as pafs
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

#: Apache Iceberg's default for remove_orphan_files' older_than: files younger than this are never removed.
DEFAULT_MARGIN = dt.timedelta(days=3)


class OrphanScanError(RuntimeError):
    """The table's files cannot be listed with its FileIO (only pyarrow's FileIO exposes a filesystem)."""


@dataclass(frozen=True)
class StoredFile:
    path: str  # as the filesystem names it: /abs/path (local) or bucket/key (S3)
    size: int
    modified: dt.datetime | None


@dataclass(frozen=True)
class OrphanReport:
    table: str
    listed: int  # files under the table's location
    referenced: int  # distinct files the metadata references
    orphans: tuple[StoredFile, ...]  # unreferenced and older than the margin
    too_young: int  # unreferenced but within the margin: kept (a running commit may reference them)
    deleted: int  # orphans removed (0 in a dry run)

    @property
    def orphan_bytes(self) -> int:
        return sum(f.size for f in self.orphans)


def _path(location: str) -> str:
    """A location as the filesystem names it (scheme and `file://` dropped), to compare the two sides."""
    return PyArrowFileIO.parse_location(location)[2].rstrip("/")


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata references (filesystem paths, see `_path`)."""
    metadata = table.metadata
    io = table.io
    out = {_path(table.metadata_location)}
    out.update(_path(entry.metadata_file) for entry in metadata.metadata_log)
    out.update(_path(s.statistics_path) for s in metadata.statistics)
    out.update(_path(s.statistics_path) for s in metadata.partition_statistics)
    manifests: dict[str, object] = {}
    for snapshot in metadata.snapshots:
        out.add(_path(snapshot.manifest_list))
        for manifest in snapshot.manifests(io):
            manifests.setdefault(manifest.manifest_path, manifest)
    for path, manifest in manifests.items():
        out.add(_path(path))
        for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):  # pyright: ignore[reportAttributeAccessIssue]
            out.add(_path(entry.data_file.file_path))
    return out


def _filesystem(table: Table) -> tuple[pafs.FileSystem, str]:
    io = table.io
    if not isinstance(io, PyArrowFileIO):
        raise OrphanScanError(
            f"{'.'.join(table.name())}: orphan removal lists files through pyarrow's FileIO, the table uses "
            f"{type(io).__name__} (unset py-io-impl)"
        )
    scheme, netloc, path = io.parse_location(table.location())
    return io.fs_by_scheme(scheme, netloc), path.rstrip("/")


def list_files(fs: pafs.FileSystem, root: str, exclude: Iterable[str] = ()) -> list[StoredFile]:
    """Every file under `root` (recursive), except those under a root of `exclude`."""
    excluded = tuple(e.rstrip("/") + "/" for e in exclude)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    out = []
    for info in infos:
        if info.type != pafs.FileType.File or info.path.startswith(excluded):
            continue
        modified = info.mtime
        if modified is not None and modified.tzinfo is None:
            modified = modified.replace(tzinfo=dt.UTC)
        out.append(StoredFile(info.path.rstrip("/"), info.size or 0, modified))
    return out


def remove_orphans(
    table: Table,
    older_than: dt.timedelta = DEFAULT_MARGIN,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    other_locations: Iterable[str] = (),
) -> OrphanReport:
    """Find the table's orphan files older than `older_than` and delete them (unless `dry_run`).

    `other_locations`: the other tables' locations; a file under one nested inside this table's location
    belongs to that table and is never touched. A file without a modification time counts as young."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - older_than
    fs, root = _filesystem(table)
    nested = [p for p in (_path(loc) for loc in other_locations) if p.startswith(root + "/")]
    # list first, then read the metadata: a file a commit adds in between is referenced, not an orphan
    stored = list_files(fs, root, exclude=nested)
    table.refresh()
    referenced = referenced_files(table)
    unreferenced = [f for f in stored if f.path not in referenced]
    orphans = tuple(f for f in unreferenced if f.modified is not None and f.modified <= cutoff)
    deleted = 0
    if not dry_run:
        for f in orphans:
            fs.delete_file(f.path)
            deleted += 1
    return OrphanReport(
        table=".".join(table.name()),
        listed=len(stored),
        referenced=len(referenced),
        orphans=orphans,
        too_young=len(unreferenced) - len(orphans),
        deleted=deleted,
    )
