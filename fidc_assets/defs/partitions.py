"""Partitions as named constants: ANBIMA business days in America/Sao_Paulo from 2019-01-02."""

from __future__ import annotations

import datetime as dt
from functools import cache

import dagster as dg

from fidc_assets.lib.calendar import HISTORY_START, TIMEZONE
from fidc_assets.lib.partition_math import holiday_exclusions

WEEKEND_CRONS = ("0 0 * * 6", "0 0 * * 0")
#: Holidays are excluded up to this year; the bizdays ANBIMA calendar goes to 2099.
LAST_CALENDAR_YEAR = 2099


@cache
def business_days() -> dg.DailyPartitionsDefinition:
    """One partition per ANBIMA business day. Built on first use: reading the calendar is not import work."""
    holidays = [dt.datetime.combine(d, dt.time()) for d in holiday_exclusions(LAST_CALENDAR_YEAR)]
    return dg.DailyPartitionsDefinition(
        start_date=HISTORY_START.isoformat(),
        timezone=TIMEZONE,
        # today is a partition already: custodians deliver today's files today, and the marts run tonight
        end_offset=1,
        exclusions=[*WEEKEND_CRONS, *holidays],
    )
