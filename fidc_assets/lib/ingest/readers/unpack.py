"""ZIP deliveries: the one member of the archive that the custodian's spec wants, within a size limit.

The member is streamed (`ZipFile.open` decompresses as it is read) in CHUNK blocks to a temporary file, which
the readers then stream like any received file: memory is bounded by the block, not by the member's size (a
member just under a 256 MiB limit once took a landing past 1 GB). The caller removes the file
(`remove_extracted`; `adapters.engine.FileParse` does)."""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

from fidc_assets.lib.ingest.readers.common import CHUNK, FileRejected, Source
from fidc_assets.lib.ingest.specs import ArchiveSpec, FileSpec, name_problem, shown_name


def unpack_archive(source: Source, name: str, spec: FileSpec) -> tuple[Source, str]:
    """For a .zip delivery, the one member the spec wants; refuses archives that expand beyond the limit."""
    if not name.lower().endswith(".zip"):
        return source, name
    archive: ArchiveSpec | None = spec.archive
    if archive is None:
        raise FileRejected("unsupported_format", f"{name}: a ZIP file, but this layout does not accept ZIPs.")
    try:
        zf = zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source))
    except zipfile.BadZipFile:
        raise FileRejected(
            "unreadable", f"{name}: the file is not a valid ZIP archive (damaged or truncated)."
        ) from None
    with zf:
        return _extract(zf, name, archive)


def _extract(zf: zipfile.ZipFile, name: str, archive: ArchiveSpec) -> tuple[Path, str]:
    pattern = re.compile(archive.member_pattern, re.ASCII)
    members = [
        i for i in zf.infolist() if not i.is_dir() and name_problem(i.filename) is None and pattern.search(i.filename)
    ]  # a member name with a control character is never the delivery (and `$` would match before a newline)
    if not members:
        listed = ", ".join(shown_name(i.filename) for i in zf.infolist()) or "nothing"
        raise FileRejected(
            "archive_member_missing",
            f"{name}: the ZIP holds {listed}; expected a file matching {archive.member_pattern!r}.",
        )
    if len(members) > 1:
        raise FileRejected(
            "archive_ambiguous",
            f"{name}: the ZIP holds {len(members)} files matching {archive.member_pattern!r}; send one file per ZIP.",
        )
    total = sum(i.file_size for i in zf.infolist())
    limit = archive.max_uncompressed_bytes
    if total > limit:
        raise FileRejected(
            "archive_too_large",
            f"{name}: the ZIP expands to {total:,} bytes, more than the {limit:,} allowed; it was not opened.",
        )
    member = members[0]
    fd, target = tempfile.mkstemp(prefix="fidc-zip-member-", suffix=Path(member.filename).suffix[:16])
    path = Path(target)
    try:
        with os.fdopen(fd, "wb") as out, zf.open(member) as f:
            written = 0
            while chunk := f.read(CHUNK):
                written += len(chunk)
                if written > limit:  # the header's size may lie: never write past the limit
                    raise FileRejected(
                        "archive_too_large", f"{name}: {member.filename} expands beyond {limit:,} bytes."
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as e:
        remove_extracted(path)
        raise FileRejected("unreadable", f"{name}: {member.filename} could not be extracted: {e}") from None
    except BaseException:
        remove_extracted(path)
        raise
    return path, f"{name}:{member.filename}"


def remove_extracted(path: Source) -> None:
    """Remove a member `unpack_archive` extracted (a no-op for anything else)."""
    if isinstance(path, Path) and path.name.startswith("fidc-zip-member-"):
        path.unlink(missing_ok=True)
