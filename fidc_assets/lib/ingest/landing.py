"""Receiving and landing custodian files, without Dagster: inbox → raw archive → registry → Iceberg.

Two steps, both idempotent and safe to run concurrently (every commit is an attempt retried after a conflict,
`lib.lake.commits`):
- `receive_files` archives each inbox file byte for byte (content-addressed by sha256) and registers it. A
  delivery is its bytes AND the slice its name designates (`Delivery`: sha256 + custodian, entity, fund, day),
  so the same bytes re-sent under a corrected name are a new delivery for the right slice; a delivery already
  registered is a no-op, and the registry holds exactly one row per delivery (an upsert keyed by it).
- `land_slices` replaces, for every (custodian, entity, fund, day) slice, the slice's rows in Iceberg with the
  newest usable delivery, chosen when the data commit is made (a concurrent registration or landing forces a
  new choice), in one commit per batch. Bad rows go to `lake.quarantine` first, then the data commit, then
  the registry statuses, computed from what is live in the data table for the slice (the one live delivery is
  `accepted`, older ones `superseded`, unusable ones `quarantined`): after any interleaving a slice has one
  `accepted` delivery, and a crash between the data and the registry commits is repaired by the next landing
  of the slice or by `reconcile_registry`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow as pa
from pyiceberg.expressions import AlwaysFalse, And, BooleanExpression, Or
from pyiceberg.table import Table

from fidc_assets.lib.core.canonical import ENTITIES, FILE_REGISTRY, QUARANTINE, arrow_schema
from fidc_assets.lib.ingest.adapters import DATED_BY_FILE, FileParse, FileRejected, ParseResult, RejectedRow
from fidc_assets.lib.ingest.inbox import Inbox
from fidc_assets.lib.ingest.readers.common import too_many_rejected
from fidc_assets.lib.ingest.specs import CustodianSpec, FileMatch, match_file
from fidc_assets.lib.lake.archive import Staged, archive_file, archive_key, archived_path, sha256_file, stage_file
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.commits import with_commit_retry
from fidc_assets.lib.lake.filters import equal_to, is_in

#: Rows per Iceberg commit when landing many slices at once (a backfill): bounded memory, few snapshots.
MAX_ROWS_PER_COMMIT = 2_000_000
#: A delivery larger than this is streamed into its own commit instead of being batched with others in memory.
BIG_FILE_BYTES = 64 << 20


@dataclass(frozen=True)
class InboxFile:
    """A delivered file: a local path, or a path on a (remote) inbox filesystem."""

    path: Path | str
    delivered_at: dt.datetime  # file modification time: when the custodian delivered it
    inbox: Inbox | None = None  # None: `path` is a local file

    @property
    def name(self) -> str:
        return PurePosixPath(str(self.path)).name

    def sha256(self) -> str:
        return self.inbox.sha256(str(self.path)) if self.inbox else sha256_file(Path(self.path))

    @contextlib.contextmanager
    def local_path(self) -> Iterator[Path]:
        if self.inbox is None:
            yield Path(self.path)
        else:
            with self.inbox.local_path(str(self.path)) as local:
                yield local


def scan_inbox(
    inbox: str | Path | Inbox, specs: dict[str, CustodianSpec]
) -> tuple[list[tuple[InboxFile, FileMatch]], list[InboxFile]]:
    """Every file in the inbox (see `Inbox.list`), split into matched (with its spec) and unmatched."""
    inbox = inbox if isinstance(inbox, Inbox) else Inbox.at(inbox)
    matched: list[tuple[InboxFile, FileMatch]] = []
    unmatched: list[InboxFile] = []
    for listing in inbox.list():
        delivered = dt.datetime.fromtimestamp(listing.mtime_ns / 1e9, tz=dt.UTC)
        item = InboxFile(listing.path, delivered, None if inbox.is_local else inbox)
        m = match_file(listing.name, specs)
        if m is None:
            unmatched.append(item)
        else:
            matched.append((item, m))
    return matched, unmatched


@dataclass(frozen=True, order=True)
class SliceKey:
    """What a delivery's name designates: one custodian's file of one entity, for one fund and business day."""

    custodian_id: str
    entity: str
    fund_cnpj: str
    reference_date: dt.date

    @classmethod
    def of_match(cls, m: FileMatch) -> SliceKey:
        return cls(m.custodian.id, m.file_spec.entity, m.fund_cnpj, m.reference_date)

    @classmethod
    def of_row(cls, row: dict) -> SliceKey:
        """The slice of a registry or quarantine row."""
        return cls(row["custodian_id"], row["entity"], row["fund_cnpj"], row["reference_date"])

    def registry_filter(self) -> BooleanExpression:
        """The registry (and quarantine) rows of this slice."""
        return And(
            And(equal_to("custodian_id", self.custodian_id), equal_to("entity", self.entity)),
            And(equal_to("fund_cnpj", self.fund_cnpj), equal_to("reference_date", self.reference_date)),
        )

    def data_filter(self) -> BooleanExpression:
        return _slice_filter(self.entity, self.custodian_id, self.fund_cnpj, self.reference_date)


@dataclass(frozen=True, order=True)
class Delivery:
    """One received file: its bytes and the slice its name designates (the registry's key)."""

    sha256: str
    slice: SliceKey

    @classmethod
    def of_row(cls, row: dict) -> Delivery:
        return cls(row["sha256"], SliceKey.of_row(row))

    @property
    def id(self) -> str:
        """64 hex digits naming the delivery (a run key): the sha256 of its bytes' sha256 and its slice."""
        s = self.slice
        text = f"{self.sha256}|{s.custodian_id}|{s.entity}|{s.fund_cnpj}|{s.reference_date.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()

    def registry_filter(self) -> BooleanExpression:
        return And(equal_to("sha256", self.sha256), self.slice.registry_filter())

    def quarantine_filter(self) -> BooleanExpression:
        return And(equal_to("source_file_sha256", self.sha256), self.slice.registry_filter())


def _any_of(exprs: list[BooleanExpression]) -> BooleanExpression:
    """Or of many expressions as a balanced tree (a chain of thousands would overflow the visitors' recursion)."""
    if not exprs:
        return AlwaysFalse()
    while len(exprs) > 1:
        exprs = [Or(exprs[i], exprs[i + 1]) if i + 1 < len(exprs) else exprs[i] for i in range(0, len(exprs), 2)]
    return exprs[0]


def _scan(table: Table, where: BooleanExpression, columns: tuple[str, ...] = ("*",)) -> list[dict]:
    """Rows of `table` as loaded (the snapshot a following commit on the same object is validated from)."""
    return table.scan(row_filter=where, selected_fields=columns).to_arrow().to_pylist()


_KEY_COLUMNS = ("sha256", "custodian_id", "entity", "fund_cnpj", "reference_date")


def already_received(lake: Lake, deliveries: Iterable[Delivery]) -> set[Delivery]:
    """The deliveries the registry already holds (the sensor's and `receive_files`' deduplication): the same
    bytes under a name for another slice are not among them."""
    wanted = set(deliveries)
    if not wanted:
        return set()
    shas = sorted({d.sha256 for d in wanted})
    found = lake.read(FILE_REGISTRY, is_in("sha256", shas), _KEY_COLUMNS).to_pylist()
    return wanted & {Delivery.of_row(r) for r in found}


@dataclass(frozen=True)
class ReceivedFile:
    """A file `receive_files` archived and registered just now: what its new registry row says."""

    sha256: str
    custodian_id: str
    entity: str
    fund_cnpj: str
    reference_date: dt.date
    original_name: str
    size_bytes: int
    received_at: dt.datetime  # when the custodian delivered it (the inbox file's modification time)
    archive_uri: str

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.sha256, SliceKey(self.custodian_id, self.entity, self.fund_cnpj, self.reference_date))

    def registry_row(self) -> dict[str, object]:
        """Its lake.file_registry row: received, not yet parsed (land_slices fills in the rest)."""
        return {
            "sha256": self.sha256,
            "custodian_id": self.custodian_id,
            "entity": self.entity,
            "fund_cnpj": self.fund_cnpj,
            "reference_date": self.reference_date,
            "original_name": self.original_name,
            "size_bytes": self.size_bytes,
            "received_at": self.received_at,
            "archive_uri": self.archive_uri,
            "status": "received",
            "rows_accepted": None,
            "rows_rejected": None,
            "control_totals": None,
            "error": None,
            "processed_at": None,
        }


@dataclass
class ReceiveReport:
    received: list[ReceivedFile] = field(default_factory=list)  # newly registered
    already_known: list[str] = field(default_factory=list)  # sha256 of deliveries seen before


def receive_files(lake: Lake, files: Iterable[tuple[InboxFile, FileMatch]]) -> ReceiveReport:
    """Archive and register deliveries; one registry commit for all new ones, an upsert keyed by the delivery
    (so two processes receiving the same file at once leave one row)."""
    report = ReceiveReport()
    items: dict[Delivery, tuple[InboxFile, FileMatch]] = {}
    # a local file is read once: hashed while it is copied into the archive under a temporary name
    staged: dict[Delivery, Staged] = {}
    new: dict[Delivery, ReceivedFile] = {}
    try:
        for item, m in files:
            stage = stage_file(Path(item.path), lake.archive_root) if item.inbox is None else None
            delivery = Delivery(stage.sha256 if stage else item.sha256(), SliceKey.of_match(m))
            if delivery in items:
                if stage is not None:
                    stage.discard()
                continue
            items[delivery] = (item, m)
            if stage is not None:
                staged[delivery] = stage
        if not items:
            return report
        known = already_received(lake, items)
        for delivery, (item, m) in items.items():
            if delivery in known:
                report.already_known.append(delivery.sha256)
                continue
            key = archive_key(m.custodian.id, m.reference_date, delivery.sha256, item.name)
            stage = staged.pop(delivery, None)
            if stage is not None:
                uri, size = stage.commit(key), stage.size
            else:
                with item.local_path() as local:
                    uri = archive_file(local, lake.archive_root, key)
                    size = local.stat().st_size
            s = delivery.slice
            new[delivery] = ReceivedFile(
                delivery.sha256, s.custodian_id, s.entity, s.fund_cnpj, s.reference_date, item.name, size,
                item.delivered_at, uri,
            )  # fmt: skip
    finally:
        for stage in staged.values():  # deliveries already received (or an error): their copies are dropped
            stage.discard()
    if not new:
        return report

    def attempt() -> list[ReceivedFile]:
        table = lake.table(FILE_REGISTRY)
        filters = [d.registry_filter() for d in new]
        present = {Delivery.of_row(r) for r in _scan(table, _any_of(filters), _KEY_COLUMNS)}
        todo = [f for d, f in new.items() if d not in present]
        if todo:
            rows = [f.registry_row() for f in todo]
            data = pa.Table.from_pylist(rows, schema=arrow_schema(FILE_REGISTRY)).cast(table.schema().as_arrow())
            # the filter names exactly the deliveries written: it deletes nothing, but a concurrent writer that
            # registered one of them since `table` was loaded makes Iceberg refuse this commit (and we re-read)
            table.overwrite(data, overwrite_filter=_any_of([f.delivery.registry_filter() for f in todo]))
        return todo

    report.received = with_commit_retry(f"registering {len(new)} file(s)", attempt)
    registered = {f.delivery for f in report.received}
    report.already_known += [d.sha256 for d in new if d not in registered]
    return report


@dataclass
class SliceOutcome:
    custodian_id: str
    entity: str
    fund_cnpj: str
    reference_date: dt.date
    file_name: str | None
    sha256: str | None
    rows_accepted: int
    rows_rejected: int
    quarantined_files: list[str] = field(default_factory=list)


@dataclass
class LandingReport:
    slices: list[SliceOutcome] = field(default_factory=list)
    commits: int = 0
    #: files rejected whole by this landing, by sha256
    rejected_files: dict[str, FileRejected] = field(default_factory=dict)
    #: the parse each landed delivery was made from, by sha256 (only with `keep_parses`: a CLI preview)
    parses: dict[str, ParseResult] = field(default_factory=dict)

    @property
    def rows_accepted(self) -> int:
        return sum(s.rows_accepted for s in self.slices)

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected for s in self.slices)

    @property
    def files_quarantined(self) -> int:
        return sum(len(s.quarantined_files) for s in self.slices)


def _quarantine_row(
    reg: dict, now: dt.datetime, line: int | None, field: str | None, reason: str, message: str, raw: str | None
) -> dict:
    """One lake.quarantine row for a registered file: a rejected row (line set) or the whole file (line None)."""
    return {
        "source_file_sha256": reg["sha256"],
        "custodian_id": reg["custodian_id"],
        "entity": reg["entity"],
        "fund_cnpj": reg["fund_cnpj"],
        "reference_date": reg["reference_date"],
        "file_name": reg["original_name"],
        "line_number": line,
        "field": field,
        "reason_code": reason,
        "message": message,
        "raw_text": raw,
        "quarantined_at": now,
    }


def _quarantine_rows(reg: dict, rejected: list[RejectedRow], now: dt.datetime) -> list[dict]:
    return [_quarantine_row(reg, now, r.line_number, r.field, r.reason_code, r.message, r.raw_text) for r in rejected]


def _file_quarantine_row(reg: dict, err: FileRejected, now: dt.datetime) -> dict:
    return _quarantine_row(reg, now, None, None, err.reason_code, err.message, None)


def _slice_filter(entity: str, custodian_id: str, fund_cnpj: str, day: dt.date) -> BooleanExpression:
    """The rows one delivery (custodian, fund, file date) wrote to an entity's table: the custodian files' only
    (`source`, set by the adapters' conversion), so that landing a file never deletes the legacy's migrated rows
    of the same fund-day, which share its custodian id and file date (the shadow period holds both)."""
    expr = And(
        And(equal_to("source", "custodian_file"), equal_to("custodian_id", custodian_id)),
        And(equal_to("fund_cnpj", fund_cnpj), equal_to("file_date", day)),
    )
    partition_date = ENTITIES[entity].partition_date
    if entity in DATED_BY_FILE and partition_date is not None:
        # the business date equals the file date: stating it lets Iceberg prune to one month partition
        expr = And(expr, equal_to(partition_date, day))
    return expr


def _newness(reg: dict) -> tuple:
    """Order of deliveries within a slice: the newest delivered wins."""
    return (reg["received_at"], reg["original_name"], reg["sha256"])


def land_slices(
    lake: Lake,
    specs: dict[str, CustodianSpec],
    days: Iterable[dt.date],
    entities: Iterable[str] | None = None,
    day_funds: Iterable[tuple[dt.date, str]] | None = None,
    retry_quarantined: bool = False,
    keep_parses: bool = False,
) -> LandingReport:
    """Land every registered delivery of `days` (of `entities`, default all; only the (day, fund) pairs
    `day_funds` when given: an ingestion partition) into Iceberg, with quarantine and registry updates.
    `retry_quarantined`: files quarantined whole are parsed again (reprocessing after a spec fix);
    `keep_parses`: the report keeps each landed delivery's parse (its rows: for small landings only)."""
    days = sorted(set(days))
    wanted = set(entities) if entities is not None else None
    pairs = set(day_funds) if day_funds is not None else None
    report = LandingReport()
    if not days:
        return report
    registry = lake.read(FILE_REGISTRY, is_in("reference_date", days)).to_pylist()
    keys: dict[str, dict[SliceKey, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for reg in registry:
        if reg["custodian_id"] not in specs or (wanted is not None and reg["entity"] not in wanted):
            continue
        if pairs is None or (reg["reference_date"], reg["fund_cnpj"]) in pairs:
            keys[reg["entity"]][SliceKey.of_row(reg)].append(reg)
    for entity in sorted(keys):
        batch = _Batch(lake, specs, entity, retry_quarantined)
        for key, rows in sorted(keys[entity].items()):
            batch.add(key, rows)
            if batch.row_count >= MAX_ROWS_PER_COMMIT:
                report.commits += batch.commit(report, keep_parses)
                batch = _Batch(lake, specs, entity, retry_quarantined)
        report.commits += batch.commit(report, keep_parses)
    return report


class _Batch:
    """Slices of one entity landed together: parsed once (results kept across commit attempts), the file of
    each slice chosen again at every data-commit attempt from a fresh registry read."""

    def __init__(self, lake: Lake, specs: dict[str, CustodianSpec], entity: str, retry_quarantined: bool):
        self.lake, self.specs, self.entity, self.retry_quarantined = lake, specs, entity, retry_quarantined
        self.now = dt.datetime.now(dt.UTC)
        self.keys: list[SliceKey] = []
        self.parsed: dict[Delivery, ParseResult] = {}  # small files, rows held
        self.streamed: dict[Delivery, ParseResult] = {}  # big files, already committed
        self.rejected: dict[Delivery, FileRejected] = {}
        self.registry: dict[Delivery, dict] = {}  # the registry row each parse was made from
        self.chosen: dict[SliceKey, Delivery] = {}
        self.quarantine_written: set[Delivery] = set()

    @property
    def row_count(self) -> int:
        return sum(self.parsed[d].rows.num_rows for d in self.chosen.values() if d in self.parsed)

    def add(self, key: SliceKey, rows: list[dict]) -> None:
        """A slice to land, parsed now from the registry as read (`rows`); chosen again at commit time."""
        self.keys.append(key)
        chosen = self._choose(key, rows, stream_big=False)
        if chosen is not None:
            self.chosen[key] = chosen

    # -- choosing -----------------------------------------------------------------------------------------
    def _choose(self, key: SliceKey, rows: list[dict], stream_big: bool, table: Table | None = None):
        """The newest usable delivery of the slice, parsing as needed. A big file is not parsed here unless
        `stream_big` (then it is streamed into `table`, which commits it): it is landed on its own."""
        for reg in sorted(rows, key=_newness, reverse=True):
            d = Delivery.of_row(reg)
            if d in self.rejected:
                continue
            if reg["status"] == "quarantined" and not self.retry_quarantined and d not in self.parsed:
                continue
            if d in self.parsed or d in self.streamed:
                return d
            if reg["size_bytes"] > BIG_FILE_BYTES and not stream_big:
                return d
            try:
                match = _rematch(reg, self.specs[key.custodian_id], self.entity)
                with (
                    archived_path(reg["archive_uri"]) as path,
                    FileParse(path, reg["original_name"], match, reg["sha256"], self.now) as parse,
                ):
                    if reg["size_bytes"] <= BIG_FILE_BYTES:
                        result = parse.collect()
                        _refuse_if_nothing_usable(result, reg["original_name"])
                        self.parsed[d] = result
                    else:
                        assert table is not None
                        sink = lambda batches: self.lake.replace_slice_streaming(  # noqa: E731
                            self.entity, batches, key.data_filter(), table=table
                        )
                        self.streamed[d] = parse.stream_into(sink)
            except FileRejected as err:
                self.rejected[d] = err
                self.registry[d] = reg
                continue
            self.registry[d] = reg
            return d
        return None

    def _is_big(self, d: Delivery) -> bool:
        return d not in self.parsed and d not in self.streamed

    # -- committing ---------------------------------------------------------------------------------------
    def commit(self, report: LandingReport, keep_parses: bool = False) -> int:
        if not self.keys:
            return 0
        commits = self._commit_quarantine()
        big = self._commit_data()
        commits += 1 if any(k not in big for k in self.chosen) else 0
        for key in big:
            commits += self._commit_streamed(key)
        commits += self._commit_quarantine()
        _commit_registry(self.lake, self.keys, self)
        commits += 1
        for key in self.keys:
            report.slices.append(self._outcome(key))
        report.rejected_files.update({d.sha256: err for d, err in self.rejected.items()})
        if keep_parses:
            report.parses.update({d.sha256: r for d, r in (*self.parsed.items(), *self.streamed.items())})
        return commits

    def _commit_data(self) -> list[SliceKey]:
        """Replace the batch's small slices in one commit; the big ones (returned) are landed one by one."""

        def attempt() -> list[SliceKey]:
            table = self.lake.table(self.entity)  # loaded before the registry is read: see the module doc
            rows = self.lake.read(FILE_REGISTRY, _any_of([k.registry_filter() for k in self.keys])).to_pylist()
            by_key: dict[SliceKey, list[dict]] = defaultdict(list)
            for r in rows:
                by_key[SliceKey.of_row(r)].append(r)
            tables, filters, big = [], [], []
            self.chosen.clear()
            for key in self.keys:
                d = self._choose(key, by_key[key], stream_big=False)
                if d is None:
                    continue
                self.chosen[key] = d
                if self._is_big(d):
                    big.append(key)
                    continue
                tables.append(self.parsed[d].rows)
                filters.append(key.data_filter())
            if filters:
                schema = table.schema().as_arrow()
                table.overwrite(pa.concat_tables([t.cast(schema) for t in tables]), overwrite_filter=_any_of(filters))
            return big

        return with_commit_retry(f"landing {len(self.keys)} {self.entity} slice(s)", attempt)

    def _commit_streamed(self, key: SliceKey) -> int:
        def attempt() -> int:
            table = self.lake.table(self.entity)
            rows = self.lake.read(FILE_REGISTRY, key.registry_filter()).to_pylist()
            for d in [d for d in self.streamed if d.slice == key]:
                del self.streamed[d]  # a retried stream is streamed again (its commit did not land)
            d = self._choose(key, rows, stream_big=True, table=table)
            if d is None:
                self.chosen.pop(key, None)
                return 0
            self.chosen[key] = d
            if d in self.parsed:
                schema = table.schema().as_arrow()
                table.overwrite(self.parsed[d].rows.cast(schema), overwrite_filter=key.data_filter())
            return 1

        return with_commit_retry(f"landing {key} (streamed)", attempt)

    def _commit_quarantine(self) -> int:
        """Rejected rows and rejected files of every delivery parsed so far and not yet written (idempotent:
        keyed by the delivery; written before the data so the registry commit is the only one after it)."""
        todo = [d for d in (*self.parsed, *self.streamed, *self.rejected) if d not in self.quarantine_written]
        if not todo:
            return 0
        rows: list[dict] = []
        for d in todo:
            reg = self.registry[d]
            if d in self.rejected:
                rows.append(_file_quarantine_row(reg, self.rejected[d], self.now))
            else:
                result = self.parsed.get(d) or self.streamed[d]
                rows += _quarantine_rows(reg, result.rejected, self.now)
        data = pa.Table.from_pylist(rows, schema=arrow_schema(QUARANTINE))

        def attempt() -> None:
            table = self.lake.table(QUARANTINE)
            where = _any_of([d.quarantine_filter() for d in todo])
            table.overwrite(data.cast(table.schema().as_arrow()), overwrite_filter=where)

        with_commit_retry(f"quarantine of {len(todo)} file(s)", attempt)
        self.quarantine_written.update(todo)
        return 1

    def result(self, d: Delivery) -> ParseResult | None:
        return self.parsed.get(d) or self.streamed.get(d)

    def _outcome(self, key: SliceKey) -> SliceOutcome:
        out = SliceOutcome(key.custodian_id, key.entity, key.fund_cnpj, key.reference_date, None, None, 0, 0)
        out.quarantined_files = sorted(self.registry[d]["original_name"] for d in self.rejected if d.slice == key)
        d = self.chosen.get(key)
        result = self.result(d) if d is not None else None
        if d is not None and result is not None:
            out.file_name, out.sha256 = self.registry[d]["original_name"], d.sha256
            out.rows_accepted, out.rows_rejected = result.accepted_count, result.rows_rejected
        return out


def _commit_registry(lake: Lake, keys: list[SliceKey], batch: _Batch | None) -> None:
    """Rewrite the registry rows of `keys` with statuses computed from what is live in the data tables.

    The registry table is loaded before the data is read, so a concurrent registry commit on these slices
    (which always follows its own data commit) makes this one fail validation and be computed again: the
    last registry commit of a slice reflects the last data commit."""
    by_entity: dict[str, list[SliceKey]] = defaultdict(list)
    for k in keys:
        by_entity[k.entity].append(k)

    def attempt() -> None:
        table = lake.table(FILE_REGISTRY)
        live: dict[SliceKey, dict[str, int]] = defaultdict(dict)
        for entity, ks in by_entity.items():
            for (custodian, fund, day, sha), count in _live_counts(lake, entity, ks).items():
                live[SliceKey(custodian, entity, fund, day)][sha] = count
        rows = _scan(table, _any_of([k.registry_filter() for k in keys]))
        by_key: dict[SliceKey, list[dict]] = defaultdict(list)
        for r in rows:
            by_key[SliceKey.of_row(r)].append(r)
        out = [row for k in keys for row in _statuses(by_key[k], live[k], batch)]
        if not out:
            return
        data = pa.Table.from_pylist(out, schema=arrow_schema(FILE_REGISTRY)).cast(table.schema().as_arrow())
        table.overwrite(data, overwrite_filter=_any_of([k.registry_filter() for k in keys]))

    with_commit_retry(f"registry of {len(keys)} slice(s)", attempt)


_LIVE_COLUMNS = ("custodian_id", "fund_cnpj", "file_date", "source_file_sha256")


def _live_counts(lake: Lake, entity: str, keys: list[SliceKey]) -> dict[tuple, int]:
    """Rows live in the entity's table for the slices, by (custodian, fund, file date, file sha256), counted
    one data file at a time, its text columns read dictionary-encoded (reading them whole grew with the slice)."""
    where = _any_of([k.data_filter() for k in keys])
    counts: dict[tuple, int] = defaultdict(int)
    text = ("custodian_id", "fund_cnpj", "source_file_sha256")
    for batch in lake.read_batches(entity, where, _LIVE_COLUMNS, dictionary=text):
        columns = [c.dictionary_decode() if isinstance(c, pa.DictionaryArray) else c for c in batch.columns]
        data = pa.Table.from_arrays(columns, names=batch.schema.names)
        grouped = data.group_by(list(_LIVE_COLUMNS)).aggregate([("source_file_sha256", "count")])
        for c in grouped.to_pylist():
            counts[tuple(c[name] for name in _LIVE_COLUMNS)] += c["source_file_sha256_count"]
    return counts


def _refuse_if_nothing_usable(result: ParseResult, name: str) -> None:
    """A delivery whose every row was rejected is not a version of its slice: landing it would empty the slice
    and hide the version it replaces (a day's file sent under another day's name has every row's date wrong).
    It is quarantined whole, its first rejected row named, and the live version stays."""
    if result.accepted_count or not result.rows_rejected:
        return
    first = min(result.rejected, key=lambda r: r.line_number)
    raise too_many_rejected(
        name,
        result.rows_rejected,
        f"all {result.rows_rejected:,} of its rows were rejected (the first, line {first.line_number}: "
        f"{first.reason_code}: {first.message}); the version landed before it stays",
    )


def _statuses(rows: list[dict], live: dict[str, int], batch: _Batch | None) -> list[dict]:
    """The registry rows of one slice, one per delivery, with their statuses: the live delivery `accepted`
    (or, when the slice holds no rows, the delivery this landing chose: a file whose rows were all rejected),
    older ones `superseded`, unusable ones `quarantined`; a newer one not yet landed stays `received`."""
    now = batch.now if batch is not None else dt.datetime.now(dt.UTC)
    one: dict[Delivery, dict] = {}
    for r in sorted(rows, key=lambda r: r["processed_at"] is not None):  # a processed duplicate wins
        one[Delivery.of_row(r)] = r
    rejected = batch.rejected if batch is not None else {}
    candidates = [r for d, r in one.items() if d.sha256 in live and d not in rejected]
    winner: Delivery | None = None
    if candidates:
        winner = Delivery.of_row(max(candidates, key=_newness))
    elif batch is not None and one:
        chosen = batch.chosen.get(next(iter(one)).slice)
        winner = chosen if chosen in one and chosen not in rejected else None
    if winner is None and not live:
        accepted = [r for d, r in one.items() if r["status"] == "accepted" and d not in rejected]
        winner = Delivery.of_row(max(accepted, key=_newness)) if accepted else None
    out = []
    for d, r in one.items():
        r = dict(r)
        if d in rejected:
            err = rejected[d]
            r.update(status="quarantined", error=err.message, processed_at=now, rows_accepted=0, rows_rejected=None)
            r["control_totals"] = None
        elif d == winner:
            result = batch.result(d) if batch is not None else None
            r.update(status="accepted", error=None)
            if result is not None:
                r.update(rows_accepted=result.accepted_count, rows_rejected=result.rows_rejected, processed_at=now)
                r["control_totals"] = json.dumps(result.control_totals, sort_keys=True)
            elif r["rows_accepted"] is None or r["processed_at"] is None:  # repaired after a crash
                r.update(rows_accepted=live.get(d.sha256, 0), processed_at=now)
        elif r["status"] == "quarantined":
            pass
        elif winner is not None and _newness(r) < _newness(one[winner]):
            r.update(status="superseded", processed_at=r["processed_at"] or now)
        elif r["status"] in ("accepted", "superseded"):
            r["status"] = "received"  # newer than what is live: the next landing of the slice lands it
        out.append(r)
    return out


def reconcile_registry(lake: Lake, days: Iterable[dt.date]) -> int:
    """Repair the registry of `days` from the data (a crash between a landing's data commit and its registry
    commit leaves rows live while their file says `received`): every slice with a `received` delivery gets
    its statuses computed again, without parsing anything. Returns the slices rewritten."""
    days = sorted(set(days))
    if not days:
        return 0
    rows = lake.read(FILE_REGISTRY, And(is_in("reference_date", days), equal_to("status", "received")), _KEY_COLUMNS)
    keys = sorted({SliceKey.of_row(r) for r in rows.to_pylist()})
    if keys:
        _commit_registry(lake, keys, None)
    return len(keys)


def _rematch(reg: dict, spec: CustodianSpec, entity: str) -> FileMatch:
    """The file spec a registered file matches today (a custodian may have several for one entity)."""
    m = match_file(reg["original_name"], {spec.id: spec})
    if m is None or m.file_spec.entity != entity:
        raise FileRejected(
            "unmatched", f"{reg['original_name']}: no longer matches a {entity} layout of {spec.name}; "
            "the custodian spec changed after the file was received."
        )  # fmt: skip
    return m
