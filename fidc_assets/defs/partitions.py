"""Partitions as named constants: ANBIMA business days in America/Sao_Paulo from 2019-01-02, funds (dynamic,
registered from the fund registry), date × fund for ingestion, and months for the legacy migration."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import dagster as dg

from fidc_assets.lib.core.calendar import HISTORY_START, TIMEZONE
from fidc_assets.lib.core.partition_math import annual_holidays, holiday_exclusions

WEEKEND_CRONS = ("0 0 * * 6", "0 0 * * 0")
#: Holidays are excluded up to this many years after the current one (read when the definitions load). Not to
#: 2099, where the bizdays ANBIMA calendar ends: every partitions subset the automation evaluates, stores in its
#: cursor and compares carries the whole definition, and 837 exclusions to 2099 (88 to 2027) made one marts
#: automation tick take 89 s instead of 14 s (`evaluate_automation_conditions` after 3 landed dates, under load),
#: so the daemon's ticks fell minutes behind. A partition exists only up to tomorrow (`end_offset=1`), so the
#: horizon needs to cover that until the code location next loads, not the calendar's end.
CALENDAR_YEARS_AHEAD = 2


def calendar_horizon(today: dt.date) -> int:
    """The last year whose holidays the business-day partitions exclude."""
    return today.year + CALENDAR_YEARS_AHEAD


@cache
def business_days() -> dg.DailyPartitionsDefinition:
    """One partition per ANBIMA business day. Built on first use: reading the calendar is not import work.

    The holidays on the same date every year are yearly crons, the others dates up to the horizon
    (annual_holidays: the serialized definition, which Dagster repeats in every partition subset it stores,
    is the smaller)."""
    last_year = calendar_horizon(dt.datetime.now(ZoneInfo(TIMEZONE)).date())
    annual = annual_holidays(last_year)
    yearly = [f"0 0 {day} {month} *" for month, day in annual]
    holidays = [dt.datetime.combine(d, dt.time()) for d in holiday_exclusions(last_year, annual)]
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
