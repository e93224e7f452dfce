"""Retention of the hot window against a real PostgreSQL and a real Iceberg lake (both private to each test):
only partitions wholly outside the window go, cold is never touched, and a hot/cold mismatch keeps the
partition and fails with the difference. The marts here are partitioned tables of the shape dbt's
`partitioned_incremental` makes (monthly `<table>_pYYYYMM`, yearly `<table>_pYYYY`), filled from landing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.hot.loader import load_days_from_cold, read_cold_days
from fidc_assets.lib.hot.partitions import HOT_ENTITIES, landing_days
from fidc_assets.lib.hot.window import HotColdMismatch, apply_retention, mart_partitions
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to
from fidc_assets.sample.canonical_rows import canonical_rows
from tests.db import own_sql, scalar
from tests.integration.test_hot_loader import drop_database, private_database

pytestmark = pytest.mark.integration

FUNDS = ["11111111000191", "22222222000191"]
DAYS = [dt.date(2023, 12, 15), dt.date(2024, 1, 15), dt.date(2024, 2, 15), dt.date(2024, 3, 14), dt.date(2024, 4, 15)]
MONTHS = 2  # anchor 2024-04-15 → window from 2024-03-01: the first three days are outside
OUTSIDE, INSIDE = DAYS[:3], DAYS[3:]

MARTS_SQL = """
create schema marts;
create table marts.fct_receivable_position_daily (reference_date date not null, fund_cnpj text,
  nominal_value numeric(18,2), present_value numeric(18,2)) partition by range (reference_date);
create table marts.mart_fund_daily (fund_cnpj text, reference_date date not null, receivable_count integer,
  nominal_value numeric(18,2), present_value numeric(18,2)) partition by range (reference_date);
create table marts.mart_yearly (reference_date date not null, fund_cnpj text, n bigint)
  partition by range (reference_date);
create table marts.mart_yearly_p2023 partition of marts.mart_yearly for values from ('2023-01-01') to ('2024-01-01');
create table marts.mart_yearly_p2024 partition of marts.mart_yearly for values from ('2024-01-01') to ('2025-01-01');
"""


@pytest.fixture
def env(lakehouse, tmp_path: Path):
    name, dsn = private_database(lakehouse.dsn, "hot_retention")
    lake = Lake.local(tmp_path / "lake")
    for i, entity in enumerate(HOT_ENTITIES):
        lake.table(entity).append(canonical_rows(entity, 400, DAYS, FUNDS, seed=100 + i))
        load_days_from_cold(lake, dsn, entity, DAYS)
    with psycopg.connect(dsn) as conn:
        conn.execute(MARTS_SQL)
        for d in DAYS:
            for mart in ("fct_receivable_position_daily", "mart_fund_daily"):
                nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
                conn.execute(
                    own_sql(
                        f"create table if not exists marts.{mart}_p{d:%Y%m} partition of marts.{mart} "
                        f"for values from ('{d.replace(day=1)}') to ('{nxt}')"
                    )
                )
        conn.execute(
            "insert into marts.fct_receivable_position_daily select reference_date, fund_cnpj, "
            "nominal_value, present_value from landing.receivable_positions"
        )
        conn.execute(
            "insert into marts.mart_fund_daily select fund_cnpj, reference_date, count(*), sum(nominal_value), "
            "sum(present_value) from landing.receivable_positions group by 1, 2"
        )
        conn.execute(
            "insert into marts.mart_yearly select event_date, fund_cnpj, count(*) "
            "from landing.acquisitions group by 1, 2"
        )
    yield dsn, lake
    drop_database(lakehouse.dsn, name)


def _cold(lake: Lake) -> dict[str, list]:
    return {e.name: sorted(map(str, read_cold_days(lake, e, DAYS).to_pylist())) for e in HOT_ENTITIES}


def _held(dsn: str):
    with psycopg.connect(dsn) as conn:
        landing = {e.name: sorted(landing_days(conn, e)) for e in HOT_ENTITIES}
        marts = {p: sorted(children) for p, children in mart_partitions(conn).items()}
    return landing, marts


def test_only_partitions_outside_the_window_are_dropped_and_cold_stays(env):
    dsn, lake = env
    cold_before = _cold(lake)
    with psycopg.connect(dsn) as conn:  # a fund-day with flows but no stock: a mart row cold has no rows for
        conn.execute(
            "insert into marts.mart_fund_daily values ('99999999000191', %s, 0, 0, 0)",
            [DAYS[0]],
        )

    report = apply_retention(dsn, lake, MONTHS)

    assert report.anchor == DAYS[-1] and report.window_start == dt.date(2024, 3, 1)
    landing, marts = _held(dsn)
    assert landing == {e.name: INSIDE for e in HOT_ENTITIES}
    assert report.dropped_landing == {e.name: OUTSIDE for e in HOT_ENTITIES}
    assert marts == {
        "fct_receivable_position_daily": [
            "fct_receivable_position_daily_p202403",
            "fct_receivable_position_daily_p202404",
        ],
        "mart_fund_daily": ["mart_fund_daily_p202403", "mart_fund_daily_p202404"],
        "mart_yearly": ["mart_yearly_p2024"],  # straddles the window's start: kept
    }
    assert _cold(lake) == cold_before

    # a backfill of an old day rehydrates it from cold; the next retention run drops it again
    load_days_from_cold(lake, dsn, canonical.SETTLEMENTS, [DAYS[1]])
    with psycopg.connect(dsn) as conn:
        back = scalar(conn, "select count(*) from landing.settlements where event_date = %s", [DAYS[1]])
    assert back == read_cold_days(lake, canonical.SETTLEMENTS, [DAYS[1]]).num_rows > 0
    again = apply_retention(dsn, lake, MONTHS)
    assert again.dropped_landing == {"settlements": [DAYS[1]]}
    assert _held(dsn)[0]["settlements"] == INSIDE
    assert _cold(lake) == cold_before


def test_a_tampered_hot_day_is_kept_and_the_run_fails_with_the_difference(env):
    dsn, lake = env
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "update landing.receivable_positions_p20240115 set nominal_value = nominal_value + 1.50 "
            "where ctid = (select ctid from landing.receivable_positions_p20240115 limit 1)"
        )

    with pytest.raises(HotColdMismatch) as failure:
        apply_retention(dsn, lake, MONTHS)

    message = str(failure.value)
    assert "landing.receivable_positions_p20240115 (2024-01-15)" in message
    assert "sum(nominal_value)" in message and "diff 1.50" in message
    assert "marts.fct_receivable_position_daily_p202401" in message
    landing, marts = _held(dsn)
    assert landing["receivable_positions"] == [DAYS[1], *INSIDE]  # only the tampered day is kept
    assert landing["acquisitions"] == INSIDE  # the same day of other entities matched cold: dropped
    assert "fct_receivable_position_daily_p202401" in marts["fct_receivable_position_daily"]
    assert "fct_receivable_position_daily_p202402" not in marts["fct_receivable_position_daily"]


def test_cold_missing_rows_keeps_the_hot_day(env):
    dsn, lake = env
    day = DAYS[2]
    rows = read_cold_days(lake, canonical.FUND_QUOTAS, [day])
    fewer = rows.filter(pc.not_equal(rows["fund_cnpj"], pa.scalar(FUNDS[0])))
    lake.replace_slice(canonical.FUND_QUOTAS, fewer, equal_to("reference_date", day))

    with pytest.raises(
        HotColdMismatch, match=rf"fund_quotas_p{day:%Y%m%d}.*fund {FUNDS[0]}: hot has \d+ rows, cold has none"
    ):
        apply_retention(dsn, lake, MONTHS)

    assert day in _held(dsn)[0]["fund_quotas"]


def test_a_mart_that_disagrees_with_cold_is_kept(env):
    dsn, lake = env
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "update marts.mart_fund_daily set receivable_count = receivable_count + 1 "
            "where reference_date = %s and fund_cnpj = %s",
            [DAYS[0], FUNDS[1]],
        )

    with pytest.raises(
        HotColdMismatch, match=rf"marts.mart_fund_daily_p202312: 2023-12-15: fund {FUNDS[1]}: \d+ rows hot"
    ):
        apply_retention(dsn, lake, MONTHS)

    landing, marts = _held(dsn)
    assert marts["mart_fund_daily"][0] == "mart_fund_daily_p202312"
    assert landing["receivable_positions"] == INSIDE  # landing matched cold: dropped


def test_a_future_dated_day_does_not_move_the_window(env):
    """A row mistyped as 2099 lands a 2099 partition; the window still ends today at the latest, so nothing
    of the present is dropped because of it."""
    dsn, lake = env
    future = dt.date(2099, 1, 5)
    entity = canonical.RECEIVABLE_POSITIONS
    lake.table(entity).append(canonical_rows(entity, 10, [future], FUNDS, seed=7))
    load_days_from_cold(lake, dsn, entity, [future])

    report = apply_retention(dsn, lake, MONTHS)

    assert report.anchor == DAYS[-1]
    landing, _ = _held(dsn)
    assert landing[entity.name] == [*INSIDE, future]
