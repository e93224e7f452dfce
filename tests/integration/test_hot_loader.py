"""The hot loader against a real PostgreSQL: binary COPY round trip, day partitions replaced atomically,
failures that leave the previous day in place. Each test module gets its own database on the session's
embedded server, so the pipeline's `landing` is not touched."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from fidc_assets.lib.core import canonical
from fidc_assets.lib.hot.loader import _day_rows, replace_days  # pyright: ignore[reportPrivateUsage]
from fidc_assets.lib.hot.partitions import HOT_ENTITIES, landing_days, partition_name
from fidc_assets.sample.canonical_rows import canonical_rows
from tests.db import own_sql, scalar

pytestmark = pytest.mark.integration

FUNDS = ["11111111000191", "22222222000191", "33333333000191"]
DAYS = [dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3)]


def private_database(dsn: str, prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name, dsn.rsplit("/", 1)[0] + "/" + name


def drop_database(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def hot_dsn(lakehouse):
    name, dsn = private_database(lakehouse.dsn, "hot_loader")
    yield dsn
    drop_database(lakehouse.dsn, name)


def _landing(dsn: str, entity, day: dt.date | None = None) -> list[dict]:
    where = sql.SQL("where {} = %s").format(sql.Identifier(entity.partition_date)) if day else sql.SQL("")
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select * from landing.{} {}").format(sql.Identifier(entity.name), where), [day] if day else []
        )
        return cur.fetchall()


def _key(row: dict) -> tuple:
    return tuple(str(v) for v in row.values())


@pytest.mark.parametrize("entity", HOT_ENTITIES, ids=lambda e: e.name)
def test_every_entity_round_trips_through_binary_copy(hot_dsn, entity):
    rows = canonical_rows(entity, 2_000, DAYS, FUNDS, seed=3)
    report = replace_days(hot_dsn, entity, rows, DAYS)

    assert report.rows == rows.num_rows
    got = sorted(_landing(hot_dsn, entity), key=_key)
    expected = sorted(rows.to_pylist(), key=_key)
    assert got == expected
    with psycopg.connect(hot_dsn) as conn:
        assert sorted(landing_days(conn, entity)) == DAYS


def test_extreme_values_survive_the_encoder(hot_dsn):
    entity = canonical.FUND_QUOTAS
    rows = canonical_rows(entity, 4, [DAYS[0]], FUNDS, seed=1).to_pylist()
    rows[0].update(
        quota_count=Decimal("9999999999999999.99999999"),
        quota_value=Decimal("-0.00000001"),
        net_assets=Decimal("-9999999999999999.99"),
        series="ação ünïcode ✓",
        source_line=2**62,
    )
    rows[1].update(quota_count=Decimal("0E-8"), net_assets=Decimal("0.01"), series="")
    rows[2].update(net_assets=Decimal("10000.00"), quota_value=Decimal("12345678.00010000"))
    table = pa.Table.from_pylist(rows, schema=canonical.arrow_schema(entity))

    replace_days(hot_dsn, entity, table, [DAYS[0]])

    assert sorted(_landing(hot_dsn, entity, DAYS[0]), key=_key) == sorted(rows, key=_key)


def test_replacing_a_day_touches_only_that_day_and_swaps_it_whole(hot_dsn):
    entity = canonical.RECEIVABLE_POSITIONS
    replace_days(hot_dsn, entity, canonical_rows(entity, 3_000, DAYS, FUNDS, seed=10), DAYS)
    others_before = {d: sorted(_landing(hot_dsn, entity, d), key=_key) for d in (DAYS[0], DAYS[2])}
    old_count = len(_landing(hot_dsn, entity, DAYS[1]))
    new_rows = canonical_rows(entity, 1_500, [DAYS[1]], FUNDS[:2], seed=11)

    seen: set[int] = set()
    stop = threading.Event()

    def reader():
        with psycopg.connect(hot_dsn, autocommit=True) as conn:
            while not stop.is_set():
                seen.add(
                    scalar(
                        conn, "select count(*) from landing.receivable_positions where reference_date = %s", [DAYS[1]]
                    )
                )

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(3):
            replace_days(hot_dsn, entity, new_rows, [DAYS[1]])
    finally:
        stop.set()
        thread.join()

    after = _landing(hot_dsn, entity, DAYS[1])
    assert len(after) == new_rows.num_rows
    assert len({(r["fund_cnpj"], r["custodian_id"], r["receivable_id"], r["cedente_doc"]) for r in after}) == len(after)
    assert sorted(after, key=_key) == sorted(new_rows.to_pylist(), key=_key)
    assert {d: sorted(_landing(hot_dsn, entity, d), key=_key) for d in (DAYS[0], DAYS[2])} == others_before
    assert seen <= {old_count, new_rows.num_rows}, f"a reader saw a half or empty day: {seen}"
    with psycopg.connect(hot_dsn) as conn:
        assert landing_days(conn, entity)[DAYS[1]] == partition_name(entity, DAYS[1])
        leftovers = conn.execute("select relname from pg_class where relname like '%\\_new'").fetchall()
    assert leftovers == []


@pytest.mark.parametrize("layout", ["in runs", "fund by fund", "scattered"])
def test_rows_reach_postgres_sorted_by_date_then_fund(hot_dsn, layout):
    """Rows in runs (as cold returns them, one run per delivery: gathered as zero-copy slices, which the
    encoder then reads at an offset), fund by fund with the days mixed, and rows in no order at all (both
    gathered with a take) land the same: every row once, ordered by date then fund."""
    entity = canonical.SETTLEMENTS
    rows = canonical_rows(entity, 2_000, DAYS, FUNDS, seed=5)  # generated fund by fund
    if layout == "in runs":
        rows = rows.sort_by([("fund_cnpj", "ascending"), ("event_date", "ascending")])
        assert all(s.runs and s.indices is None for s in _day_rows(entity, rows, DAYS).values())
    if layout == "scattered":
        rows = rows.take(pa.array(np.random.default_rng(3).permutation(rows.num_rows), pa.int64()))
    replace_days(hot_dsn, entity, rows, DAYS)
    assert sorted(_landing(hot_dsn, entity), key=_key) == sorted(rows.to_pylist(), key=_key)
    with psycopg.connect(hot_dsn) as conn:
        physical = conn.execute("select event_date, fund_cnpj from landing.settlements").fetchall()
    # a sequential scan of a freshly loaded partition returns rows in load order, partitions in bound order
    assert physical == sorted(physical)


def test_a_failed_load_leaves_the_previous_day_in_place(hot_dsn):
    entity = canonical.ACQUISITIONS
    rows = canonical_rows(entity, 500, DAYS, FUNDS, seed=20)
    replace_days(hot_dsn, entity, rows, DAYS)
    before = sorted(_landing(hot_dsn, entity), key=_key)

    stray = canonical_rows(entity, 10, [dt.date(2024, 7, 9)], FUNDS, seed=21)
    with pytest.raises(ValueError, match=r"2024-07-09.*outside the days being replaced"):
        replace_days(hot_dsn, entity, stray, [DAYS[0]])

    broken = canonical_rows(entity, 300, DAYS[:2], FUNDS, seed=22).to_pylist()
    broken[-1]["cedente_name"] = "nul byte \x00 here"  # PostgreSQL text cannot hold it: COPY fails mid-way
    with pytest.raises(psycopg.Error, match="0x00"):
        replace_days(hot_dsn, entity, pa.Table.from_pylist(broken, schema=canonical.arrow_schema(entity)), DAYS[:2])

    assert sorted(_landing(hot_dsn, entity), key=_key) == before
    with psycopg.connect(hot_dsn) as conn:
        assert sorted(landing_days(conn, entity)) == DAYS
        assert scalar(conn, "select count(*) from pg_class where relname like '%\\_new'") == 0


def test_a_day_without_rows_becomes_an_empty_partition(hot_dsn):
    entity = canonical.FUND_QUOTAS
    day = dt.date(2024, 8, 1)
    replace_days(hot_dsn, entity, canonical_rows(entity, 50, [day], FUNDS, seed=30), [day])
    assert len(_landing(hot_dsn, entity, day)) == 50
    report = replace_days(hot_dsn, entity, canonical.arrow_schema(entity).empty_table(), [day])
    assert report.rows_per_day == {day: 0}
    assert _landing(hot_dsn, entity, day) == []
    with psycopg.connect(hot_dsn) as conn:
        assert day in landing_days(conn, entity)


def test_an_unpartitioned_landing_table_is_converted_with_its_rows(lakehouse):
    from fidc_assets.lib.hot.partitions import landing_ddl

    name, dsn = private_database(lakehouse.dsn, "hot_migrate")
    try:
        entity = canonical.RECEIVABLE_POSITIONS
        old_rows = canonical_rows(entity, 300, DAYS, FUNDS, seed=40)
        plain = landing_ddl(entity).as_string(None).split(" partition by range")[0]
        with psycopg.connect(dsn) as conn:
            conn.execute("create schema landing")
            conn.execute(own_sql(plain))
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in old_rows.column_names)
            with conn.cursor().copy(sql.SQL("copy landing.receivable_positions ({}) from stdin").format(cols)) as cp:
                for r in old_rows.to_pylist():
                    cp.write_row(list(r.values()))
        new_day = canonical_rows(entity, 100, [DAYS[0]], FUNDS, seed=41)

        replace_days(dsn, entity, new_day, [DAYS[0]])

        expected = [r for r in old_rows.to_pylist() if r["reference_date"] != DAYS[0]] + new_day.to_pylist()
        assert sorted(_landing(dsn, entity), key=_key) == sorted(expected, key=_key)
        with psycopg.connect(dsn) as conn:
            assert sorted(landing_days(conn, entity)) == DAYS
    finally:
        drop_database(lakehouse.dsn, name)
