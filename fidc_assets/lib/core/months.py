"""Calendar months as values: the migration's partitions, the hot window and the reconciliation all count in them."""

from __future__ import annotations

import datetime as dt


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def month_key(month: dt.date) -> str:
    return f"{month:%Y-%m}"


def parse_month(key: str) -> dt.date:
    """'2019-01' or '2019-01-01' (a Dagster monthly partition key) → date(2019, 1, 1)."""
    return dt.date.fromisoformat(key[:7] + "-01")


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], month_start(first)
    while m <= last:
        out.append(m)
        m = next_month(m)
    return out
