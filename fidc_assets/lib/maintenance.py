"""Iceberg maintenance: expire old snapshots so metadata does not grow without end.

Snapshots younger than the retention, the current one, and tagged or branched ones (the migration tags its
commits, for time travel and rollback) are kept. pyiceberg 0.12 removes expired snapshots from the metadata;
deleting the data files no snapshot references any more (orphans) is not in pyiceberg yet — on S3 a bucket
lifecycle rule or Spark's remove_orphan_files does it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fidc_assets.lib.canonical import ENTITIES
from fidc_assets.lib.hot_window import RetentionReport, apply_retention
from fidc_assets.lib.lake import Lake


@dataclass(frozen=True)
class Expired:
    table: str
    before: int
    after: int


def expire_snapshots(lake: Lake, retention: dt.timedelta, now: dt.datetime | None = None) -> list[Expired]:
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - retention
    out = []
    for entity in ENTITIES.values():
        table = lake.table(entity)
        before = len(table.snapshots())
        if before > 1:
            table.maintenance.expire_snapshots().older_than(cutoff).commit()
            table = lake.table(entity)
        out.append(Expired(entity.table_name, before, len(table.snapshots())))
    return out


def hot_retention(lake: Lake, dsn: str, months: int, anchor: dt.date | None = None) -> RetentionReport:
    """The hot window's retention: see `fidc_assets.lib.hot_window.apply_retention`."""
    return apply_retention(dsn, lake, months, anchor)
