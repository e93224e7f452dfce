"""The hot loader: canonical rows from Iceberg (cold) into PostgreSQL `landing`, one partition per day.

`landing.<entity>` is range-partitioned by the entity's business date, one partition per day
(`landing.<entity>_pYYYYMMDD`), created on demand. Replacing days never deletes row by row and readers never
see half a day or an empty day in between:

1. load: for each day, a standalone table `<partition>_new` with the parent's columns and a CHECK constraint
   equal to the day's partition bound (added while it is empty, so it costs nothing); rows sorted by date then
   fund go in with binary `COPY ... FROM STDIN (FORMAT BINARY)` (`fidc_assets.lib.hot.binary_copy`, vectorized);
   its index is built after the load;
2. swap: the old day partition is dropped and the new table renamed and ATTACHed (the CHECK constraint proves
   the bound, so ATTACH does not scan; the index matches the parent's, so ATTACH does not build one).

Both happen in one transaction per call: the parent is locked only for the swap at its end, and a failure
anywhere leaves the previous days exactly as they were. Loaders of the same entity are serialized by an
advisory lock.

`read_cold_days` is the one place rows are read from cold for a set of days (the loader, rehydration and the
retention check all use it).
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.canonical import Entity
from fidc_assets.lib.hot.binary_copy import encode_stream
from fidc_assets.lib.hot.trusted_sql import trusted
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import is_in

LANDING_SCHEMA = "landing"


class SourceRule(Protocol):
    """Which source's rows of a fund-day reach PostgreSQL when cold holds more than one (the legacy cutover).

    The rule is the legacy area's (`fidc_assets.lib.legacy.cutover.CutoverRule`); the hot side only applies it,
    so it is passed in, never looked up from here."""

    def resolve(self, rows: pa.Table, date_field: str = ...) -> pa.Table: ...


#: The canonical entities the hot loader copies (each has a business date and a fund).
HOT_ENTITIES: tuple[Entity, ...] = (
    canonical.RECEIVABLE_POSITIONS,
    canonical.ACQUISITIONS,
    canonical.SETTLEMENTS,
    canonical.FUND_QUOTAS,
)
FUND_COLUMN = "fund_cnpj"
#: Rows per COPY chunk; the encoder thread runs up to ENCODE_AHEAD_CHUNKS chunks ahead of the COPY.
COPY_CHUNK_ROWS = 32_768
ENCODE_AHEAD_CHUNKS = 4
#: Each day partition's index, built after its load. BRIN: the rows are sorted by fund within a day, so
#: min/max ranges per block are selective, and building it is one pass over the table (a B-tree on text sorts).
INDEX_METHOD = "brin"
INDEX_COLUMNS = (FUND_COLUMN,)
#: A swap waits this long for readers holding the parent before failing (the asset retries).
LOCK_TIMEOUT = "60s"
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def pg_type(t: IcebergType) -> str:
    if isinstance(t, StringType):
        return "text"
    if isinstance(t, DateType):
        return "date"
    if isinstance(t, DecimalType):
        return f"numeric({t.precision},{t.scale})"
    if isinstance(t, IntegerType):
        return "integer"
    if isinstance(t, LongType):
        return "bigint"
    if isinstance(t, BooleanType):
        return "boolean"
    if isinstance(t, TimestamptzType):
        return "timestamptz"
    raise TypeError(f"no PostgreSQL type for {t}")


def _require_dated(entity: Entity) -> str:
    if not entity.partition_date:
        raise ValueError(f"{entity.name} has no business date: it has no place in landing")
    return entity.partition_date


def partition_name(entity: Entity, day: dt.date) -> str:
    return f"{entity.name}_p{day:%Y%m%d}"


def _parent(entity: Entity) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(LANDING_SCHEMA), sql.Identifier(entity.name))


def _rel(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(LANDING_SCHEMA), sql.Identifier(name))


def landing_ddl(entity: Entity) -> sql.Composed:
    """The partitioned parent: the canonical columns, partitioned by range of the business date."""
    date_col = _require_dated(entity)
    cols = sql.SQL(",\n  ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name), trusted(pg_type(f.type)), sql.SQL(" not null" if f.required else "")
        )
        for f in entity.fields
    )
    return sql.SQL("create table if not exists {} (\n  {}\n) partition by range ({})").format(
        _parent(entity), cols, sql.Identifier(date_col)
    )


def _index_ddl(entity: Entity, table: sql.Composable, name: str | None = None) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in INDEX_COLUMNS)
    target = sql.SQL("index if not exists {}").format(sql.Identifier(name)) if name else sql.SQL("index")
    return sql.SQL("create {} on {} using {} ({})").format(target, table, sql.SQL(INDEX_METHOD), columns)


def _relkind(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        [LANDING_SCHEMA, name],
    ).fetchone()
    return row[0] if row else None


def ensure_parent(conn: psycopg.Connection, entity: Entity) -> None:
    """Create `landing.<entity>` partitioned by day (and its partitioned index) if missing.

    A plain table left by an earlier version is converted in place: its rows are moved into day partitions.
    Views on it (dbt staging) are dropped with it and come back with the next dbt run."""
    date_col = _require_dated(entity)
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(LANDING_SCHEMA)))
    kind = _relkind(conn, entity.name)
    if kind == "p":
        return
    old = None
    if kind is not None:
        old = f"{entity.name}_unpartitioned"
        conn.execute(sql.SQL("alter table {} rename to {}").format(_parent(entity), sql.Identifier(old)))
    conn.execute(landing_ddl(entity))
    conn.execute(_index_ddl(entity, _parent(entity), f"{entity.name}_{'_'.join(INDEX_COLUMNS)}_idx"))
    if old is not None:
        days = [
            r[0]
            for r in conn.execute(sql.SQL("select distinct {} from {}").format(sql.Identifier(date_col), _rel(old)))
        ]
        for day in days:
            conn.execute(
                sql.SQL("create table {} partition of {} for values from ({}) to ({})").format(
                    _rel(partition_name(entity, day)),
                    _parent(entity),
                    sql.Literal(day),
                    sql.Literal(day + dt.timedelta(days=1)),
                )
            )
        conn.execute(sql.SQL("insert into {} select * from {}").format(_parent(entity), _rel(old)))
        conn.execute(sql.SQL("drop table {} cascade").format(_rel(old)))


def landing_days(conn: psycopg.Connection, entity: Entity) -> dict[dt.date, str]:
    """The day partitions `landing.<entity>` has: day → partition table name (read from the bounds)."""
    rows = conn.execute(
        "select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i "
        "join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent "
        "join pg_namespace n on n.oid = p.relnamespace where n.nspname = %s and p.relname = %s",
        [LANDING_SCHEMA, entity.name],
    ).fetchall()
    out = {}
    for name, bound in rows:
        m = _BOUND.search(bound or "")
        if not m:
            raise ValueError(f"landing.{name}: unexpected partition bound {bound!r} (expected one day)")
        lo, hi = (dt.date.fromisoformat(x) for x in m.groups())
        if hi - lo != dt.timedelta(days=1):
            raise ValueError(f"landing.{name}: partition covers {lo}..{hi}, not one day")
        out[lo] = name
    return out


def read_cold_days(lake: Lake, entity: Entity, days: Sequence[dt.date], rule: SourceRule | None = None) -> pa.Table:
    """The cold (Iceberg) rows of `entity` for `days`, in the canonical Arrow schema.

    The one place the hot side reads cold, so the cutover rule applies here: where a fund-day has both legacy
    and custodian-file rows (the shadow period), only the authoritative source's reach PostgreSQL, as `rule`
    says (the legacy mapping's `cutover_date`, or FIDC_LEGACY_CUTOVER); no rule keeps every row."""
    date_col = _require_dated(entity)
    if not days:
        return canonical.arrow_schema(entity).empty_table()
    rows = lake.read(entity, is_in(date_col, sorted(set(days))))
    rows = rows.select(list(entity.field_names)).cast(canonical.arrow_schema(entity))
    return rows if rule is None else rule.resolve(rows, date_col)


def _order_keys(days: np.ndarray, fund_column: pa.ChunkedArray) -> np.ndarray:
    """Per row: day number × number of funds + the fund's rank (ascending by day, then fund)."""
    # one array in, one DictionaryArray out (pyarrow-stubs type dictionary_encode as returning its input's type)
    funds = cast(pa.DictionaryArray, pc.dictionary_encode(fund_column.combine_chunks()))
    names = funds.dictionary.to_pylist()
    rank = np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"), kind="stable")
    return days.astype(np.int64) * max(len(names), 1) + rank[funds.indices.to_numpy()]


@dataclass(frozen=True)
class DayRows:
    """One day's rows in load order, not yet gathered: zero-copy runs of the input (rows read from cold come
    in runs, one per delivery), or row indices to take when the input is too scattered for runs to pay."""

    source: pa.Table
    runs: tuple[tuple[int, int], ...] = ()  # (offset, length) in load order
    indices: np.ndarray | None = None

    @property
    def num_rows(self) -> int:
        return len(self.indices) if self.indices is not None else sum(n for _, n in self.runs)

    def table(self) -> pa.Table:
        """The day's rows in order: a concatenation of slices (no copy), or a take (a copy)."""
        if self.indices is not None:
            return self.source.take(pa.array(self.indices, pa.int64()))
        if not self.runs:
            return self.source.schema.empty_table()
        return pa.concat_tables([self.source.slice(o, n) for o, n in self.runs])


#: Above this many runs per row the input is "scattered": one take per day beats thousands of tiny slices.
MAX_RUNS_PER_ROW = 1 / 2048


@dataclass
class LoadReport:
    entity: str
    rows_per_day: dict[dt.date, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.rows_per_day.values())


class _Encoder:
    """Encodes the days' COPY streams on a thread, a few chunks ahead of the COPY that sends them: the client
    encodes day k+1 while the server parses day k (numpy and Arrow release the GIL). Memory stays bounded by
    the queue, whatever a day's size."""

    _END = object()

    def __init__(self, slices: list[DayRows]):
        self._queue: queue.Queue = queue.Queue(maxsize=ENCODE_AHEAD_CHUNKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(slices,), name="pg-binary-encoder", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, slices: list[DayRows]) -> None:
        try:
            for day_rows in slices:
                for chunk in encode_stream(day_rows.table(), COPY_CHUNK_ROWS):
                    if not self._put(chunk):
                        return
                if not self._put(self._END):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(e)

    def next_day(self) -> Iterator[pa.Buffer]:
        """The chunks of the next day's stream."""
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _copy_into(conn: psycopg.Connection, table: str, columns: list[str], chunks: Iterator[pa.Buffer]) -> None:
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in columns)
    stmt = sql.SQL("copy {} ({}) from stdin (format binary)").format(_rel(table), cols)
    with conn.cursor() as cur:
        with cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
            for chunk in chunks:
                # an Arrow buffer is a buffer-protocol object, which the stubs declare only for Python 3.12+
                copy.write(chunk)  # pyright: ignore[reportArgumentType]


def _day_rows(entity: Entity, rows: pa.Table, days: Sequence[dt.date]) -> dict[dt.date, DayRows]:
    """Each day's rows, ordered by fund, without copying the table: the order is computed on one int64 key
    and applied per day later (on the encoder's thread, overlapping the COPY), as slices when the input comes
    in runs (it does from cold: one run per delivery), as a take otherwise. Every row must be on one of `days`."""
    date_col = _require_dated(entity)
    wanted = np.array([(d - dt.date(1970, 1, 1)).days for d in days], dtype=np.int64)
    if rows.num_rows == 0:
        return {d: DayRows(rows) for d in days}
    values = rows[date_col].combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)
    stray = np.setdiff1d(np.unique(values), wanted)
    if stray.size:
        strays = ", ".join(str(dt.date(1970, 1, 1) + dt.timedelta(days=int(x))) for x in stray[:5])
        raise ValueError(f"{entity.name}: rows dated {strays} are outside the days being replaced")
    key = _order_keys(values, rows[FUND_COLUMN])
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    lengths = np.diff(np.append(starts, len(key)))
    out: dict[dt.date, DayRows] = {}
    if len(starts) <= max(64, rows.num_rows * MAX_RUNS_PER_ROW):
        order = np.argsort(key[starts], kind="stable")
        run_days = values[starts][order]
        for d, day_number in zip(days, wanted, strict=True):
            picked = order[run_days == day_number]
            out[d] = DayRows(rows, tuple((int(starts[i]), int(lengths[i])) for i in picked))
        return out
    order = np.argsort(key, kind="stable")
    sorted_days = values[order]
    lo = np.searchsorted(sorted_days, wanted, side="left")
    hi = np.searchsorted(sorted_days, wanted, side="right")
    return {d: DayRows(rows, indices=order[a:b]) for d, a, b in zip(days, lo, hi, strict=True)}


def _load_days(
    conn: psycopg.Connection,
    entity: Entity,
    days: list[dt.date],
    slices: dict[dt.date, DayRows],
    columns: list[str],
    encoder: _Encoder,
    report: LoadReport,
) -> None:
    """Each day into its standalone `<partition>_new` table: bound CHECK while empty, COPY, then the index."""
    date_col = _require_dated(entity)
    for day in days:
        new = f"{partition_name(entity, day)}_new"
        conn.execute(sql.SQL("drop table if exists {}").format(_rel(new)))
        conn.execute(sql.SQL("create table {} (like {} including defaults)").format(_rel(new), _parent(entity)))
        conn.execute(
            sql.SQL("alter table {} add constraint {} check ({} >= {} and {} < {})").format(
                _rel(new),
                sql.Identifier(f"{partition_name(entity, day)}_bound"),
                sql.Identifier(date_col),
                sql.Literal(day),
                sql.Identifier(date_col),
                sql.Literal(day + dt.timedelta(days=1)),
            )
        )
        _copy_into(conn, new, columns, encoder.next_day())
        conn.execute(_index_ddl(entity, _rel(new)))
        report.rows_per_day[day] = slices[day].num_rows


def replace_days(dsn: str, entity: Entity, rows: pa.Table, days: Iterable[dt.date]) -> LoadReport:
    """Make `landing.<entity>` hold exactly `rows` for each of `days`, in one transaction.

    Every row must fall on one of `days`; a day without rows becomes an empty partition (cold has nothing
    for it). Other days are not touched."""
    started = time.perf_counter()
    _require_dated(entity)
    days = sorted(set(days))
    report = LoadReport(entity.name)
    if not days:
        return report
    rows = rows.select(list(entity.field_names))
    slices = _day_rows(entity, rows, days)
    with psycopg.connect(dsn) as conn:
        conn.execute("select pg_advisory_lock(hashtext(%s))", [f"{LANDING_SCHEMA}.{entity.name}"])
        ensure_parent(conn, entity)
        conn.commit()
        conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        encoder = _Encoder([slices[d] for d in days])
        try:
            _load_days(conn, entity, days, slices, rows.column_names, encoder, report)
        finally:
            encoder.close()
        existing = landing_days(conn, entity)
        for day in days:
            name = partition_name(entity, day)
            if day in existing:
                conn.execute(sql.SQL("drop table {}").format(_rel(existing[day])))
            conn.execute(sql.SQL("alter table {} rename to {}").format(_rel(f"{name}_new"), sql.Identifier(name)))
            conn.execute(
                sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
                    _parent(entity), _rel(name), sql.Literal(day), sql.Literal(day + dt.timedelta(days=1))
                )
            )
        conn.commit()
        conn.execute("select pg_advisory_unlock(hashtext(%s))", [f"{LANDING_SCHEMA}.{entity.name}"])
    report.seconds = time.perf_counter() - started
    return report


def drop_landing_days(conn: psycopg.Connection, entity: Entity, days: Iterable[dt.date]) -> list[dt.date]:
    """Drop the day partitions of `days` that exist (in the caller's transaction); returns the days dropped."""
    existing = landing_days(conn, entity) if _relkind(conn, entity.name) == "p" else {}
    dropped = []
    for day in sorted(set(days)):
        if day in existing:
            conn.execute(sql.SQL("drop table {}").format(_rel(existing[day])))
            dropped.append(day)
    return dropped


def load_days_from_cold(
    lake: Lake, dsn: str, entity: Entity, days: Sequence[dt.date], rule: SourceRule | None = None
) -> LoadReport:
    """Copy cold's rows of `days` into landing, one calendar month per transaction (bounded memory).

    Used by the hot assets: a day of the window, or a backfill of old days (rehydration)."""
    report = LoadReport(entity.name)
    started = time.perf_counter()
    by_month: dict[tuple[int, int], list[dt.date]] = {}
    for d in sorted(set(days)):
        by_month.setdefault((d.year, d.month), []).append(d)
    for month_days in by_month.values():
        part = replace_days(dsn, entity, read_cold_days(lake, entity, month_days, rule), month_days)
        report.rows_per_day.update(part.rows_per_day)
    report.seconds = time.perf_counter() - started
    return report
