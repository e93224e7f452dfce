"""Migrating the legacy database into the lake, one month at a time (no Dagster here).

The mapping is configuration (`mapping.LegacySpec`, the shipped ``config/legacy/sifidc.yaml``). For each month
and each mapped table the rows are streamed out of PostgreSQL with ``COPY (select ...) TO STDOUT`` into a
pyarrow CSV reader (read one batch at a time; the mapped batches of a month and entity are then gathered for
its one commit, so memory grows with a month of one entity, not with the table), typed and mapped with
vectorized kernels, and land in the canonical Iceberg table with ``source = 'legacy'``:

* one Iceberg commit per entity per month replaces exactly ``source = 'legacy'`` and that month (re-running a
  month rewrites it; custodian rows and other months are never touched); the commit's snapshot carries the
  run id and the month in its summary and is tagged ``legacy-<yyyy-mm>-<entity>-<run id>``;
* rows the canonical model cannot take are not dropped silently: a required field empty (a receivable with
  no cedente) is quarantined as ``missing_required``, an unknown old code as ``unknown_code``, and a second
  row with the same business key (a duplicated legacy row) as ``duplicate_key`` — the first one (lowest
  legacy id) lands. `lake.quarantine` keeps them with the legacy table as file name and the legacy id as line;
* a month is recorded as done in ``recon.legacy_migration_log`` (PostgreSQL, see `ledger`) only after all its
  commits, so a backfill stopped anywhere (a crash between two entities' commits included) resumes with
  `ledger.pending_months` and rewrites the unfinished month whole: no duplicate, no missing row.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, LiteralString, cast

import psycopg
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pcsv
from psycopg import sql
from psycopg.abc import Buffer
from pyiceberg.expressions import And, BooleanExpression, EqualTo, GreaterThanOrEqual, In, LessThan

from fidc_assets.lib.core.canonical import ENTITIES, QUARANTINE, Entity, arrow_schema
from fidc_assets.lib.core.months import month_key, month_start, months_between, next_month
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.history import PROP_RUN
from fidc_assets.lib.legacy.ledger import EntityOutcome, MonthOutcome, pending_months, record_done
from fidc_assets.lib.legacy.mapping import LegacyColumn, LegacySpec, LegacyTable, default_spec, month_params

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute

SOURCE = "legacy"
#: Snapshot summary properties of a migration commit (and `PROP_RUN`, the run id, from lake.history).
PROP_MONTH = "fidc.legacy-month"
PROP_OPERATION = "fidc.operation"
READ_BLOCK_BYTES = 8 << 20
CENT = pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))


def month_filter(entity: Entity, month: dt.date) -> BooleanExpression:
    """The legacy slice of one month in a canonical table."""
    date = entity.partition_date
    if date is None:
        raise ValueError(f"{entity.name} has no partition date, hence no monthly legacy slice")
    # pyiceberg's predicates take (term, literal) positionally; pyright sees only the pydantic-synthesized
    # keyword __init__ of these models, hence the ignores.
    in_month = And(
        GreaterThanOrEqual(date, month.isoformat()),  # pyright: ignore[reportCallIssue]
        LessThan(date, next_month(month).isoformat()),  # pyright: ignore[reportCallIssue]
    )
    return And(EqualTo("source", SOURCE), in_month)  # pyright: ignore[reportCallIssue]


# ----------------------------------------------------------------------------------------------------------
# Reading: COPY TO STDOUT streamed into pyarrow's CSV reader


class _CopyReader(io.RawIOBase):
    """A file-like view of `COPY ... TO STDOUT` chunks (no more than one chunk held)."""

    def __init__(self, chunks: Iterator[Buffer]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = bytes(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _configured_sql(text: str) -> LiteralString:
    """SQL assembled from the legacy mapping: configuration, reviewed like code, never user input. psycopg's
    types ask for a literal string to keep user input out of queries; this is one by review, not by type."""
    return cast(LiteralString, text)


def _select_sql(table: LegacyTable) -> str:
    cols = sorted({c.column for c in table.column_maps().values() if c.column} | {table.row_id})
    where = f"({table.month_filter})" + (f" and ({table.where})" if table.where else "")
    return f"select {', '.join(cols)} from {table.table} where {where} order by {table.row_id}"


def stream_table_month(
    conn: psycopg.Connection, spec: LegacySpec, table: LegacyTable, month: dt.date
) -> Iterator[pa.RecordBatch]:
    """The month's raw rows as string columns, batch by batch, straight from a COPY."""
    bound = psycopg.ClientCursor(conn).mogrify(_configured_sql(_select_sql(table)), month_params(month))
    copy = sql.SQL("copy ({}) to stdout with (format csv, header true, encoding {})").format(
        sql.SQL(_configured_sql(bound)), sql.Literal(spec.pg_encoding)
    )
    with conn.cursor() as cur:
        with cur.copy(copy) as cp:
            reader = pcsv.open_csv(
                io.BufferedReader(_CopyReader(iter(cp)), buffer_size=READ_BLOCK_BYTES),
                read_options=pcsv.ReadOptions(encoding=spec.encoding, block_size=READ_BLOCK_BYTES),
                convert_options=pcsv.ConvertOptions(
                    column_types={c: pa.string() for c in _select_columns(table)},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                ),
            )
            yield from reader


def _select_columns(table: LegacyTable) -> list[str]:
    return sorted({c.column for c in table.column_maps().values() if c.column} | {table.row_id})


# ----------------------------------------------------------------------------------------------------------
# Mapping (vectorized)


@dataclass
class Rejected:
    """Legacy rows that do not land, with why (one reason per row: the first found)."""

    row_ids: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    fund_cnpjs: list[str | None] = field(default_factory=list)
    dates: list[dt.date | None] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_ids)


def convert(values: pa.Array, cmap: LegacyColumn, target: pa.DataType) -> pa.Array:
    """One source column (strings) → the canonical field's type, by the column's `parse` and `map`."""
    if cmap.map is not None:
        keys = list(cmap.map)
        # one map's values are all text or all flags (Arrow infers which, and rejects a mix)
        mapped = pa.array(cast(list[str] | list[bool], [cmap.map[k] for k in keys]))
        idx = pc.index_in(pc.utf8_trim_whitespace(values), value_set=pa.array(keys))
        return pc.take(mapped, idx).cast(target)
    kind = cmap.parse
    if kind == "text":
        out = pc.utf8_trim_whitespace(values)
    elif kind == "digits":
        out = pc.replace_substring_regex(values, r"\D", "")
    elif kind == "centavos":
        out = pc.multiply(values.cast(pa.int64()).cast(pa.decimal128(21, 0)), CENT)
    elif kind == "decimal":
        out = values.cast(pa.decimal128(38, 10))
    elif kind == "integer":
        out = values.cast(pa.int64())
    else:  # date
        out = pc.strptime(values, format=cmap.date_format, unit="s").cast(pa.date32())
    return out.cast(target)


def map_batch(
    batch: pa.RecordBatch, spec: LegacySpec, table: LegacyTable, batch_id: str, now: dt.datetime
) -> tuple[pa.Table, Rejected]:
    """Canonical rows of one batch of legacy rows, and the rows rejected (missing_required, unknown_code)."""
    entity = table.entity_def
    schema = arrow_schema(entity)
    n = batch.num_rows
    cols: dict[str, pa.Array] = {}
    bad = pa.array([False] * n)
    reasons: list[tuple[pa.Array, str, str]] = []
    for name, cmap in table.column_maps().items():
        target = schema.field(name).type
        if cmap.column is None:
            cols[name] = pa.array([cmap.default] * n, pa.string()).cast(target)
            continue
        raw = batch.column(cmap.column)
        values = convert(raw, cmap, target)
        cols[name] = values
        if cmap.map is not None:
            unknown = pc.and_(pc.is_valid(raw), pc.is_null(values))
            reasons.append((unknown, "unknown_code", f"{cmap.column}: code not in the mapping's map"))
        if entity.field(name).required:
            missing = pc.is_null(values)
            if pa.types.is_string(values.type):
                missing = pc.or_(missing, pc.equal(values, ""))
            reasons.append((pc.fill_null(missing, True), "missing_required", f"{cmap.column} ({name}) is empty"))
    row_ids = batch.column(table.row_id).cast(pa.int64())
    for mask, _, _ in reasons:
        bad = pc.or_(bad, mask)
    date_field = table.date_field
    rejected = Rejected()
    if pc.any(bad).as_py():
        taken: set[int] = set()
        for mask, reason, message in reasons:
            for i in pc.indices_nonzero(mask).to_pylist():
                if i in taken:
                    continue
                taken.add(i)
                rejected.row_ids.append(row_ids[i].as_py())
                rejected.reasons.append(reason)
                rejected.fields.append(message.split(" ")[0].rstrip(":"))
                rejected.messages.append(f"{table.table} id {row_ids[i].as_py()}: {message}")
                rejected.fund_cnpjs.append(cols.get("fund_cnpj", pa.nulls(n))[i].as_py())
                rejected.dates.append(cols[date_field][i].as_py())
                rejected.raw.append(
                    "|".join("" if v is None else str(v) for v in batch.slice(i, 1).to_pylist()[0].values())
                )
    good = pc.invert(bad)
    for f in entity.fields:
        if f.name not in cols and f.name not in (
            "file_date",
            "source",
            "source_file_sha256",
            "source_line",
            "ingested_at",
        ):
            cols[f.name] = pa.array([spec.currency if f.name == "currency" else None] * n, schema.field(f.name).type)
    cols["file_date"] = cols[date_field]
    cols["source"] = pa.array([SOURCE] * n, pa.string())
    cols["source_file_sha256"] = pa.array([batch_id] * n, pa.string())
    cols["source_line"] = row_ids
    cols["ingested_at"] = pa.array([now] * n, schema.field("ingested_at").type)
    out = pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)
    return out.filter(good), rejected


def dedupe(rows: pa.Table, entity: Entity) -> tuple[pa.Table, pa.Table]:
    """(first row per business key by legacy id, the other rows). A duplicated legacy row lands once."""
    if rows.num_rows == 0:
        return rows, rows
    indexed = rows.append_column("__i", pa.array(range(rows.num_rows), pa.int64()))
    firsts = indexed.group_by(list(entity.key), use_threads=False).aggregate([("source_line", "min")])
    if firsts.num_rows == rows.num_rows:
        return rows, rows.slice(0, 0)
    keep_ids = firsts.column("source_line_min")
    keep = pc.is_in(indexed.column("source_line"), value_set=keep_ids)
    return rows.filter(keep), rows.filter(pc.invert(keep))


# ----------------------------------------------------------------------------------------------------------
# Landing


def batch_id(table: LegacyTable, month: dt.date) -> str:
    """What `source_file_sha256` holds for legacy rows: the legacy table, entity and month."""
    return f"legacy:{table.table}:{table.entity}:{month_key(month)}"


def tag_name(month: dt.date, entity: str, run_id: str) -> str:
    return f"legacy-{month_key(month)}-{entity}-{run_id}"


def _tag(lake: Lake, entity: Entity, snapshot_id: int, name: str) -> None:
    table = lake.table(entity)
    manage = table.manage_snapshots()
    if name in table.refs():
        manage = manage.remove_tag(name)
    manage.create_tag(snapshot_id, name).commit()


def _quarantine_table(rejected: list[tuple[LegacyTable, Rejected]], month: dt.date, now: dt.datetime) -> pa.Table:
    rows = []
    for table, r in rejected:
        for i in range(len(r)):
            rows.append(
                {
                    "source_file_sha256": batch_id(table, month),
                    "custodian_id": SOURCE,
                    "entity": table.entity,
                    "fund_cnpj": r.fund_cnpjs[i],
                    "reference_date": r.dates[i],
                    "file_name": table.table,
                    "line_number": r.row_ids[i],
                    "field": r.fields[i],
                    "reason_code": r.reasons[i],
                    "message": r.messages[i],
                    "raw_text": r.raw[i],
                    "quarantined_at": now,
                }
            )
    return pa.Table.from_pylist(rows, schema=arrow_schema(QUARANTINE))


def _duplicates_rejected(dups: pa.Table, table: LegacyTable) -> Rejected:
    r = Rejected()
    date_field = table.date_field
    for row in dups.select(["source_line", "fund_cnpj", date_field, "receivable_id"]).to_pylist():
        r.row_ids.append(row["source_line"])
        r.reasons.append("duplicate_key")
        r.fields.append("receivable_id")
        r.messages.append(f"{table.table} id {row['source_line']}: a second row for the key of receivable "
                          f"{row['receivable_id']}; the first (lowest id) landed")  # fmt: skip
        r.fund_cnpjs.append(row["fund_cnpj"])
        r.dates.append(row[date_field])
        r.raw.append("")
    return r


#: A hook called after each entity's commit (tests inject a failure between two commits with it).
AfterCommit = Callable[[dt.date, str], None]


def migrate_month(
    lake: Lake,
    legacy_dsn: str,
    month: dt.date,
    run_id: str | None = None,
    spec: LegacySpec | None = None,
    log_dsn: str | None = None,
    after_commit: AfterCommit | None = None,
) -> MonthOutcome:
    """Land one month of every mapped legacy table: one Iceberg commit per entity, then the quarantine."""
    spec = spec or default_spec()
    run_id = run_id or uuid.uuid4().hex[:12]
    month = month_start(month)
    now = dt.datetime.now(dt.UTC)
    outcome = MonthOutcome(month, run_id)
    rejected_all: list[tuple[LegacyTable, Rejected]] = []
    by_entity: dict[str, list[LegacyTable]] = {}
    for t in spec.tables:
        by_entity.setdefault(t.entity, []).append(t)
    with psycopg.connect(legacy_dsn) as conn:
        for entity_name, tables in by_entity.items():
            entity = ENTITIES[entity_name]
            parts: list[pa.Table] = []
            rejected_count = 0
            for table in tables:
                bid = batch_id(table, month)
                mapped: list[pa.Table] = []
                for batch in stream_table_month(conn, spec, table, month):
                    outcome.legacy_rows += batch.num_rows
                    rows, rej = map_batch(batch, spec, table, bid, now)
                    mapped.append(rows)
                    if len(rej):
                        rejected_all.append((table, rej))
                        rejected_count += len(rej)
                rows = pa.concat_tables(mapped) if mapped else arrow_schema(entity).empty_table()
                rows, dups = dedupe(rows, entity)
                if dups.num_rows:
                    rejected_all.append((table, _duplicates_rejected(dups, table)))
                    rejected_count += dups.num_rows
                parts.append(rows)
            rows = pa.concat_tables(parts)
            props = {PROP_RUN: run_id, PROP_MONTH: month_key(month), PROP_OPERATION: "migrate", "fidc.source": SOURCE}
            before = lake.table(entity).current_snapshot()
            lake.replace_slice(entity, rows, month_filter(entity, month), snapshot_properties=props)
            snap = lake.table(entity).current_snapshot()
            tag = tag_name(month, entity_name, run_id)
            if snap is not None:
                _tag(lake, entity, snap.snapshot_id, tag)
            if before is not None:  # the state a rollback restores: tagged too, so snapshot expiry keeps it
                _tag(lake, entity, before.snapshot_id, f"{tag}-before")
            outcome.entities.append(
                EntityOutcome(entity_name, rows.num_rows, rejected_count, snap.snapshot_id if snap else None, tag)
            )
            if after_commit is not None:
                after_commit(month, entity_name)
    q = _quarantine_table(rejected_all, month, now)
    shas = sorted({batch_id(t, month) for t in spec.tables})
    lake.replace_slice(
        QUARANTINE,
        q,
        In("source_file_sha256", shas),  # pyright: ignore[reportCallIssue]  (see month_filter)
        snapshot_properties={PROP_RUN: run_id, PROP_MONTH: month_key(month), PROP_OPERATION: "migrate"},
    )
    if log_dsn is not None:
        record_done(log_dsn, outcome)
    return outcome


def legacy_months(legacy_dsn: str, spec: LegacySpec | None = None) -> list[dt.date]:
    """Every month the legacy holds stock for, from its first to its last day."""
    spec = spec or default_spec()
    table = next(t for t in spec.tables if t.entity == "receivable_positions")
    date_col = table.column_maps()[table.date_field].column
    with psycopg.connect(legacy_dsn) as conn:
        row = conn.execute(_configured_sql(f"select min({date_col}), max({date_col}) from {table.table}")).fetchone()
    if row is None or row[0] is None:
        return []
    return months_between(row[0], row[1])


def migrate_months(
    lake: Lake,
    legacy_dsn: str,
    log_dsn: str,
    months: list[dt.date],
    run_id: str | None = None,
    resume: bool = True,
    spec: LegacySpec | None = None,
    after_commit: AfterCommit | None = None,
    on_month: Callable[[MonthOutcome], None] | None = None,
) -> list[MonthOutcome]:
    """Migrate `months` in order (with `resume`, only those not recorded as done)."""
    run_id = run_id or uuid.uuid4().hex[:12]
    todo = pending_months(log_dsn, months) if resume else months
    out = []
    for m in todo:
        outcome = migrate_month(lake, legacy_dsn, m, run_id, spec, log_dsn, after_commit)
        out.append(outcome)
        if on_month:
            on_month(outcome)
    return out
