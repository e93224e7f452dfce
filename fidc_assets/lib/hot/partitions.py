"""The `landing` schema in PostgreSQL: `landing.<entity>` range-partitioned by the entity's business date, one
partition per day (`landing.<entity>_pYYYYMMDD`), its columns and index, and the day partitions it holds.

What a day's partition is and how it is named, created, listed and dropped lives here; filling days
(load and swap) is `fidc_assets.lib.hot.loader`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import LiteralString, cast

import psycopg
from psycopg import sql
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

LANDING_SCHEMA = "landing"

#: The canonical entities the hot loader copies (each has a business date and a fund).
HOT_ENTITIES: tuple[Entity, ...] = (
    canonical.RECEIVABLE_POSITIONS,
    canonical.ACQUISITIONS,
    canonical.SETTLEMENTS,
    canonical.FUND_QUOTAS,
)
FUND_COLUMN = "fund_cnpj"
#: Each day partition's index, built after its load. BRIN: the rows are sorted by fund within a day, so
#: min/max ranges per block are selective, and building it is one pass over the table (a B-tree on text sorts).
INDEX_METHOD = "brin"
INDEX_COLUMNS = (FUND_COLUMN,)
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def pg_type(t: IcebergType) -> LiteralString:
    """The PostgreSQL column type of a canonical (Iceberg) type; SQL built from the canonical model only."""
    if isinstance(t, StringType):
        return "text"
    if isinstance(t, DateType):
        return "date"
    if isinstance(t, DecimalType):
        return cast(LiteralString, f"numeric({t.precision},{t.scale})")  # two ints of the model
    if isinstance(t, IntegerType):
        return "integer"
    if isinstance(t, LongType):
        return "bigint"
    if isinstance(t, BooleanType):
        return "boolean"
    if isinstance(t, TimestamptzType):
        return "timestamptz"
    raise TypeError(f"no PostgreSQL type for {t}")


def require_dated(entity: Entity) -> str:
    if not entity.partition_date:
        raise ValueError(f"{entity.name} has no business date: it has no place in landing")
    return entity.partition_date


def partition_name(entity: Entity, day: dt.date) -> str:
    return f"{entity.name}_p{day:%Y%m%d}"


def parent_table(entity: Entity) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(LANDING_SCHEMA), sql.Identifier(entity.name))


def landing_table(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(LANDING_SCHEMA), sql.Identifier(name))


def landing_ddl(entity: Entity) -> sql.Composed:
    """The partitioned parent: the canonical columns, partitioned by range of the business date."""
    date_col = require_dated(entity)
    cols = sql.SQL(",\n  ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name), sql.SQL(pg_type(f.type)), sql.SQL(" not null" if f.required else "")
        )
        for f in entity.fields
    )
    return sql.SQL("create table if not exists {} (\n  {}\n) partition by range ({})").format(
        parent_table(entity), cols, sql.Identifier(date_col)
    )


def index_ddl(entity: Entity, table: sql.Composable, name: str | None = None) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in INDEX_COLUMNS)
    target = sql.SQL("index if not exists {}").format(sql.Identifier(name)) if name else sql.SQL("index")
    return sql.SQL("create {} on {} using {} ({})").format(target, table, sql.SQL(INDEX_METHOD), columns)


def relkind(conn: psycopg.Connection, name: str) -> str | None:
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
    date_col = require_dated(entity)
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(LANDING_SCHEMA)))
    kind = relkind(conn, entity.name)
    if kind == "p":
        return
    old = None
    if kind is not None:
        old = f"{entity.name}_unpartitioned"
        conn.execute(sql.SQL("alter table {} rename to {}").format(parent_table(entity), sql.Identifier(old)))
    conn.execute(landing_ddl(entity))
    conn.execute(index_ddl(entity, parent_table(entity), f"{entity.name}_{'_'.join(INDEX_COLUMNS)}_idx"))
    if old is not None:
        days = [
            r[0]
            for r in conn.execute(
                sql.SQL("select distinct {} from {}").format(sql.Identifier(date_col), landing_table(old))
            )
        ]
        for day in days:
            conn.execute(
                sql.SQL("create table {} partition of {} for values from ({}) to ({})").format(
                    landing_table(partition_name(entity, day)),
                    parent_table(entity),
                    sql.Literal(day),
                    sql.Literal(day + dt.timedelta(days=1)),
                )
            )
        conn.execute(sql.SQL("insert into {} select * from {}").format(parent_table(entity), landing_table(old)))
        conn.execute(sql.SQL("drop table {} cascade").format(landing_table(old)))


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


def drop_landing_days(conn: psycopg.Connection, entity: Entity, days: Iterable[dt.date]) -> list[dt.date]:
    """Drop the day partitions of `days` that exist (in the caller's transaction); returns the days dropped."""
    existing = landing_days(conn, entity) if relkind(conn, entity.name) == "p" else {}
    dropped = []
    for day in sorted(set(days)):
        if day in existing:
            conn.execute(sql.SQL("drop table {}").format(landing_table(existing[day])))
            dropped.append(day)
    return dropped
