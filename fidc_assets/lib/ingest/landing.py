"""Receiving and landing custodian files, without Dagster: inbox → raw archive → registry → Iceberg.

Two steps, both idempotent:
- `receive_files` archives each inbox file byte for byte (content-addressed by sha256) and registers it;
  a file already registered (same sha256) is a no-op.
- `land_slices` parses, for every (custodian, entity, fund, day) slice, the newest usable file and replaces
  that slice in Iceberg in one commit per batch; older files of the slice become `superseded`, unusable files
  are `quarantined` with a message, bad rows go to `lake.quarantine`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow as pa
from pyiceberg.expressions import And, BooleanExpression, Or

from fidc_assets.lib.core.canonical import ENTITIES, FILE_REGISTRY, QUARANTINE, arrow_schema
from fidc_assets.lib.ingest.adapters import DATED_BY_FILE, FileParse, FileRejected, ParseResult, RejectedRow
from fidc_assets.lib.ingest.inbox import Inbox
from fidc_assets.lib.ingest.specs import CustodianSpec, FileMatch, match_file
from fidc_assets.lib.lake.archive import archive_file, archive_key, archived_path, sha256_file
from fidc_assets.lib.lake.catalog import Lake
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
    already_known: list[str] = field(default_factory=list)  # sha256 seen before


def receive_files(lake: Lake, files: Iterable[tuple[InboxFile, FileMatch]]) -> ReceiveReport:
    """Archive and register files; one registry commit for all new ones."""
    report = ReceiveReport()
    files = list(files)
    if not files:
        return report
    shas = {f.path: f.sha256() for f, _ in files}
    known = set(lake.read(FILE_REGISTRY, is_in("sha256", list(set(shas.values()))), ("sha256",))["sha256"].to_pylist())
    received: list[ReceivedFile] = []
    for item, m in files:
        sha = shas[item.path]
        if sha in known:
            report.already_known.append(sha)
            continue
        key = archive_key(m.custodian.id, m.reference_date, sha, item.name)
        with item.local_path() as local:
            uri = archive_file(local, lake.archive_root, key)
            size = local.stat().st_size
        known.add(sha)
        received.append(
            ReceivedFile(
                sha256=sha,
                custodian_id=m.custodian.id,
                entity=m.file_spec.entity,
                fund_cnpj=m.fund_cnpj,
                reference_date=m.reference_date,
                original_name=item.name,
                size_bytes=size,
                received_at=item.delivered_at,
                archive_uri=uri,
            )
        )
    if received:
        rows = [r.registry_row() for r in received]
        table = pa.Table.from_pylist(rows, schema=arrow_schema(FILE_REGISTRY))
        lake.table(FILE_REGISTRY).append(table.cast(lake.table(FILE_REGISTRY).schema().as_arrow()))
        report.received = received
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
    """The rows one delivery (custodian, fund, file date) wrote to an entity's table."""
    expr = And(
        equal_to("custodian_id", custodian_id), And(equal_to("fund_cnpj", fund_cnpj), equal_to("file_date", day))
    )
    partition_date = ENTITIES[entity].partition_date
    if entity in DATED_BY_FILE and partition_date is not None:
        # the business date equals the file date: stating it lets Iceberg prune to one month partition
        expr = And(expr, equal_to(partition_date, day))
    return expr


def _or_all(exprs: list[BooleanExpression]) -> BooleanExpression:
    out = exprs[0]
    for e in exprs[1:]:
        out = Or(out, e)
    return out


def land_slices(
    lake: Lake,
    specs: dict[str, CustodianSpec],
    days: Iterable[dt.date],
    entities: Iterable[str] | None = None,
    day_funds: Iterable[tuple[dt.date, str]] | None = None,
) -> LandingReport:
    """Land every registered delivery of `days` (of `entities`, default all; only the (day, fund) pairs
    `day_funds` when given: an ingestion partition) into Iceberg, with quarantine and registry updates."""
    days = sorted(set(days))
    wanted = set(entities) if entities is not None else None
    pairs = set(day_funds) if day_funds is not None else None
    report = LandingReport()
    if not days:
        return report
    registry = lake.read(FILE_REGISTRY, is_in("reference_date", days)).to_pylist()
    slices: dict[tuple, list[dict]] = defaultdict(list)
    for reg in registry:
        if reg["custodian_id"] not in specs or (wanted is not None and reg["entity"] not in wanted):
            continue
        if pairs is None or (reg["reference_date"], reg["fund_cnpj"]) in pairs:
            slices[(reg["custodian_id"], reg["entity"], reg["fund_cnpj"], reg["reference_date"])].append(reg)

    pending = _Pending()
    for key in sorted(slices):
        outcome = _land_one_slice(lake, specs, key, slices[key], pending)
        report.slices.append(outcome)
        if pending.row_count >= MAX_ROWS_PER_COMMIT:
            report.commits += pending.flush(lake)
    report.commits += pending.flush(lake)
    return report


@dataclass
class _Pending:
    """Rows and registry updates waiting for the next commit, grouped by entity."""

    rows: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    filters: dict[str, list[BooleanExpression]] = field(default_factory=lambda: defaultdict(list))
    quarantine: list[dict] = field(default_factory=list)
    quarantine_shas: set[str] = field(default_factory=set)
    registry: list[dict] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(t.num_rows for tables in self.rows.values() for t in tables)

    def flush(self, lake: Lake) -> int:
        commits = 0
        # Order matters for crash safety: data first, the registry (which says "done") last.
        for entity, tables in self.rows.items():
            if not self.filters[entity]:
                continue
            schema = arrow_schema(ENTITIES[entity])
            data = pa.concat_tables(tables) if tables else schema.empty_table()
            lake.replace_slice(entity, data, _or_all(self.filters[entity]))
            commits += 1
        if self.quarantine_shas:
            q = pa.Table.from_pylist(self.quarantine, schema=arrow_schema(QUARANTINE))
            lake.replace_slice(QUARANTINE, q, is_in("source_file_sha256", sorted(self.quarantine_shas)))
            commits += 1
        if self.registry:
            r = pa.Table.from_pylist(self.registry, schema=arrow_schema(FILE_REGISTRY))
            lake.replace_slice(FILE_REGISTRY, r, is_in("sha256", [x["sha256"] for x in self.registry]))
            commits += 1
        self.rows.clear()
        self.filters.clear()
        self.quarantine.clear()
        self.quarantine_shas.clear()
        self.registry.clear()
        return commits


def _rematch(reg: dict, spec: CustodianSpec, entity: str) -> FileMatch:
    """The file spec a registered file matches today (a custodian may have several for one entity)."""
    m = match_file(reg["original_name"], {spec.id: spec})
    if m is None or m.file_spec.entity != entity:
        raise FileRejected(
            "unmatched", f"{reg['original_name']}: no longer matches a {entity} layout of {spec.name}; "
            "the custodian spec changed after the file was received."
        )  # fmt: skip
    return m


def _parse_delivery(lake: Lake, reg: dict, match: FileMatch, entity: str, where, now: dt.datetime) -> ParseResult:
    """Parse one archived delivery. A big one is streamed straight into its own Iceberg transaction (its
    `rows` come back empty); a small one comes back whole, to be committed with others."""
    with archived_path(reg["archive_uri"]) as path:
        parse = FileParse(path, reg["original_name"], match, reg["sha256"], now)
        if reg["size_bytes"] <= BIG_FILE_BYTES:
            return parse.collect()
        return parse.stream_into(lambda batches: lake.replace_slice_streaming(entity, batches, where))


def _land_one_slice(
    lake: Lake, specs: dict[str, CustodianSpec], key: tuple, files: list[dict], pending: _Pending
) -> SliceOutcome:
    custodian_id, entity, fund, day = key
    spec = specs[custodian_id]
    now = dt.datetime.now(dt.UTC)
    where = _slice_filter(entity, custodian_id, fund, day)
    # Newest delivery first; a file already known to be unusable is not tried again.
    candidates = sorted(files, key=lambda r: (r["received_at"], r["original_name"]), reverse=True)
    chosen: tuple[dict, ParseResult] | None = None
    outcome = SliceOutcome(custodian_id, entity, fund, day, None, None, 0, 0)
    updates: dict[str, dict] = {}
    for reg in candidates:
        if chosen is not None:
            if reg["status"] in ("accepted", "received", "superseded"):
                updates[reg["sha256"]] = {**reg, "status": "superseded", "processed_at": reg["processed_at"] or now}
            continue
        if reg["status"] == "quarantined":
            outcome.quarantined_files.append(reg["original_name"])
            continue
        try:
            result = _parse_delivery(lake, reg, _rematch(reg, spec, entity), entity, where, now)
        except FileRejected as err:
            pending.quarantine.append(_file_quarantine_row(reg, err, now))
            pending.quarantine_shas.add(reg["sha256"])
            updates[reg["sha256"]] = {
                **reg,
                "status": "quarantined",
                "error": err.message,
                "processed_at": now,
                "rows_accepted": 0,
                "rows_rejected": None,
            }
            outcome.quarantined_files.append(reg["original_name"])
            continue
        chosen = (reg, result)
        pending.quarantine.extend(_quarantine_rows(reg, result.rejected, now))
        pending.quarantine_shas.add(reg["sha256"])
        updates[reg["sha256"]] = {
            **reg,
            "status": "accepted",
            "rows_accepted": result.accepted_count,
            "rows_rejected": result.rows_rejected,
            "control_totals": json.dumps(result.control_totals, sort_keys=True),
            "error": None,
            "processed_at": now,
        }
    if chosen is not None:
        reg, result = chosen
        if result.streamed_rows is None:  # a streamed delivery is already committed
            pending.rows[entity].append(result.rows)
            pending.filters[entity].append(where)
        outcome.file_name, outcome.sha256 = reg["original_name"], reg["sha256"]
        outcome.rows_accepted, outcome.rows_rejected = result.accepted_count, result.rows_rejected
    pending.registry.extend(updates.values())
    return outcome
