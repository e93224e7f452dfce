"""Partition windows → business days and dbt vars."""

from __future__ import annotations

import datetime as dt

import pytest

from fidc_assets.lib.core.calendar import HISTORY_START
from fidc_assets.lib.core.partition_math import annual_holidays, days_from_keys, dbt_vars, holiday_exclusions


def test_days_from_keys_sorts_and_parses():
    assert days_from_keys(["2024-03-15", "2024-01-02", "2024-02-29"]) == [
        dt.date(2024, 1, 2),
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 15),
    ]


def test_days_from_keys_empty():
    assert days_from_keys([]) == []


@pytest.mark.parametrize("key", ["15/03/2024", "2024-02-30", "20240315", "2024-3-15x", ""])
def test_days_from_keys_rejects_malformed_keys(key):
    with pytest.raises(ValueError):
        days_from_keys([key])


def test_dbt_vars_min_and_max():
    days = [dt.date(2024, 3, 15), dt.date(2024, 1, 2), dt.date(2024, 2, 29)]
    assert dbt_vars(days) == {"min_date": "2024-01-02", "max_date": "2024-03-15"}


def test_dbt_vars_single_day():
    assert dbt_vars([dt.date(2024, 11, 21)]) == {"min_date": "2024-11-21", "max_date": "2024-11-21"}


def test_dbt_vars_rejects_an_empty_window():
    with pytest.raises(ValueError, match="at least one day"):
        dbt_vars([])


def test_holiday_exclusions_are_weekday_anbima_holidays_in_range():
    holidays = holiday_exclusions(2024)
    assert holidays == sorted(holidays)
    assert all(d.weekday() < 5 for d in holidays)
    assert all(HISTORY_START <= d <= dt.date(2024, 12, 31) for d in holidays)
    for day in (dt.date(2024, 11, 20), dt.date(2024, 2, 12), dt.date(2024, 2, 13), dt.date(2024, 3, 29)):
        assert day in holidays
    assert dt.date(2024, 3, 15) not in holidays  # an ordinary Friday
    assert dt.date(2025, 1, 1) not in holidays  # after until_year
    assert dt.date(2019, 1, 1) not in holidays  # before the start of history


def test_holiday_exclusions_skip_weekend_holidays():
    # 2022-12-25 and 2021-11-20 fall on weekends: cron never schedules them, so they are not excluded.
    holidays = holiday_exclusions(2024)
    assert dt.date(2022, 12, 25) not in holidays
    assert dt.date(2021, 11, 20) not in holidays
    assert dt.date(2022, 12, 26) not in holidays  # no "observed" Monday in the ANBIMA calendar


def test_twenty_november_is_a_holiday_only_from_2024():
    holidays = holiday_exclusions(2024)
    assert dt.date(2023, 11, 20) not in holidays  # a Monday, but not yet a national holiday
    assert dt.date(2024, 11, 20) in holidays


def test_annual_holidays_are_the_fixed_national_holidays_of_every_year():
    annual = annual_holidays(2099)
    assert annual == [(1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25)]
    assert (11, 20) not in annual  # only from 2024
    assert dt.date(2024, 11, 20) in holiday_exclusions(2024, annual)
    assert dt.date(2024, 12, 25) not in holiday_exclusions(2024, annual)  # a Wednesday, excluded by its cron
    assert dt.date(2024, 12, 25) in holiday_exclusions(2024)


def test_business_day_partitions_are_the_calendars_business_days():
    """The yearly crons and the dated holidays together exclude exactly the calendar's holidays, up to the
    horizon the dated ones go to."""
    from fidc_assets.defs.partitions import business_days, calendar_horizon
    from fidc_assets.lib.core.calendar import business_days_between

    end = dt.date(calendar_horizon(dt.date.today()), 12, 31)
    keys = business_days().get_partition_keys(current_time=dt.datetime(end.year + 1, 1, 1, tzinfo=dt.UTC))
    keys = [k for k in keys if k <= end.isoformat()]  # end_offset=1: one more
    assert keys == [d.isoformat() for d in business_days_between(HISTORY_START, end)]


def test_date_fund_pairs_parse_dagster_multi_partition_keys():
    import dagster as dg

    from fidc_assets.defs.partitions import date_by_fund
    from fidc_assets.lib.core.partition_math import date_fund_key, date_fund_pairs

    key = dg.MultiPartitionKey({"date": "2024-07-02", "fund": "17556821000101"})
    assert str(key) == date_fund_key(dt.date(2024, 7, 2), "17556821000101")  # Dagster spells keys as we do
    assert date_fund_pairs([key, "2024-07-01|17556821000101", "2024-07-01|17556821000101"]) == [
        (dt.date(2024, 7, 1), "17556821000101"),
        (dt.date(2024, 7, 2), "17556821000101"),
    ]
    assert [d.name for d in date_by_fund().partitions_defs] == ["date", "fund"]


@pytest.mark.parametrize("key", ["2024-07-01", "2024-07-01|x|y", "fundA|fundB", "2024-07-01|2024-07-02"])
def test_date_fund_pairs_reject_malformed_keys(key):
    from fidc_assets.lib.core.partition_math import date_fund_pairs

    with pytest.raises(ValueError):
        date_fund_pairs([key])
