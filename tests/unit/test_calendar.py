"""ANBIMA business-day calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from fidc_assets.lib.core.calendar import (
    anbima_holidays,
    business_days_between,
    business_days_from,
    first_business_day_on_or_after,
    is_business_day,
    next_business_day,
)

WEEKDAY_HOLIDAYS_2024 = [
    dt.date(2024, 1, 1),  # Confraternização Universal
    dt.date(2024, 2, 12),  # Carnaval
    dt.date(2024, 2, 13),  # Carnaval
    dt.date(2024, 3, 29),  # Sexta-feira Santa
    dt.date(2024, 5, 1),  # Dia do Trabalho
    dt.date(2024, 5, 30),  # Corpus Christi
    dt.date(2024, 11, 15),  # Proclamação da República
    dt.date(2024, 11, 20),  # Dia Nacional de Zumbi e da Consciência Negra
    dt.date(2024, 12, 25),  # Natal
]


def _all_days(year: int) -> list[dt.date]:
    start = dt.date(year, 1, 1)
    return [start + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - start).days)]


def test_2024_weekday_holidays_exactly():
    assert sorted(d for d in anbima_holidays() if d.year == 2024 and d.weekday() < 5) == WEEKDAY_HOLIDAYS_2024


def test_2024_has_253_business_days():
    days = list(business_days_between(dt.date(2024, 1, 1), dt.date(2024, 12, 31)))
    weekdays = [d for d in _all_days(2024) if d.weekday() < 5]
    assert len(weekdays) == 262
    assert len(days) == 262 - len(WEEKDAY_HOLIDAYS_2024) == 253
    assert days == sorted(days)
    assert set(weekdays) - set(days) == set(WEEKDAY_HOLIDAYS_2024)


def test_no_business_day_is_a_weekend_or_holiday():
    holidays = anbima_holidays()
    for day in business_days_between(dt.date(2023, 1, 1), dt.date(2025, 12, 31)):
        assert day.weekday() < 5, day
        assert day not in holidays, day


def test_is_business_day():
    assert is_business_day(dt.date(2024, 3, 15))  # Friday
    assert not is_business_day(dt.date(2024, 3, 16))  # Saturday
    assert not is_business_day(dt.date(2024, 3, 17))  # Sunday
    assert not is_business_day(dt.date(2024, 2, 13))  # Carnival Tuesday
    assert is_business_day(dt.date(2024, 2, 14))  # Ash Wednesday is a business day for ANBIMA


def test_business_days_between_is_inclusive_and_empty_when_reversed():
    assert list(business_days_between(dt.date(2024, 3, 15), dt.date(2024, 3, 18))) == [
        dt.date(2024, 3, 15),
        dt.date(2024, 3, 18),
    ]
    assert list(business_days_between(dt.date(2024, 3, 18), dt.date(2024, 3, 15))) == []


def test_next_business_day_over_carnival():
    assert next_business_day(dt.date(2024, 2, 9)) == dt.date(2024, 2, 14)  # Friday → Ash Wednesday
    assert next_business_day(dt.date(2024, 2, 10)) == dt.date(2024, 2, 14)
    assert next_business_day(dt.date(2024, 2, 12)) == dt.date(2024, 2, 14)


def test_next_business_day_is_strictly_after():
    assert next_business_day(dt.date(2024, 3, 14)) == dt.date(2024, 3, 15)
    assert next_business_day(dt.date(2024, 3, 15)) == dt.date(2024, 3, 18)
    assert next_business_day(dt.date(2024, 12, 24)) == dt.date(2024, 12, 26)
    assert next_business_day(dt.date(2024, 12, 31)) == dt.date(2025, 1, 2)


def test_first_business_day_on_or_after():
    assert first_business_day_on_or_after(dt.date(2024, 3, 15)) == dt.date(2024, 3, 15)
    assert first_business_day_on_or_after(dt.date(2024, 11, 20)) == dt.date(2024, 11, 21)


def test_business_days_from_skips_holidays():
    assert business_days_from(dt.date(2024, 2, 8), 4) == [
        dt.date(2024, 2, 8),
        dt.date(2024, 2, 9),
        dt.date(2024, 2, 14),
        dt.date(2024, 2, 15),
    ]
    assert business_days_from(dt.date(2024, 11, 14), 3) == [
        dt.date(2024, 11, 14),
        dt.date(2024, 11, 18),
        dt.date(2024, 11, 19),
    ]


def test_business_days_from_starts_on_the_first_business_day():
    assert business_days_from(dt.date(2024, 2, 10), 1) == [dt.date(2024, 2, 14)]  # Saturday before Carnival


def test_business_days_from_count_zero_and_negative():
    assert business_days_from(dt.date(2024, 2, 10), 0) == []
    with pytest.raises(ValueError, match="count"):
        business_days_from(dt.date(2024, 2, 10), -1)
