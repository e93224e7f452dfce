"""Versions of the lake: what it held at a moment (time travel) and rolling a migration month back.

Every migration commit is an Iceberg snapshot whose summary carries the run id and the month
(`fidc.run-id`, `fidc.legacy-month`, `fidc.operation = migrate`) and is tagged
``legacy-<yyyy-mm>-<entity>-<run id>`` (tagged snapshots survive the nightly expiry).

Rollback restores one month's legacy slice, in each migrated table, to what it was in the snapshot just
before the latest migration commit of that month (the "previous snapshot"), as a new commit
(`fidc.operation = rollback`). It does not move the table's current snapshot back
(`manage_snapshots().rollback_to_snapshot` would also undo every later commit of other months and of the
custodian files landed since); reading the old slice by time travel and writing it back undoes that one run
and nothing else. The run's line in the migration log is removed, so a resumed backfill migrates the month
again when nothing was there before.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import psycopg
import pyarrow as pa
from pyiceberg.expressions import In
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from fidc_assets.lib.core.canonical import ENTITIES, INGESTIBLE, QUARANTINE, Entity
from fidc_assets.lib.core.months import month_key
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.legacy.migration import (
    LOG_TABLE,
    PROP_MONTH,
    PROP_OPERATION,
    PROP_RUN,
    RECON_SCHEMA,
    LegacySpec,
    batch_id,
    default_spec,
    month_filter,
)


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


def _when(snapshot: Snapshot) -> dt.datetime:
    return dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=dt.UTC)


def as_of(lake: Lake, moment: dt.datetime, entities: tuple[str, ...] = INGESTIBLE) -> list[TableState]:
    """Each table as it was at `moment`: its snapshot then, and its rows by (source, month)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    out = []
    for name in entities:
        entity = ENTITIES[name]
        table = lake.table(entity)
        snap = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
        counts: Counter[tuple[str, str]] = Counter()
        if snap is not None:
            rows = table.scan(
                snapshot_id=snap.snapshot_id, selected_fields=("source", entity.partition_date)
            ).to_arrow()
            if rows.num_rows:
                months = [d.strftime("%Y-%m") for d in rows[entity.partition_date].to_pylist()]
                counts.update(zip(rows["source"].to_pylist(), months, strict=True))
        out.append(
            TableState(
                entity.table_name,
                snap.snapshot_id if snap else None,
                _when(snap) if snap else None,
                str(snap.summary.operation.value) if snap and snap.summary else None,
                snap.summary.get(PROP_RUN) if snap and snap.summary else None,
                dict(sorted(counts.items())),
            )
        )
    return out


def _ancestry(table: Table) -> list[Snapshot]:
    """The table's retained snapshots, newest first. Not by walking parent links: once the nightly expiry has
    removed an untagged snapshot the walk would stop there, and older (tagged) migration commits, with the
    tagged states before them, would no longer be found. Commits here only ever append to main, so time
    order is ancestry order."""
    return sorted(table.metadata.snapshots, key=lambda snap: snap.timestamp_ms, reverse=True)


def _prop(snap: Snapshot, key: str) -> str | None:
    return snap.summary.get(key) if snap.summary else None


def previous_snapshot(table: Table, month: dt.date, run_id: str | None = None) -> tuple[str | None, int | None]:
    """(run id, snapshot id before it) of the latest migration of `month` (or of `run_id`'s) in `table`.

    A migration commit may be two snapshots (delete, then append) with the same run id: the one before the
    first of them is the previous state. (None, None) when the month was never migrated."""
    key = month_key(month)
    chain = _ancestry(table)
    for i, snap in enumerate(chain):
        if (
            _prop(snap, PROP_MONTH) == key
            and _prop(snap, PROP_OPERATION) == "migrate"
            and (run_id is None or _prop(snap, PROP_RUN) == run_id)
        ):
            run = _prop(snap, PROP_RUN)
            j = i
            while (
                j + 1 < len(chain) and _prop(chain[j + 1], PROP_RUN) == run and _prop(chain[j + 1], PROP_MONTH) == key
            ):
                j += 1
            # the state before the run is tagged `<tag>-before` at migration time: prefer it, it survives expiry
            suffix = f"-{run}-before"
            tagged = [
                r.snapshot_id for n, r in table.refs().items() if n.startswith(f"legacy-{key}-") and n.endswith(suffix)
            ]
            return run, tagged[0] if tagged else chain[j].parent_snapshot_id
    return None, None


@dataclass(frozen=True)
class RolledBack:
    table: str
    run_id: str | None
    restored_from: int | None
    rows_before: int
    rows_after: int


def _restore(lake: Lake, entity: Entity, where, snapshot_id: int | None, props: dict[str, str]) -> tuple[int, int]:
    table = lake.table(entity)
    before = table.scan(row_filter=where, selected_fields=(entity.fields[0].name,)).to_arrow().num_rows
    if snapshot_id is None:
        rows = entity_empty(entity)
    else:
        rows = table.scan(row_filter=where, snapshot_id=snapshot_id).to_arrow()
    lake.replace_slice(entity, rows, where, snapshot_properties=props)
    return before, rows.num_rows


def entity_empty(entity: Entity) -> pa.Table:
    from fidc_assets.lib.core.canonical import arrow_schema

    return arrow_schema(entity).empty_table()


def rollback_month(
    lake: Lake,
    month: dt.date,
    run_id: str | None = None,
    log_dsn: str | None = None,
    spec: LegacySpec | None = None,
) -> list[RolledBack]:
    """Undo the latest migration of `month` (or run `run_id`'s) in every migrated table and the quarantine."""
    spec = spec or default_spec()
    out = []
    runs: set[str] = set()
    for name in dict.fromkeys(t.entity for t in spec.tables):
        entity = ENTITIES[name]
        run, previous = previous_snapshot(lake.table(entity), month, run_id)
        if run is None:
            continue
        runs.add(run)
        props = {PROP_OPERATION: "rollback", PROP_MONTH: month_key(month), "fidc.rolled-back-run": run,
                 "fidc.restored-from": str(previous)}  # fmt: skip
        before, after = _restore(lake, entity, month_filter(entity, month), previous, props)
        out.append(RolledBack(entity.table_name, run, previous, before, after))
    if runs:
        shas = sorted({batch_id(t, month) for t in spec.tables})
        run, previous = previous_snapshot(lake.table(QUARANTINE), month, run_id)
        if run is not None:
            props = {PROP_OPERATION: "rollback", PROP_MONTH: month_key(month), "fidc.rolled-back-run": run}
            before, after = _restore(lake, QUARANTINE, In("source_file_sha256", shas), previous, props)
            out.append(RolledBack(QUARANTINE.table_name, run, previous, before, after))
    if log_dsn is not None and runs:
        with psycopg.connect(log_dsn) as conn:
            conn.execute(f"create schema if not exists {RECON_SCHEMA}")
            if conn.execute(f"select to_regclass('{RECON_SCHEMA}.{LOG_TABLE}')").fetchone()[0] is not None:
                conn.execute(
                    f"delete from {RECON_SCHEMA}.{LOG_TABLE} where month = %s and run_id = any(%s)",
                    [month, sorted(runs)],
                )
    return out


def migration_log(table: Table) -> list[dict]:
    """The table's snapshots, newest first, with the migration properties (for `fidc-lake history log`)."""
    tags: dict[int, list[str]] = {}
    for name, ref in table.refs().items():
        if name != "main":
            tags.setdefault(ref.snapshot_id, []).append(name)
    return [
        {
            "snapshot_id": s.snapshot_id,
            "committed_at": _when(s).isoformat(timespec="seconds"),
            "operation": _prop(s, PROP_OPERATION) or (s.summary.operation.value if s.summary else ""),
            "month": _prop(s, PROP_MONTH) or "",
            "run_id": _prop(s, PROP_RUN) or _prop(s, "fidc.rolled-back-run") or "",
            "tags": ",".join(tags.get(s.snapshot_id, [])),
        }
        for s in _ancestry(table)
    ]
