"""What the inbox sensor sees per scenario: new files, the same file again, a corrected file, a late file older
than the cursor, an unmatched file, and a thousand files in one tick."""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import time
from pathlib import Path

import pytest

from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.inbox import Inbox, InboxCursor, detect_changes, set_aside_all
from fidc_assets.lib.ingest.specs import load_specs

FUND = "17556821000101"
SPECS = load_specs(CUSTODIANS_DIR)


def _write(inbox: Path, name: str, content: bytes, mtime: float) -> Path:
    path = inbox / name
    path.write_bytes(content)
    os.utime(path, (mtime, mtime))
    return path


def _tick(inbox: Path, cursor: InboxCursor, hashed: list | None = None):
    listed = Inbox.at(inbox)

    def hasher(path: str) -> str:
        if hashed is not None:
            hashed.append(Path(path).name)
        return listed.sha256(path)

    return detect_changes(listed.list(), cursor, SPECS, hasher)


@pytest.fixture()
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def test_first_delivery_is_new_with_its_partition(inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    changes = _tick(inbox, InboxCursor())
    assert [(n.listing.name, n.partition_key, n.match and n.match.custodian.id) for n in changes.new] == [
        (f"ESTOQUE_{FUND}_20240701.csv", f"2024-07-01|{FUND}", "custodia_alfa")
    ]
    assert changes.unmatched == []
    assert changes.cursor.newest == (1_000 * 10**9, f"ESTOQUE_{FUND}_20240701.csv")


def test_same_file_again_is_not_new_and_is_not_reread(inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    first = _tick(inbox, InboxCursor())
    hashed: list[str] = []
    second = _tick(inbox, InboxCursor.from_json(first.cursor.to_json()), hashed)
    assert second.new == [] and hashed == []
    assert second.cursor.to_json() == first.cursor.to_json()


def test_corrected_file_under_the_same_name_is_new_with_a_new_sha(inbox: Path):
    path = _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    first = _tick(inbox, InboxCursor())
    _write(inbox, path.name, b"a corrected", 2_000)
    second = _tick(inbox, first.cursor)
    assert [n.listing.name for n in second.new] == [path.name]
    assert second.new[0].sha256 != first.new[0].sha256
    assert second.cursor.newest == (2_000 * 10**9, path.name)


def test_late_file_older_than_the_cursor_is_still_new(inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240702.csv", b"b", 5_000)
    first = _tick(inbox, InboxCursor())
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)  # delivered late, with an old timestamp
    second = _tick(inbox, first.cursor)
    assert [n.listing.name for n in second.new] == [f"ESTOQUE_{FUND}_20240701.csv"]
    assert second.cursor.newest == first.cursor.newest  # the newest file seen is still the newest


def test_unmatched_file_is_reported_not_ignored(inbox: Path):
    _write(inbox, "relatorio_mensal.pdf", b"%PDF", 1_000)
    changes = _tick(inbox, InboxCursor())
    assert changes.new == []
    assert [u.listing.name for u in changes.unmatched] == ["relatorio_mensal.pdf"]
    target = Inbox.at(inbox).unmatched_destination(changes.unmatched[0].listing, dt.datetime(2024, 7, 1))
    assert target == str(inbox / "unmatched" / "2024-07-01" / "relatorio_mensal.pdf")


def test_files_in_the_unmatched_area_and_partial_uploads_are_not_listed(inbox: Path):
    (inbox / "unmatched" / "2024-07-01").mkdir(parents=True)
    _write(inbox / "unmatched" / "2024-07-01", "x.pdf", b"x", 1_000)
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv.partial", b"half", 1_000)
    _write(inbox, ".hidden", b"h", 1_000)
    assert Inbox.at(inbox).list() == []


def test_a_thousand_files_in_one_tick(inbox: Path):
    for i in range(1000):
        _write(inbox, f"ESTOQUE_{FUND}_2024{1 + i // 28 % 12:02d}{1 + i % 28:02d}_{i}.csv", f"{i}".encode(), 1_000 + i)
    started = time.perf_counter()
    changes = _tick(inbox, InboxCursor())
    elapsed = time.perf_counter() - started
    assert len(changes.new) == 1000 and len({n.sha256 for n in changes.new}) == 1000
    again = _tick(inbox, changes.cursor)
    assert again.new == []
    print(f"1000 new files: {elapsed:.2f} s; unchanged tick: cursor {len(changes.cursor.to_json())} bytes")


def test_an_fsspec_inbox_is_listed_hashed_and_set_aside(tmp_path: Path):
    """FIDC_INBOX may be any fsspec URL: here fsspec's in-memory filesystem, a real implementation."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/inbox-{tmp_path.name}"
    fs.pipe({f"{root}/ESTOQUE_{FUND}_20240701.csv": b"a;b\n1;2\n", f"{root}/relatorio.pdf": b"%PDF"})
    inbox = Inbox.at(f"memory://{root}")
    assert not inbox.is_local
    changes = detect_changes(inbox.list(), InboxCursor(), SPECS, hasher=inbox.sha256)
    [new] = changes.new
    assert new.sha256 == __import__("hashlib").sha256(b"a;b\n1;2\n").hexdigest()
    assert new.partition_key == f"2024-07-01|{FUND}"
    [unmatched] = changes.unmatched
    moved = inbox.set_aside(unmatched.listing, dt.datetime(2024, 7, 1))
    assert moved == "unmatched/2024-07-01/relatorio.pdf" and fs.cat(f"{root}/{moved}") == b"%PDF"
    assert [x.name for x in inbox.list()] == [f"ESTOQUE_{FUND}_20240701.csv"]  # the unmatched area is not listed
    with inbox.local_path(new.listing.path) as local:
        assert local.read_bytes() == b"a;b\n1;2\n"


# --- set-aside names that always fit (issue 13, defect 1) --------------------------------------------------------

NAME_MAX = 255


@pytest.mark.parametrize("stem", ["r" * 251, "ç" * 125, "relatório " * 25 + "x"])
def test_a_longest_name_set_aside_twice_a_day_gets_a_valid_distinct_name(tmp_path: Path, stem: str):
    """A 255-byte name delivered twice on one day used to fail with `File name too long` (`<stem>.1.pdf`)."""
    name = stem.encode()[: NAME_MAX - 4].decode("utf-8", errors="ignore") + ".pdf"
    assert name.endswith(".pdf") and len(name.encode()) <= NAME_MAX
    inbox = Inbox.at(tmp_path)
    day = dt.datetime(2024, 7, 1)
    moved = []
    for content in (b"first", b"second", b"third"):
        path = _write(tmp_path, name, content, 1_000)
        [listing] = [x for x in inbox.list() if x.path == str(path)]
        moved.append(inbox.set_aside(listing, day))
    assert len(set(moved)) == 3
    folder = tmp_path / "unmatched" / "2024-07-01"
    assert sorted(p.read_bytes() for p in folder.iterdir()) == [b"first", b"second", b"third"]
    for target in moved:
        base = posixpath.basename(target)
        assert len(base.encode()) <= NAME_MAX and base.endswith(".pdf")


def test_a_name_with_a_long_extension_still_fits(tmp_path: Path):
    name = "a." + "e" * 250
    inbox = Inbox.at(tmp_path)
    for content in (b"1", b"2"):
        _write(tmp_path, name, content, 1_000)
        [listing] = inbox.list()
        target = inbox.set_aside(listing, dt.datetime(2024, 7, 1))
        assert len(posixpath.basename(target).encode()) <= NAME_MAX
    assert len(list((tmp_path / "unmatched" / "2024-07-01").iterdir())) == 2


def test_one_file_that_cannot_be_set_aside_does_not_stop_the_others(tmp_path: Path, monkeypatch):
    inbox = Inbox.at(tmp_path)
    _write(tmp_path, "a.pdf", b"a", 1_000)
    _write(tmp_path, "b.pdf", b"b", 1_000)
    real_mv = inbox.fs.mv

    def mv(src, dst, **kw):
        if src.endswith("a.pdf"):
            raise OSError(36, "File name too long")
        return real_mv(src, dst, **kw)

    monkeypatch.setattr(inbox.fs, "mv", mv)
    outcomes = set_aside_all(inbox, [(x, "matches nothing") for x in inbox.list()], dt.datetime(2024, 7, 1))
    by_name = {o.listing.name: o for o in outcomes}
    assert by_name["a.pdf"].moved_to is None and "File name too long" in (by_name["a.pdf"].error or "")
    assert by_name["b.pdf"].moved_to == "unmatched/2024-07-01/b.pdf" and by_name["b.pdf"].error is None
