"""The hot loader: copies canonical rows from Iceberg into PostgreSQL `landing` with COPY.

Replacing a set of days is one transaction: delete those days' rows, COPY the new ones. A BI query or a
dbt run sees either the old days or the new ones, never half. Rows are streamed as CSV produced by Arrow's
C++ writer, so Python never touches a row.
"""

from __future__ import annotations

import datetime as dt
import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pcsv
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

from fidc_assets.lib.canonical import Entity

LANDING_SCHEMA = "landing"
COPY_CHUNK_ROWS = 100_000


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


def landing_ddl(entity: Entity) -> sql.Composed:
    cols = sql.SQL(",\n  ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name), sql.SQL(pg_type(f.type)), sql.SQL(" not null" if f.required else "")
        )
        for f in entity.fields
    )
    return sql.SQL("create table if not exists {}.{} (\n  {}\n)").format(
        sql.Identifier(LANDING_SCHEMA), sql.Identifier(entity.name), cols
    )


def ensure_landing(conn: psycopg.Connection, entity: Entity) -> None:
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(LANDING_SCHEMA)))
    conn.execute(landing_ddl(entity))
    if entity.partition_date:
        conn.execute(
            sql.SQL("create index if not exists {} on {}.{} ({})").format(
                sql.Identifier(f"{entity.name}_{entity.partition_date}_idx"),
                sql.Identifier(LANDING_SCHEMA),
                sql.Identifier(entity.name),
                sql.Identifier(entity.partition_date),
            )
        )


def replace_days(dsn: str, entity: Entity, rows: pa.Table, days: list[dt.date]) -> int:
    """Replace `days` of `landing.<entity>` with `rows` in one transaction; returns rows copied."""
    assert entity.partition_date, f"{entity.name} has no business date to replace by"
    table = sql.SQL("{}.{}").format(sql.Identifier(LANDING_SCHEMA), sql.Identifier(entity.name))
    columns = sql.SQL(", ").join(sql.Identifier(n) for n in rows.column_names)
    rows = rows.sort_by(entity.partition_date) if rows.num_rows else rows
    with psycopg.connect(dsn) as conn:
        ensure_landing(conn, entity)
        conn.execute(
            sql.SQL("delete from {} where {} = any(%s)").format(table, sql.Identifier(entity.partition_date)),
            [days],
        )
        copy = sql.SQL("copy {} ({}) from stdin with (format csv)").format(table, columns)
        with conn.cursor() as cur, cur.copy(copy) as out:
            for batch in rows.to_batches(max_chunksize=COPY_CHUNK_ROWS):
                buf = io.BytesIO()
                pcsv.write_csv(batch, buf, write_options=pcsv.WriteOptions(include_header=False))
                out.write(buf.getvalue())
        conn.commit()
    return rows.num_rows
