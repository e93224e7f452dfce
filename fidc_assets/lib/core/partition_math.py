"""Partition windows → concrete work: business days and dbt vars. Pure and unit-tested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from fidc_assets.lib.core.calendar import HISTORY_START, anbima_holidays

DATE_KEY_FORMAT = "%Y-%m-%d"


def days_from_keys(partition_keys: Sequence[str]) -> list[dt.date]:
    """Partition keys (`YYYY-MM-DD`) → sorted dates."""
    return sorted(dt.datetime.strptime(k, DATE_KEY_FORMAT).date() for k in partition_keys)


def date_fund_pairs(partition_keys: Sequence[str]) -> list[tuple[dt.date, str]]:
    """Ingestion partition keys (`YYYY-MM-DD|<fund cnpj>`, Dagster's date × fund keys) → sorted (day, fund).

    Dagster joins a multi-partition key's parts in the order of the dimension names (`date`, `fund`); the
    date part is recognised by its shape so the order cannot silently swap day and fund."""
    pairs = set()
    for key in partition_keys:
        parts = str(key).split("|")
        if len(parts) != 2:
            raise ValueError(f"{key!r} is not a date|fund partition key")
        dated = [p for p in parts if len(p) == 10 and p[4] == "-" and p[7] == "-"]
        if len(dated) != 1:
            raise ValueError(f"{key!r}: expected exactly one YYYY-MM-DD part")
        fund = parts[1] if parts[0] == dated[0] else parts[0]
        pairs.add((dt.datetime.strptime(dated[0], DATE_KEY_FORMAT).date(), fund))
    return sorted(pairs)


def date_fund_key(day: dt.date, fund: str) -> str:
    """The ingestion partition key of (day, fund), as Dagster spells a `date` × `fund` key."""
    return f"{day.isoformat()}|{fund}"


def dbt_vars(days: Sequence[dt.date]) -> dict[str, str]:
    """The dbt `--vars` that make incremental models rebuild exactly the window `days` spans."""
    if not days:
        raise ValueError("a dbt window needs at least one day")
    return {"min_date": min(days).isoformat(), "max_date": max(days).isoformat()}


def holiday_exclusions(until_year: int, annual: Sequence[tuple[int, int]] = ()) -> list[dt.date]:
    """ANBIMA holidays on weekdays from the start of history to `until_year` (weekends go by cron), but those
    on an `annual` (month, day) (a yearly cron excludes them)."""
    return sorted(
        d
        for d in anbima_holidays()
        if HISTORY_START <= d and d.year <= until_year and d.weekday() < 5 and (d.month, d.day) not in annual
    )


def annual_holidays(until_year: int) -> list[tuple[int, int]]:
    """The (month, day) that is an ANBIMA holiday in every year from the start of history to `until_year`
    (1 January, Tiradentes, ...; not 20 November, a holiday only from 2024, nor the moving feasts).

    The business-day partitions exclude these with one yearly cron each instead of one date per year: Dagster
    writes a partitions definition's exclusions into every partition subset it stores (the marts automation's
    cursor holds hundreds of them, serialized on every tick), and these are more than half of the dates."""
    holidays = anbima_holidays()
    years = range(HISTORY_START.year, until_year + 1)

    def every_year(month: int, day: int) -> bool:
        return (month, day) != (2, 29) and all(dt.date(y, month, day) in holidays for y in years)

    return sorted({(d.month, d.day) for d in holidays if d.year == HISTORY_START.year and every_year(d.month, d.day)})
