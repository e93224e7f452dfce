"""Iceberg maintenance of every canonical table: snapshot expiry, orphan file removal, small-file compaction.

- Expiry: snapshots younger than the retention, the current one, and tagged or branched ones (the migration
  tags its commits, for time travel and rollback) are kept. pyiceberg 0.12 removes expired snapshots from
  the metadata only; the files only they referenced become orphans.
- Orphans (`lib.lake.orphans`): files under a table's location that nothing references, older than a
  safety margin, are deleted: what killed landings, lost commit conflicts and expiry leave behind.
- Compaction (`lib.lake.compaction`): each partition's small files rewritten as one, one commit per table.

The nightly job runs them in the order expire → compact → orphans, so that the files expiry and compaction
unreference are removed by the same night once they are older than the margin.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fidc_assets.lib.core.canonical import ENTITIES
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.compaction import (
    DEFAULT_MIN_FILES,
    DEFAULT_QUIET_FOR,
    DEFAULT_SMALL_FILE_BYTES,
    Compacted,
    compact_table,
)
from fidc_assets.lib.lake.orphans import DEFAULT_MARGIN, OrphanReport, remove_orphans


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


def remove_orphan_files(
    lake: Lake, older_than: dt.timedelta = DEFAULT_MARGIN, dry_run: bool = False, now: dt.datetime | None = None
) -> list[OrphanReport]:
    """Orphan removal on every canonical table (see `lib.lake.orphans.remove_orphans`)."""
    tables = [lake.table(entity) for entity in ENTITIES.values()]
    locations = [t.location() for t in tables]
    out = []
    for t in tables:
        others = [x for x in locations if x != t.location()]
        out.append(remove_orphans(t, older_than, dry_run=dry_run, now=now, other_locations=others))
    return out


def compact(
    lake: Lake,
    small_file_bytes: int = DEFAULT_SMALL_FILE_BYTES,
    min_files: int = DEFAULT_MIN_FILES,
    quiet_for: dt.timedelta = DEFAULT_QUIET_FOR,
) -> list[Compacted]:
    """Compaction of every canonical table, one commit per table that has something to compact."""
    return [compact_table(lake.table(entity), small_file_bytes, min_files, quiet_for) for entity in ENTITIES.values()]
