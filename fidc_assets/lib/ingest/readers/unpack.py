"""ZIP deliveries: the one member of the archive that the custodian's spec wants, within a size limit."""

from __future__ import annotations

import io
import re
import zipfile

from fidc_assets.lib.ingest.readers.common import FileRejected, Source, read_all
from fidc_assets.lib.ingest.specs import ArchiveSpec, FileSpec, name_problem, shown_name


def unpack_archive(source: Source, name: str, spec: FileSpec) -> tuple[Source, str]:
    """For a .zip delivery, the one member the spec wants; refuses archives that expand beyond the limit."""
    if not name.lower().endswith(".zip"):
        return source, name
    data = read_all(source)
    archive: ArchiveSpec | None = spec.archive
    if archive is None:
        raise FileRejected("unsupported_format", f"{name}: a ZIP file, but this layout does not accept ZIPs.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise FileRejected(
            "unreadable", f"{name}: the file is not a valid ZIP archive (damaged or truncated)."
        ) from None
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
    try:
        with zf.open(member) as f:
            content = f.read(limit + 1)  # the header's size may lie: never read past the limit
    except (zipfile.BadZipFile, RuntimeError, OSError) as e:
        raise FileRejected("unreadable", f"{name}: {member.filename} could not be extracted: {e}") from None
    if len(content) > limit:
        raise FileRejected("archive_too_large", f"{name}: {member.filename} expands beyond {limit:,} bytes.")
    return content, f"{name}:{member.filename}"
