"""What is new in the inbox: the pure logic behind the Dagster inbox sensor.

The cursor is the inbox as last seen — for every file its size, modification time and sha256 — plus the newest
file actually seen. A file is new when its (size, mtime) is not in the cursor: only those are hashed, so a tick
over thousands of unchanged files reads none of them. The sensor groups new files by fund-day, and one date's
fund-days into bounded runs (`batch_fund_days`), a run's key the sha256 over its files' sorted sha256s
(`run_key`): the same bytes delivered again for the same slice never start a second run, a corrected file (other
bytes, same name) does, and a late file whose mtime is older than everything seen is still new, because nothing
here compares against a clock. Files requested and not yet in the registry stay `pending` in the cursor (keyed
by delivery: bytes + slice) until `reconcile` sees them landed, gone, or overdue
(then requested again under a new run key).

The inbox is any fsspec location (FIDC_INBOX): a local directory by default, `s3://bucket/inbox/`,
`sftp://host/path`, ... (the protocol's fsspec package must be installed). Remote files are hashed while
streamed and copied to a local temp file only to be archived.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import posixpath
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from fidc_assets.lib.core.partition_math import date_fund_key, date_fund_pairs
from fidc_assets.lib.ingest.specs import CustodianSpec, FileMatch, match_file

if TYPE_CHECKING:  # imported when an inbox is opened (Inbox.at): a landing of local files never needs it
    import fsspec

CURSOR_VERSION = 2  # 2: + `pending` (files requested, not yet seen in the registry); a v1 cursor still loads


@dataclass(frozen=True)
class Listing:
    """A file as the inbox lists it (no content read); `path` is the filesystem's path (local: absolute)."""

    path: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def _mtime_ns(info: dict) -> int:
    """Modification time from an fsspec info dict (local: `mtime` seconds; S3: `LastModified`; memory: `created`)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
        elif isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        return int(round(float(value) * 1e9))
    raise ValueError(f"{info.get('name')}: the filesystem reports no modification time")


@dataclass(frozen=True)
class Inbox:
    """Where custodians drop files: an fsspec filesystem and a root path on it.

    Others write the inbox, so no listing of it is ever reused: fsspec shares one filesystem instance per
    process and URL, and s3fs (like other remote filesystems) caches directory listings in it, so a process
    that lives through several runs (a Celery worker, a code server) would otherwise open a file delivered
    after its last listing from that stale listing and get FileNotFoundError. `at` makes the filesystem
    with fsspec's listings cache off (`use_listings_cache=False`, honoured by every fsspec filesystem)."""

    fs: fsspec.AbstractFileSystem
    root: str

    @classmethod
    def at(cls, location: str | Path) -> Inbox:
        import fsspec.core

        fs, root = fsspec.core.url_to_fs(str(location), use_listings_cache=False)
        return cls(fs, root.rstrip("/") or "/")

    @property
    def is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def list(self, ignore: Iterable[str] = ("unmatched",)) -> list[Listing]:
        """Regular files under the inbox (not hidden, not partial uploads, not in the ignored folders)."""
        if not self.fs.exists(self.root):
            return []
        skip = tuple(f"{self.root}/{d}/" for d in ignore)
        out = []
        # fsspec: with detail=True, find answers path → info (its signature says list or dict)
        found = cast(dict[str, dict[str, Any]], self.fs.find(self.root, detail=True))
        for path, info in found.items():
            name = posixpath.basename(path)
            if path.startswith(skip) or name.startswith(".") or name.endswith(".partial"):
                continue
            if info.get("type", "file") == "file":
                out.append(Listing(path, int(info["size"]), _mtime_ns(info)))
        return sorted(out, key=lambda item: (item.mtime_ns, item.name))

    def _open_binary(self, path: str) -> BinaryIO:
        """`fs.open(path, "rb")`: a binary file (fsspec's signature says text or binary)."""
        return cast(BinaryIO, self.fs.open(path, "rb"))

    def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        with self._open_binary(path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    @contextlib.contextmanager
    def local_path(self, path: str) -> Iterator[Path]:
        """A local path to an inbox file: the file itself when local, else a streamed temp copy."""
        if self.is_local:
            yield Path(path)
            return
        with tempfile.NamedTemporaryFile(suffix=posixpath.splitext(path)[1]) as tmp:
            with self._open_binary(path) as src:
                shutil.copyfileobj(src, tmp, 1 << 20)
            tmp.flush()
            yield Path(tmp.name)

    def unmatched_destination(self, listing: Listing, now: dt.datetime) -> str:
        """Where a file set aside goes: `<inbox>/unmatched/<yyyy-mm-dd>/<name>`, never overwritten (a second
        file of that name on that day gets `<stem>.1<ext>`, ...). The name is always one a filesystem takes
        (see `set_aside_name`), however long or strange the delivered one."""
        folder = f"{self.root}/unmatched/{now:%Y-%m-%d}"
        target, n = f"{folder}/{set_aside_name(listing.name)}", 1
        while self.fs.exists(target):
            target, n = f"{folder}/{set_aside_name(listing.name, n)}", n + 1
        return target

    def set_aside(self, listing: Listing, now: dt.datetime) -> str:
        """Move a file to the unmatched area; returns its new path relative to the inbox."""
        target = self.unmatched_destination(listing, now)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        self.fs.mv(listing.path, target)
        return target[len(self.root) + 1 :]


#: Longest file name (bytes, UTF-8) set-aside names are kept within: Linux's NAME_MAX, the common limit.
NAME_MAX = 255
#: Extensions longer than this (bytes) are not kept apart from the stem when a name has to be shortened.
_MAX_EXTENSION = 16


def _utf8_prefix(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-8 bytes (never half a character)."""
    return text.encode("utf-8")[: max(limit, 0)].decode("utf-8", errors="ignore")


def set_aside_name(name: str, counter: int = 0) -> str:
    """The file name a set-aside file gets: `name` itself when it fits, else (control characters replaced,
    a counter for the n-th file of that name on a day) a stem shortened to fit NAME_MAX bytes, marked with a
    short hash of the delivered name so that two long names never shorten to the same one; the extension is
    kept. Deterministic, so a tick that finds the name taken simply tries the next counter."""
    clean = "".join("_" if unicodedata.category(ch)[0] == "C" or ch == "/" else ch for ch in name) or "_"
    suffix = f".{counter}" if counter else ""
    if clean == name and len((name + suffix).encode("utf-8")) <= NAME_MAX:
        stem, ext = posixpath.splitext(name)
        return f"{stem}{suffix}{ext}"
    stem, ext = posixpath.splitext(clean)
    if len(ext.encode("utf-8")) > _MAX_EXTENSION:
        stem, ext = clean, ""
    marker = "~" + hashlib.sha256(name.encode("utf-8", errors="surrogateescape")).hexdigest()[:8]
    room = NAME_MAX - len((marker + suffix + ext).encode("utf-8"))
    return f"{_utf8_prefix(stem, room)}{marker}{suffix}{ext}"


@dataclass(frozen=True)
class SetAside:
    """What became of one file to set aside: moved (`moved_to`, relative to the inbox) or not (`error`)."""

    listing: Listing
    reason: str
    moved_to: str | None
    error: str | None = None


def set_aside_all(inbox: Inbox, files: Iterable[tuple[Listing, str]], now: dt.datetime) -> list[SetAside]:
    """Set every file aside, each on its own: one that cannot be moved (a filesystem error) is reported in its
    outcome, never raised, so it cannot stop the tick for the files of everyone else."""
    outcomes = []
    for listing, reason in files:
        try:
            outcomes.append(SetAside(listing, reason, inbox.set_aside(listing, now)))
        except OSError as e:
            outcomes.append(SetAside(listing, reason, None, f"{type(e).__name__}: {e}"))
    return outcomes


@dataclass(frozen=True)
class Pending:
    """A file the sensor asked a run for and has not yet seen in the registry."""

    path: str
    partition_key: str
    requested_at: float  # epoch seconds of the last request
    attempt: int  # 1 for the first request, +1 per re-request
    sha256: str  # the file's bytes (the cursor keys a pending file by its delivery: bytes + the slice named)


@dataclass
class InboxCursor:
    files: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name → (size, mtime_ns, sha256)
    newest: tuple[int, str] | None = None  # (mtime_ns, name) of the newest file seen
    #: delivery id (`landing.Delivery.id`: bytes + slice) → the request awaiting the registry
    pending: dict[str, Pending] = field(default_factory=dict)

    def to_json(self) -> str:
        pending = {
            k: [p.path, p.partition_key, p.requested_at, p.attempt, p.sha256] for k, p in sorted(self.pending.items())
        }
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "newest": self.newest,
                "files": {k: list(v) for k, v in sorted(self.files.items())},
                "pending": pending,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> InboxCursor:
        if not text:
            return cls()
        raw = json.loads(text)
        if raw.get("v") not in (1, CURSOR_VERSION):
            return cls()  # an unknown cursor: start over (run keys still prevent duplicate runs)
        newest = tuple(raw["newest"]) if raw.get("newest") else None
        # a cursor written before pending files were keyed by delivery keyed them by sha256 (4 fields)
        pending = {
            k: Pending(str(v[0]), str(v[1]), float(v[2]), int(v[3]), str(v[4]) if len(v) > 4 else k)
            for k, v in raw.get("pending", {}).items()
        }
        return cls({k: (int(v[0]), int(v[1]), str(v[2])) for k, v in raw["files"].items()}, newest, pending)


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


def detect_changes(
    listings: list[Listing], cursor: InboxCursor, specs: dict[str, CustodianSpec], hasher: Callable[[str], str]
) -> InboxChanges:
    """New and changed files since `cursor`, each with its sha256 (`hasher`: the inbox's `Inbox.sha256`) and
    custodian match, and the next cursor."""
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


def run_key(shas: Iterable[str], attempt: int = 1) -> str:
    """The run key of one fund-day's request: sha256 over its files' sorted sha256s (the same set of bytes never
    runs twice); a re-request (`attempt` > 1) gets a new key, so Dagster launches it."""
    digest = hashlib.sha256("\n".join(sorted(set(shas))).encode()).hexdigest()
    return digest if attempt == 1 else f"{digest}-{attempt}"


@dataclass(frozen=True)
class FundDayRequest:
    """One run for a fund-day: every file of that (business day, fund) to land."""

    partition_key: str
    files: tuple[Pending, ...]
    shas: tuple[str, ...]
    attempt: int

    @property
    def run_key(self) -> str:
        return run_key(self.shas, self.attempt)


def group_by_fund_day(items: Iterable[tuple[str, Pending]]) -> list[FundDayRequest]:
    """(key, pending) pairs → one request per partition, files in name order, its run key from their sha256s;
    the attempt is the highest."""
    by_partition: dict[str, list[tuple[str, Pending]]] = {}
    for sha, p in items:
        by_partition.setdefault(p.partition_key, []).append((sha, p))
    out = []
    for key, group in sorted(by_partition.items()):
        group.sort(key=lambda kp: (posixpath.basename(kp[1].path), kp[1].sha256, kp[0]))
        out.append(
            FundDayRequest(
                key, tuple(p for _, p in group), tuple(p.sha256 for _, p in group), max(p.attempt for _, p in group)
            )
        )
    return out


@dataclass(frozen=True)
class RunBatch:
    """One ingestion run: fund-days of one date whose funds are adjacent in the `funds` partitions' order (so the
    run's partition range, the product of {date} and the funds from first to last, is exactly these fund-days)
    and whose files hold the same entities (a run lands only those)."""

    requests: tuple[FundDayRequest, ...]
    entities: tuple[str, ...]

    @property
    def partition_keys(self) -> list[str]:
        return [r.partition_key for r in self.requests]

    @property
    def files(self) -> tuple[Pending, ...]:
        return tuple(p for r in self.requests for p in r.files)

    @property
    def shas(self) -> tuple[str, ...]:
        return tuple(s for r in self.requests for s in r.shas)

    @property
    def attempt(self) -> int:
        return max(r.attempt for r in self.requests)

    @property
    def run_key(self) -> str:
        """A batch of one fund-day has that fund-day's run key."""
        return run_key(self.shas, self.attempt)


def batch_fund_days(
    requests: Iterable[FundDayRequest],
    fund_order: Sequence[str],
    entities: Mapping[str, tuple[str, ...]],
    max_fund_days: int,
) -> list[RunBatch]:
    """Fund-day requests → runs: those of one date with the same `entities` (by partition key) and funds adjacent
    in `fund_order` (the `funds` partitions as Dagster orders them) share a run, at most `max_fund_days` each.

    A day's files dropped together (every fund's) become one run or a few instead of one per fund, landing in
    one process with few Iceberg commits; a fund not in `fund_order` (not yet a partition) runs alone."""
    if max_fund_days < 1:
        raise ValueError(f"max_fund_days must be at least 1, not {max_fund_days}")
    index = {fund: i for i, fund in enumerate(fund_order)}
    groups: dict[tuple[dt.date, tuple[str, ...]], list[tuple[int, FundDayRequest]]] = {}
    alone: list[RunBatch] = []
    for r in requests:
        ((day, fund),) = date_fund_pairs([r.partition_key])
        ents = tuple(sorted(entities[r.partition_key]))
        if fund in index:
            groups.setdefault((day, ents), []).append((index[fund], r))
        else:
            alone.append(RunBatch((r,), ents))
    out: list[RunBatch] = []
    for (_, ents), items in sorted(groups.items()):
        items.sort(key=lambda ir: ir[0])
        run: list[tuple[int, FundDayRequest]] = []
        for i, r in items:
            if run and (i != run[-1][0] + 1 or len(run) >= max_fund_days):
                out.append(RunBatch(tuple(x for _, x in run), ents))
                run = []
            run.append((i, r))
        if run:
            out.append(RunBatch(tuple(x for _, x in run), ents))
    return out + sorted(alone, key=lambda b: b.partition_keys)


@dataclass(frozen=True)
class Reconciliation:
    """What became of the files awaiting the registry, at one tick."""

    landed: list[str]  # keys of the deliveries the registry now holds: no longer pending
    vanished: list[tuple[str, Pending]]  # files gone from the inbox before landing: reported, no longer pending
    waiting: list[tuple[str, Pending]]  # still within the delay, or their partition has a run in progress
    overdue: list[tuple[str, Pending]]  # to request again (attempt + 1, requested now)


def reconcile(
    pending: dict[str, Pending],
    received: set[str],
    present: set[str],
    in_progress: set[str],
    now: float,
    after_seconds: float,
) -> Reconciliation:
    """Decide, for every pending file, from the registry (`received`: the pending keys it holds), the inbox
    (`present` paths), the partitions with a queued or running run (`in_progress`) and the clock: landed,
    vanished, waiting or overdue.
    Overdue: requested at least `after_seconds` ago, not in the registry, still in the inbox, and no run of its
    fund-day in progress (a retry the daemon launched, or a slow queue, is waited for)."""
    landed, vanished, waiting, overdue = [], [], [], []
    for key, p in sorted(pending.items()):
        if key in received:
            landed.append(key)
        elif p.path not in present:
            vanished.append((key, p))
        elif now - p.requested_at < after_seconds or p.partition_key in in_progress:
            waiting.append((key, p))
        else:
            overdue.append((key, Pending(p.path, p.partition_key, now, p.attempt + 1, p.sha256)))
    return Reconciliation(landed, vanished, waiting, overdue)
