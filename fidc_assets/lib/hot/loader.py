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

The day partitions themselves (DDL, names, listing) are `fidc_assets.lib.hot.partitions`.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as _compute
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from pyiceberg.expressions import In

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.canonical import Entity
from fidc_assets.lib.hot.binary_copy import encode_stream
from fidc_assets.lib.hot.partitions import (
    FUND_COLUMN,
    LANDING_SCHEMA,
    ensure_parent,
    index_ddl,
    landing_days,
    landing_table,
    parent_table,
    partition_name,
    require_dated,
)
from fidc_assets.lib.lake.catalog import Lake

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute


class SourceRule(Protocol):
    """Which source's rows of a fund-day reach PostgreSQL when cold holds more than one (the legacy cutover).

    The rule is the legacy area's (`fidc_assets.lib.legacy.cutover.CutoverRule`); the hot side only applies it,
    so it is passed in, never looked up from here."""

    def resolve(self, rows: pa.Table, date_field: str = ...) -> pa.Table: ...


#: Rows per COPY chunk; the encoder thread runs up to ENCODE_AHEAD_CHUNKS chunks ahead of the COPY.
COPY_CHUNK_ROWS = 32_768
ENCODE_AHEAD_CHUNKS = 4
#: A swap waits this long for readers holding the parent before failing (the asset retries).
LOCK_TIMEOUT = "60s"


def read_cold_days(lake: Lake, entity: Entity, days: Sequence[dt.date], rule: SourceRule | None = None) -> pa.Table:
    """The cold (Iceberg) rows of `entity` for `days`, in the canonical Arrow schema.

    The one place the hot side reads cold, so the cutover rule applies here: where a fund-day has both legacy
    and custodian-file rows (the shadow period), only the authoritative source's reach PostgreSQL, as `rule`
    says (the legacy mapping's `cutover_date`, or FIDC_LEGACY_CUTOVER); no rule keeps every row."""
    date_col = require_dated(entity)
    if not days:
        return canonical.arrow_schema(entity).empty_table()
    # pyiceberg's In takes (term, literals) positionally; pyright sees only its pydantic keyword __init__
    rows = lake.read(entity, In(date_col, sorted(set(days))))  # pyright: ignore[reportCallIssue]
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
    stmt = sql.SQL("copy {} ({}) from stdin (format binary)").format(landing_table(table), cols)
    with conn.cursor() as cur:
        with cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
            for chunk in chunks:
                # an Arrow buffer is a buffer-protocol object, which the stubs declare only for Python 3.12+
                copy.write(chunk)  # pyright: ignore[reportArgumentType]


def _day_rows(entity: Entity, rows: pa.Table, days: Sequence[dt.date]) -> dict[dt.date, DayRows]:
    """Each day's rows, ordered by fund, without copying the table: the order is computed on one int64 key
    and applied per day later (on the encoder's thread, overlapping the COPY), as slices when the input comes
    in runs (it does from cold: one run per delivery), as a take otherwise. Every row must be on one of `days`."""
    date_col = require_dated(entity)
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
    date_col = require_dated(entity)
    for day in days:
        new = f"{partition_name(entity, day)}_new"
        conn.execute(sql.SQL("drop table if exists {}").format(landing_table(new)))
        conn.execute(
            sql.SQL("create table {} (like {} including defaults)").format(landing_table(new), parent_table(entity))
        )
        conn.execute(
            sql.SQL("alter table {} add constraint {} check ({} >= {} and {} < {})").format(
                landing_table(new),
                sql.Identifier(f"{partition_name(entity, day)}_bound"),
                sql.Identifier(date_col),
                sql.Literal(day),
                sql.Identifier(date_col),
                sql.Literal(day + dt.timedelta(days=1)),
            )
        )
        _copy_into(conn, new, columns, encoder.next_day())
        conn.execute(index_ddl(entity, landing_table(new)))
        report.rows_per_day[day] = slices[day].num_rows


def replace_days(dsn: str, entity: Entity, rows: pa.Table, days: Iterable[dt.date]) -> LoadReport:
    """Make `landing.<entity>` hold exactly `rows` for each of `days`, in one transaction.

    Every row must fall on one of `days`; a day without rows becomes an empty partition (cold has nothing
    for it). Other days are not touched."""
    started = time.perf_counter()
    require_dated(entity)
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
                conn.execute(sql.SQL("drop table {}").format(landing_table(existing[day])))
            conn.execute(
                sql.SQL("alter table {} rename to {}").format(landing_table(f"{name}_new"), sql.Identifier(name))
            )
            conn.execute(
                sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
                    parent_table(entity), landing_table(name), sql.Literal(day), sql.Literal(day + dt.timedelta(days=1))
                )
            )
        conn.commit()
        conn.execute("select pg_advisory_unlock(hashtext(%s))", [f"{LANDING_SCHEMA}.{entity.name}"])
    report.seconds = time.perf_counter() - started
    return report


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
