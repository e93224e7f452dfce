"""Versions of the lake: what every table held at a moment (time travel), read from Iceberg snapshots.

Generic over the lake: nothing here knows who made a commit beyond the run id a writer may stamp on its
snapshot summary (`PROP_RUN`; the legacy migration does). The migration's own use of snapshots (finding its
commits, rolling a month back) is in `fidc_assets.lib.legacy.rollback`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import cast

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from fidc_assets.lib.core.canonical import ENTITIES, INGESTIBLE
from fidc_assets.lib.core.months import month_key
from fidc_assets.lib.lake.catalog import Lake

#: Snapshot summary property: the id of the run that made the commit.
PROP_RUN = "fidc.run-id"


@dataclass(frozen=True)
class TableState:
    table: str
    snapshot_id: int | None
    committed_at: dt.datetime | None
    operation: str | None
    run_id: str | None
    rows_by_source_month: dict[tuple[str, str], int]

    @property
    def rows(self) -> int:
        return sum(self.rows_by_source_month.values())


def committed_at(snapshot: Snapshot) -> dt.datetime:
    """When the snapshot was committed, in UTC."""
    return dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=dt.UTC)


def snapshots_newest_first(table: Table) -> list[Snapshot]:
    """The table's retained snapshots, newest first. Not by walking parent links: once the nightly expiry has
    removed an untagged snapshot the walk would stop there, and older (tagged) migration commits, with the
    tagged states before them, would no longer be found. Commits here only ever append to main, so time
    order is ancestry order."""
    return sorted(table.metadata.snapshots, key=lambda snap: snap.timestamp_ms, reverse=True)


def snapshot_prop(snap: Snapshot, key: str) -> str | None:
    """A property of the snapshot's summary, None if absent."""
    return snap.summary.get(key) if snap.summary else None


def as_of(lake: Lake, moment: dt.datetime, entities: tuple[str, ...] = INGESTIBLE) -> list[TableState]:
    """Each table as it was at `moment`: its snapshot then, and its rows by (source, month)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    out = []
    for name in entities:
        entity = ENTITIES[name]
        date = entity.partition_date
        if date is None:
            raise ValueError(f"{name} has no partition date: its rows cannot be counted by month")
        table = lake.table(entity)
        snap = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
        counts: Counter[tuple[str, str]] = Counter()
        if snap is not None:
            rows = table.scan(snapshot_id=snap.snapshot_id, selected_fields=("source", date)).to_arrow()
            if rows.num_rows:
                # `source` and the partition date are required fields of every ingestible table: never null
                months = [month_key(d) for d in cast(list[dt.date], rows[date].to_pylist())]
                counts.update(zip(cast(list[str], rows["source"].to_pylist()), months, strict=True))
        out.append(
            TableState(
                entity.table_name,
                snap.snapshot_id if snap else None,
                committed_at(snap) if snap else None,
                str(snap.summary.operation.value) if snap and snap.summary else None,
                snap.summary.get(PROP_RUN) if snap and snap.summary else None,
                dict(sorted(counts.items())),
            )
        )
    return out
