"""What is new in the inbox: the pure logic behind the Dagster inbox sensor.

The cursor is the inbox as last seen — for every file its size, modification time and sha256 — plus the newest
file actually seen. A file is new when its (size, mtime) is not in the cursor: only those are hashed, so a tick
over thousands of unchanged files reads none of them. New files are keyed by sha256, the run key: the same bytes
delivered again (under any name) never start a second run, a corrected file (other bytes, same name) does, and a
late file whose mtime is older than everything seen is still new, because nothing here compares against a clock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fidc_assets.lib.archive import sha256_file
from fidc_assets.lib.partition_math import date_fund_key
from fidc_assets.lib.specs import CustodianSpec, FileMatch, match_file

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Listing:
    """A file as the inbox lists it (no content read)."""

    path: Path
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class InboxCursor:
    files: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name → (size, mtime_ns, sha256)
    newest: tuple[int, str] | None = None  # (mtime_ns, name) of the newest file seen

    def to_json(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "newest": self.newest, "files": {k: list(v) for k, v in sorted(self.files.items())}},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> InboxCursor:
        if not text:
            return cls()
        raw = json.loads(text)
        if raw.get("v") != CURSOR_VERSION:
            return cls()  # an unknown cursor: start over (run keys still prevent duplicate runs)
        newest = tuple(raw["newest"]) if raw.get("newest") else None
        return cls({k: (int(v[0]), int(v[1]), str(v[2])) for k, v in raw["files"].items()}, newest)


@dataclass(frozen=True)
class NewFile:
    listing: Listing
    sha256: str
    match: FileMatch | None  # None: no custodian's pattern matches the name

    @property
    def partition_key(self) -> str | None:
        """The ingestion partition (business day × fund) the file belongs to."""
        return date_fund_key(self.match.reference_date, self.match.fund_cnpj) if self.match else None


@dataclass
class InboxChanges:
    new: list[NewFile]
    unmatched: list[NewFile]
    cursor: InboxCursor


def list_inbox(inbox: Path, ignore: Iterable[str] = ("unmatched",)) -> list[Listing]:
    """Regular files under the inbox (not hidden, not partial uploads, not in the ignored folders)."""
    if not inbox.exists():
        return []
    skip = {inbox / d for d in ignore}
    out = []
    for path in inbox.rglob("*"):
        if any(parent in skip for parent in path.parents) or path.name.startswith(".") or path.suffix == ".partial":
            continue
        if path.is_file():
            st = path.stat()
            out.append(Listing(path, st.st_size, st.st_mtime_ns))
    return sorted(out, key=lambda item: (item.mtime_ns, item.name))


def detect_changes(
    listings: list[Listing], cursor: InboxCursor, specs: dict[str, CustodianSpec], hasher=sha256_file
) -> InboxChanges:
    """New and changed files since `cursor`, each with its sha256 and custodian match, and the next cursor."""
    files: dict[str, tuple[int, int, str]] = {}
    new: list[NewFile] = []
    unmatched: list[NewFile] = []
    newest = cursor.newest
    for item in listings:
        key = str(item.path)
        known = cursor.files.get(key)
        if known is not None and known[0] == item.size and known[1] == item.mtime_ns:
            files[key] = known
            continue
        sha = hasher(item.path)
        files[key] = (item.size, item.mtime_ns, sha)
        entry = NewFile(item, sha, match_file(item.name, specs))
        (new if entry.match else unmatched).append(entry)
        if newest is None or (item.mtime_ns, item.name) > tuple(newest):
            newest = (item.mtime_ns, item.name)
    return InboxChanges(new, unmatched, InboxCursor(files, newest))


def unmatched_destination(inbox: Path, listing: Listing, now: dt.datetime) -> Path:
    """Where an unmatched file is moved: `<inbox>/unmatched/<yyyy-mm-dd>/<name>` (never overwritten)."""
    target = inbox / "unmatched" / now.strftime("%Y-%m-%d") / listing.name
    n = 1
    while target.exists():
        target = target.with_name(f"{listing.path.stem}.{n}{listing.path.suffix}")
        n += 1
    return target
