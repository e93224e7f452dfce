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


def holiday_exclusions(until_year: int) -> list[dt.date]:
    """ANBIMA holidays on weekdays from the start of history to `until_year` (weekends go by cron)."""
    return sorted(d for d in anbima_holidays() if HISTORY_START <= d and d.year <= until_year and d.weekday() < 5)
