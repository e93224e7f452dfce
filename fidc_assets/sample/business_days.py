"""ANBIMA business days as a growing sorted list with index arithmetic (the simulation's hot calendar)."""

from __future__ import annotations

import bisect
import datetime as dt

from fidc_assets.lib.core.calendar import first_business_day_on_or_after, next_business_day


class BusinessDays:
    """A growing sorted list of ANBIMA business days with index arithmetic."""

    def __init__(self, first: dt.date, until: dt.date) -> None:
        self._days: list[dt.date] = [first_business_day_on_or_after(first)]
        self._index: dict[dt.date, int] = {self._days[0]: 0}
        self.ensure(until)

    def ensure(self, until: dt.date) -> None:
        days, index = self._days, self._index
        while days[-1] < until:
            day = next_business_day(days[-1])
            index[day] = len(days)
            days.append(day)

    def _ensure_count(self, i: int) -> None:
        while len(self._days) <= i:
            self.ensure(self._days[-1] + dt.timedelta(days=60))

    def on_or_after(self, day: dt.date) -> dt.date:
        self.ensure(day)
        return self._days[bisect.bisect_left(self._days, day)]

    def add(self, day: dt.date, k: int) -> dt.date:
        """The business day `k` business days after business day `day` (k may be negative)."""
        i = self._index[day] + k
        if i < 0:
            raise ValueError(f"{day} - {-k} business days is before the calendar's start")
        self._ensure_count(i)
        return self._days[i]

    def between(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Business days in [start, end]."""
        self.ensure(end)
        lo = bisect.bisect_left(self._days, start)
        hi = bisect.bisect_right(self._days, end)
        return self._days[lo:hi]
