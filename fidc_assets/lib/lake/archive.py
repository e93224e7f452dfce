"""The raw archive: every received file kept byte for byte, addressed by its sha256, before it is parsed.

Layout: `<warehouse>/raw/<custodian>/<yyyy>/<mm>/<sha256>.<ext>`; files matching no custodian go to
`<warehouse>/raw/_unmatched/...`. Writing goes to a temporary name first and is then renamed, so a crash never
leaves a half-written archive file under its final name. Works on any pyarrow filesystem (local, S3).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

CHUNK = 1 << 20
#: Bytes per read when a file is hashed and copied in one pass (hashlib and file writes release the GIL, so the
#: hash of one block runs on another core while the previous block is written).
STAGE_CHUNK = 8 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def archive_key(custodian_id: str | None, day: dt.date, sha256: str, original_name: str) -> str:
    ext = "".join(PurePosixPath(original_name).suffixes[-1:]).lower() or ".bin"
    folder = custodian_id or "_unmatched"
    return f"raw/{folder}/{day:%Y}/{day:%m}/{sha256}{ext}"


def _fs(warehouse: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(warehouse)


def archive_file(src: Path, warehouse: str, key: str) -> str:
    """Copy `src` to `<warehouse>/<key>` unless it is already there; return the archive URI."""
    fs, root = _fs(warehouse)
    target = f"{root.rstrip('/')}/{key}"
    uri = f"{warehouse.rstrip('/')}/{key}"
    if fs.get_file_info(target).type == pafs.FileType.File:
        return uri  # content-addressed: same key, same bytes
    fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
    tmp = f"{target}.partial"
    with src.open("rb") as fin, fs.open_output_stream(tmp) as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
    fs.move(tmp, target)
    return uri


@dataclass(frozen=True)
class Staged:
    """A file copied under a temporary name of the archive while it was hashed: `commit` gives it its
    content address, `discard` drops it (a delivery already received)."""

    sha256: str
    size: int
    warehouse: str
    tmp: str  # path on the archive's filesystem

    def commit(self, key: str) -> str:
        """Move it to `<warehouse>/<key>` (kept as is if that exists: same key, same bytes); the archive URI."""
        fs, root = _fs(self.warehouse)
        target = f"{root.rstrip('/')}/{key}"
        if fs.get_file_info(target).type == pafs.FileType.File:
            fs.delete_file(self.tmp)
        else:
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            fs.move(self.tmp, target)
        return f"{self.warehouse.rstrip('/')}/{key}"

    def discard(self) -> None:
        fs, _ = _fs(self.warehouse)
        with contextlib.suppress(FileNotFoundError, OSError):
            fs.delete_file(self.tmp)


def stage_file(src: Path, warehouse: str) -> Staged:
    """Read `src` once: hash it and copy it to `<warehouse>/raw/_incoming/<uuid>.partial`, the hash of each
    block overlapping the write of the one before (one pass over the bytes instead of a hash, then a copy)."""
    fs, root = _fs(warehouse)
    folder = f"{root.rstrip('/')}/raw/_incoming"
    fs.create_dir(folder, recursive=True)
    tmp = f"{folder}/{uuid.uuid4().hex}.partial"
    digest = hashlib.sha256()
    size = 0
    try:
        with src.open("rb") as fin, fs.open_output_stream(tmp) as fout, ThreadPoolExecutor(1) as hasher:
            pending = None
            while chunk := fin.read(STAGE_CHUNK):
                if pending is not None:
                    pending.result()
                pending = hasher.submit(digest.update, chunk)
                fout.write(chunk)
                size += len(chunk)
            if pending is not None:
                pending.result()
    except BaseException:
        with contextlib.suppress(FileNotFoundError, OSError):
            fs.delete_file(tmp)
        raise
    return Staged(digest.hexdigest(), size, warehouse, tmp)


def read_archived(uri: str) -> bytes:
    fs, path = pafs.FileSystem.from_uri(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


@contextlib.contextmanager
def archived_path(uri: str) -> Iterator[Path]:
    """A local path to an archived file: the file itself on a local warehouse, else a streamed temp copy
    (so a 2 GB file from S3 is parsed from disk, never held in memory)."""
    if uri.startswith("file://"):
        yield Path(unquote(urlparse(uri).path))
        return
    fs, path = pafs.FileSystem.from_uri(uri)
    with tempfile.NamedTemporaryFile(suffix=PurePosixPath(path).suffix) as tmp:
        with fs.open_input_stream(path) as fin:
            while chunk := fin.read(CHUNK):
                tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)
