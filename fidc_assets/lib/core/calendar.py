"""ANBIMA business-day calendar.

Every fund-day in the lakehouse is an ANBIMA business day: no weekends, no national or ANBIMA holidays
(Carnival, Corpus Christi, 20 November since 2024). The holiday list comes from the `bizdays` package's
ANBIMA calendar (2000-2099); `holidays.Brazil()` and workalendar are not ANBIMA and must not be used.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import lru_cache

#: First business day of the lakehouse's history (the legacy system's first year).
HISTORY_START = dt.date(2019, 1, 2)
TIMEZONE = "America/Sao_Paulo"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@lru_cache(maxsize=1)
def anbima_holidays() -> frozenset[dt.date]:
    """All ANBIMA holidays (weekend ones included) from the bizdays calendar file."""
    # the calendar file's dates, read directly: `bizdays.Calendar.load` also builds a day index over 1970-2099
    # (~2 s, paid by every Dagster definitions load); the file is the same source. Found without importing
    # the package: `bizdays/__init__` imports pandas (~1 s more of every definitions load)
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("bizdays")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the bizdays package (the ANBIMA calendar file) is not installed")
    text = (Path(next(iter(spec.submodule_search_locations))) / "ANBIMA.cal").read_text()
    return frozenset(dt.date.fromisoformat(line) for line in map(str.strip, text.splitlines()) if _ISO.match(line))


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in anbima_holidays()


def business_days_between(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Business days in [start, end], both inclusive, in order."""
    day = start
    one = dt.timedelta(days=1)
    while day <= end:
        if is_business_day(day):
            yield day
        day += one


def next_business_day(day: dt.date) -> dt.date:
    """The first business day strictly after `day`."""
    day += dt.timedelta(days=1)
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def first_business_day_on_or_after(day: dt.date) -> dt.date:
    return day if is_business_day(day) else next_business_day(day)


def business_days_from(start: dt.date, count: int) -> list[dt.date]:
    """`count` consecutive business days starting on the first business day on or after `start`."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    days: list[dt.date] = []
    day = first_business_day_on_or_after(start)
    while len(days) < count:
        days.append(day)
        day = next_business_day(day)
    return days
