"""ZIP deliveries: the member is streamed to a temporary file (memory bounded by the block, not the member's
size), the readers read that file, and the file is removed however the parse ends."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.adapters.engine import FileParse
from fidc_assets.lib.ingest.readers import FileRejected, unpack_archive
from fidc_assets.lib.ingest.specs import load_specs, match_file

NAME = "ESTOQUE_GAMA_33511658000117_20240701.zip"
MEMBER_MIB = 48


@pytest.fixture()
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's directory for the test: what is left in it is what the unpacker leaked."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def _gama_spec():
    match = match_file(NAME, load_specs(CUSTODIANS_DIR))
    assert match is not None and match.file_spec.archive is not None
    return match


def _zip(target: Path, member: str, size: int) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(member, "w") as out:
            for _ in range(size >> 20):
                out.write(bytes(1 << 20))
    return target


def test_the_member_is_streamed_to_a_file_not_read_into_memory(tmp_path: Path, scratch: Path) -> None:
    archive = _zip(tmp_path / NAME, "estoque.xlsx", MEMBER_MIB << 20)
    tracemalloc.start()
    try:
        source, name = unpack_archive(archive, NAME, _gama_spec().file_spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(source, Path) and source.parent == scratch
    assert name == f"{NAME}:estoque.xlsx"
    assert source.stat().st_size == MEMBER_MIB << 20
    assert peak < 8 << 20, f"unpacking a {MEMBER_MIB} MiB member allocated {peak >> 20} MiB at its peak"


def test_an_archive_in_memory_is_unpacked_the_same_way(scratch: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("estoque.xlsx", b"not a workbook")
    source, _ = unpack_archive(buf.getvalue(), NAME, _gama_spec().file_spec)
    assert isinstance(source, Path) and source.read_bytes() == b"not a workbook"


def test_the_extracted_member_is_removed_when_its_parse_fails(tmp_path: Path, scratch: Path) -> None:
    archive = _zip(tmp_path / NAME, "estoque.xlsx", 2 << 20)  # zeros: not a workbook
    with pytest.raises(FileRejected) as err:
        FileParse(archive, NAME, _gama_spec(), "0" * 64, dt.datetime(2024, 7, 1, tzinfo=dt.UTC))
    assert err.value.reason_code == "unreadable"
    assert list(scratch.iterdir()) == []


def test_the_extracted_member_is_removed_when_its_parse_is_closed(tmp_path: Path, scratch: Path) -> None:
    from fidc_assets.sample.generator import generate_sample

    manifest = generate_sample(tmp_path / "sample", seed=5, funds=4, days=1, receivables_per_fund=10)
    workbook = next(manifest.inbox_dir / n for n in manifest.files if n.startswith("ESTOQUE_GAMA_"))
    archive = tmp_path / workbook.with_suffix(".zip").name
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(workbook, "estoque.xlsx")
    match = match_file(archive.name, load_specs(CUSTODIANS_DIR))
    assert match is not None
    with FileParse(archive, archive.name, match, "0" * 64, dt.datetime(2024, 7, 1, tzinfo=dt.UTC)) as parse:
        assert isinstance(parse.source, Path) and parse.source.parent == scratch
        result = parse.collect()
    assert result.rows.num_rows == 10
    assert list(scratch.iterdir()) == []
