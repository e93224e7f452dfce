"""Partition windows → concrete work: business days and dbt vars. Pure and unit-tested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from fidc_assets.lib.calendar import HISTORY_START, anbima_holidays

DATE_KEY_FORMAT = "%Y-%m-%d"


def days_from_keys(partition_keys: Sequence[str]) -> list[dt.date]:
    """Partition keys (`YYYY-MM-DD`) → sorted dates."""
    return sorted(dt.datetime.strptime(k, DATE_KEY_FORMAT).date() for k in partition_keys)


def dbt_vars(days: Sequence[dt.date]) -> dict[str, str]:
    """The dbt `--vars` that make incremental models rebuild exactly the window `days` spans."""
    if not days:
        raise ValueError("a dbt window needs at least one day")
    return {"min_date": min(days).isoformat(), "max_date": max(days).isoformat()}


def holiday_exclusions(until_year: int) -> list[dt.date]:
    """ANBIMA holidays on weekdays from the start of history to `until_year` (weekends go by cron)."""
    return sorted(d for d in anbima_holidays() if HISTORY_START <= d and d.year <= until_year and d.weekday() < 5)
