"""Iceberg maintenance: expire old snapshots so metadata does not grow without end.

Snapshots younger than the retention, the current one, and tagged or branched ones (the migration tags its
commits, for time travel and rollback) are kept. pyiceberg 0.12 removes expired snapshots from the metadata;
deleting the data files no snapshot references any more (orphans) is not in pyiceberg yet — on S3 a bucket
lifecycle rule or Spark's remove_orphan_files does it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fidc_assets.lib.core.canonical import ENTITIES
from fidc_assets.lib.lake.catalog import Lake


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
