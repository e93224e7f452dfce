"""Partitions as named constants: ANBIMA business days in America/Sao_Paulo from 2019-01-02, funds (dynamic,
registered from the fund registry), date × fund for ingestion, and months for the legacy migration."""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg

from fidc_assets.lib.core.calendar import HISTORY_START, TIMEZONE
from fidc_assets.lib.core.partition_math import annual_holidays, holiday_exclusions

WEEKEND_CRONS = ("0 0 * * 6", "0 0 * * 0")
#: Holidays are excluded up to this year; the bizdays ANBIMA calendar goes to 2099.
LAST_CALENDAR_YEAR = 2099


@cache
def business_days() -> dg.DailyPartitionsDefinition:
    """One partition per ANBIMA business day. Built on first use: reading the calendar is not import work.

    The holidays on the same date every year are yearly crons, the others dates (annual_holidays: the
    serialized definition, which Dagster repeats in every partition subset it stores, is less than half)."""
    annual = annual_holidays(LAST_CALENDAR_YEAR)
    yearly = [f"0 0 {day} {month} *" for month, day in annual]
    holidays = [dt.datetime.combine(d, dt.time()) for d in holiday_exclusions(LAST_CALENDAR_YEAR, annual)]
    return dg.DailyPartitionsDefinition(
        start_date=HISTORY_START.isoformat(),
        timezone=TIMEZONE,
        # today is a partition already: custodians deliver today's files today, and the marts run tonight
        end_offset=1,
        exclusions=[*WEEKEND_CRONS, *yearly, *holidays],
    )


#: Funds are dynamic partitions: the fund registry (FIDC_FUNDS) adds them, the inbox sensor registers a
#: registry fund the first time one of its files arrives. Dimension names are part of the partition keys.
FUNDS_PARTITIONS = "funds"  # the partitions' name, as the instance's dynamic-partition calls take it
FUNDS = dg.DynamicPartitionsDefinition(name=FUNDS_PARTITIONS)
DATE_DIMENSION = "date"
FUND_DIMENSION = "fund"


@cache
def date_by_fund() -> dg.MultiPartitionsDefinition:
    """Ingestion partitions: one per (business day, fund); keys read `2024-07-01|12345678000190`."""
    return dg.MultiPartitionsDefinition({DATE_DIMENSION: business_days(), FUND_DIMENSION: FUNDS})


@cache
def months() -> dg.MonthlyPartitionsDefinition:
    """One partition per calendar month since the start of history (the legacy migration's unit)."""
    return dg.MonthlyPartitionsDefinition(start_date="2019-01-01", timezone=TIMEZONE, end_offset=1)
