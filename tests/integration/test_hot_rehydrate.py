"""Rehydration through the real pipeline: a hot day dropped from PostgreSQL comes back from cold (Iceberg) when
its date is materialized again, and the dbt marts built from it are identical to the ones before."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from fidc_assets.lib.hot.partitions import HOT_ENTITIES, drop_landing_days, landing_days

pytestmark = pytest.mark.integration


def _mart_tables(conn: psycopg.Connection) -> list[str]:
    """Every table (or partitioned parent) of the marts schema that has a reference_date."""
    return [
        r[0]
        for r in conn.execute(
            """
            select c.relname from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attname = 'reference_date' and not a.attisdropped
            where n.nspname = 'marts' and c.relkind in ('r', 'p') and not c.relispartition
            order by 1
            """
        ).fetchall()
    ]


def _snapshot(dsn: str, day) -> dict[str, list[tuple]]:
    """The marts' rows of `day`, sorted, without build timestamps (columns named *_at)."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for table in _mart_tables(conn):
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = %s and column_name not like '%%\\_at' "
                    "order by ordinal_position",
                    [table],
                ).fetchall()
            ]
            query = sql.SQL("select {} from marts.{} where reference_date = %s").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier(table)
            )
            out[table] = sorted(conn.execute(query, [day]).fetchall(), key=repr)
    return out


def test_a_dropped_hot_day_is_rehydrated_from_cold_with_identical_marts(first_run, lakehouse, sample, instance):
    from fidc_assets.definitions import defs

    assert first_run.success
    day = sample.days[-1]
    before = _snapshot(lakehouse.dsn, day)
    assert before.get("mart_fund_daily"), "the mart has no rows for the day before the test"

    with psycopg.connect(lakehouse.dsn) as conn:
        dropped = {e.name: drop_landing_days(conn, e, [day]) for e in HOT_ENTITIES}
        conn.commit()
    assert dropped["receivable_positions"] == [day]
    with psycopg.connect(lakehouse.dsn) as conn:
        assert all(day not in landing_days(conn, e) for e in HOT_ENTITIES)

    result = defs().get_job_def("hot_and_marts").execute_in_process(partition_key=day.isoformat(), instance=instance)
    assert result.success

    with psycopg.connect(lakehouse.dsn) as conn:
        assert day in landing_days(conn, HOT_ENTITIES[0])
    assert _snapshot(lakehouse.dsn, day) == before
