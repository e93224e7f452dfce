"""The migration's commits in the lake: finding them, listing them, and rolling a migration month back.

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

What a table held at a moment (time travel) is generic over the lake: `fidc_assets.lib.lake.history`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import In
from pyiceberg.table import Table

from fidc_assets.lib.core.canonical import ENTITIES, QUARANTINE, Entity
from fidc_assets.lib.core.months import month_key
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.history import PROP_RUN, committed_at, snapshot_prop, snapshots_newest_first
from fidc_assets.lib.legacy.ledger import forget
from fidc_assets.lib.legacy.mapping import LegacySpec, default_spec
from fidc_assets.lib.legacy.migration import PROP_MONTH, PROP_OPERATION, batch_id, month_filter


def previous_snapshot(table: Table, month: dt.date, run_id: str | None = None) -> tuple[str | None, int | None]:
    """(run id, snapshot id before it) of the latest migration of `month` (or of `run_id`'s) in `table`.

    A migration commit may be two snapshots (delete, then append) with the same run id: the one before the
    first of them is the previous state. (None, None) when the month was never migrated."""
    key = month_key(month)
    chain = snapshots_newest_first(table)
    for i, snap in enumerate(chain):
        if (
            snapshot_prop(snap, PROP_MONTH) == key
            and snapshot_prop(snap, PROP_OPERATION) == "migrate"
            and (run_id is None or snapshot_prop(snap, PROP_RUN) == run_id)
        ):
            run = snapshot_prop(snap, PROP_RUN)
            j = i
            while (
                j + 1 < len(chain)
                and snapshot_prop(chain[j + 1], PROP_RUN) == run
                and snapshot_prop(chain[j + 1], PROP_MONTH) == key
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
            # pyiceberg's In takes (term, literals) positionally; pyright sees only its pydantic keyword __init__
            month_rows = In("source_file_sha256", shas)  # pyright: ignore[reportCallIssue]
            before, after = _restore(lake, QUARANTINE, month_rows, previous, props)
            out.append(RolledBack(QUARANTINE.table_name, run, previous, before, after))
    if log_dsn is not None and runs:
        forget(log_dsn, month, sorted(runs))
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
            "committed_at": committed_at(s).isoformat(timespec="seconds"),
            "operation": snapshot_prop(s, PROP_OPERATION) or (s.summary.operation.value if s.summary else ""),
            "month": snapshot_prop(s, PROP_MONTH) or "",
            "run_id": snapshot_prop(s, PROP_RUN) or snapshot_prop(s, "fidc.rolled-back-run") or "",
            "tags": ",".join(tags.get(s.snapshot_id, [])),
        }
        for s in snapshots_newest_first(table)
    ]
