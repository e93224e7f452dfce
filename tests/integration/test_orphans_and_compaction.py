"""Orphan removal and compaction on a local lake: a landing killed mid-commit (a real SIGKILL) and a commit
that lost a conflict leave unreferenced files; removal takes them to 0 and the table reads the same rows and
money. Compaction leaves fewer files, the same rows, in one snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyiceberg.exceptions import CommitFailedException, ValidationException

from fidc_assets.lib.lake import engines
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.compaction import OPERATION, PROP_OPERATION
from fidc_assets.lib.lake.filters import equal_to
from fidc_assets.lib.lake.maintenance import compact, expire_snapshots, remove_orphan_files
from fidc_assets.sample.canonical_rows import canonical_rows
from tests.lake_faults import FUNDS, JULY, RP, kill_a_landing_mid_commit, land_days, unreferenced

pytestmark = pytest.mark.integration


def test_a_killed_landing_and_a_lost_conflict_leave_orphans_that_removal_takes_to_zero(tmp_path: Path):
    lake = Lake.local(tmp_path)
    land_days(lake, JULY[:3])
    before = engines.pyiceberg_totals(lake.table(RP))
    assert unreferenced(lake) == 0

    kill_a_landing_mid_commit(lake)
    after_kill = unreferenced(lake)
    assert after_kill >= 3  # at least the three data files the killed transaction wrote
    assert engines.pyiceberg_totals(lake.table(RP)) == before  # the killed landing never committed

    # a commit conflict: a writer whose base moved under it, overwriting the slice another writer replaced
    stale = lake.table(RP)
    land_days(lake, JULY[1:2], seed=50)
    after_winner = engines.pyiceberg_totals(lake.table(RP))
    loser_rows = canonical_rows(RP, 300, [JULY[1]], FUNDS, seed=99).cast(stale.schema().as_arrow())
    with pytest.raises((CommitFailedException, ValidationException)):
        stale.overwrite(loser_rows, overwrite_filter=equal_to("reference_date", JULY[1]))
    after_conflict = unreferenced(lake)
    assert after_conflict > after_kill  # the loser's data file(s)
    assert engines.pyiceberg_totals(lake.table(RP)) == after_winner

    # young files are kept: a running commit may still reference them
    kept = remove_orphan_files(lake, dt.timedelta(hours=1))
    assert sum(r.deleted for r in kept) == 0
    assert sum(r.too_young for r in kept) == after_conflict

    # a dry run reports and deletes nothing
    dry = remove_orphan_files(
        lake, dt.timedelta(hours=1), dry_run=True, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    assert sum(len(r.orphans) for r in dry) == after_conflict and sum(r.deleted for r in dry) == 0

    removed = remove_orphan_files(lake, dt.timedelta(hours=1), now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert sum(r.deleted for r in removed) == after_conflict
    assert unreferenced(lake) == 0
    assert engines.pyiceberg_totals(lake.table(RP)) == after_winner
    # every snapshot still reads (nothing a retained snapshot references was removed)
    table = lake.table(RP)
    for snapshot in table.snapshots():
        table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()


def test_compaction_leaves_fewer_files_the_same_rows_in_one_snapshot(tmp_path: Path):
    lake = Lake.local(tmp_path)
    land_days(lake, JULY)  # five commits into the July partition
    land_days(lake, [dt.date(2024, 8, 1), dt.date(2024, 8, 2)], seed=10)  # two into August
    table = lake.table(RP)
    before = engines.pyiceberg_totals(table)
    files_before = len(list(table.scan().plan_files()))
    snapshots_before = len(table.snapshots())
    assert files_before >= 7

    # partitions written just now are busy (the default quiet period is 7 days): left alone
    assert {c.table: c for c in compact(lake)}[RP.table_name].snapshot_id is None
    assert len(lake.table(RP).snapshots()) == snapshots_before

    report = {c.table: c for c in compact(lake, quiet_for=dt.timedelta(0))}[RP.table_name]

    table = lake.table(RP)
    # partitions are month x fund: July and August of each of the two funds
    assert report.partitions == 2 * len(FUNDS) and report.files_before == files_before
    assert report.files_after == len(list(table.scan().plan_files())) == 2 * len(FUNDS)  # one per month and fund
    assert report.rows == before.rows
    assert len(table.snapshots()) == snapshots_before + 1
    current = table.current_snapshot()
    assert current is not None and current.snapshot_id == report.snapshot_id
    assert current.summary is not None and current.summary.get(PROP_OPERATION) == OPERATION
    assert engines.pyiceberg_totals(table) == before
    assert engines.duckdb_totals(table) == before

    # nothing left to compact: no new snapshot
    again = {c.table: c for c in compact(lake, quiet_for=dt.timedelta(0))}[RP.table_name]
    assert again.snapshot_id is None and len(lake.table(RP).snapshots()) == snapshots_before + 1

    # the nightly order: expiry unreferences the small files, orphan removal deletes them, the rows stay
    expire_snapshots(lake, dt.timedelta(0))
    assert unreferenced(lake) >= files_before
    remove_orphan_files(lake, dt.timedelta(0))
    assert unreferenced(lake) == 0
    assert engines.pyiceberg_totals(lake.table(RP)) == before


def test_the_nightly_job_and_the_commands_compact_and_remove_orphans(tmp_path: Path, monkeypatch, capsys):
    import dagster as dg

    from fidc_assets.cli import main
    from fidc_assets.defs.ops.schedules import iceberg_maintenance
    from fidc_assets.defs.resources import LakehouseResource

    lake = Lake.local(tmp_path / "lake")
    land_days(lake, JULY)
    before = engines.pyiceberg_totals(lake.table(RP))
    kill_a_landing_mid_commit(lake)
    orphans = unreferenced(lake)
    assert orphans >= 3
    monkeypatch.setenv("FIDC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FIDC_ICEBERG_CATALOG_URI", lake.catalog_uri)
    monkeypatch.setenv("FIDC_WAREHOUSE", lake.warehouse)

    assert main(["lake", "orphans", "--dry-run", "--older-than", "0m"]) == 0
    out = capsys.readouterr().out
    assert f"total: would delete {orphans} orphan files" in out
    assert unreferenced(lake) == orphans  # a dry run deletes nothing
    assert main(["lake", "orphans"]) == 0  # default margin 3 days: the fresh orphans are kept
    assert "total: deleted 0 orphan files" in capsys.readouterr().out

    # the job's Iceberg half (the hot retention needs PostgreSQL and is not selected): expire → compact → orphans
    result = iceberg_maintenance.execute_in_process(
        resources={"lakehouse": LakehouseResource(home=str(tmp_path / "home"))},
        op_selection=["expire_iceberg_snapshots*"],
        run_config=dg.RunConfig(
            ops={
                "compact_iceberg_files": {"config": {"quiet_days": 0}},
                "remove_iceberg_orphans": {"config": {"older_than_hours": 0}},
            }
        ),
    )
    assert result.success
    table = lake.table(RP)
    # July compacted into one file per fund (the killed landing committed nothing)
    assert len(list(table.scan().plan_files())) == len(FUNDS)
    assert unreferenced(lake) == 0  # the killed landing's files (and nothing the current snapshots need)
    assert engines.pyiceberg_totals(table) == before

    land_days(lake, JULY[:2], seed=7)
    files = len(list(lake.table(RP).scan().plan_files()))
    assert files > len(FUNDS)  # the two days' new files, and the compacted ones rewritten without them
    assert main(["lake", "compact"]) == 0  # July was written just now: not quiet
    assert f"{RP.table_name}: {files} files, nothing to compact" in capsys.readouterr().out
    assert main(["lake", "compact", "--quiet-for", "0m"]) == 0
    assert f"{RP.table_name}: {files} → {len(FUNDS)} files" in capsys.readouterr().out  # one per fund


def test_a_compaction_that_loses_to_a_concurrent_landing_leaves_the_table_and_no_files(tmp_path: Path):
    from fidc_assets.lib.lake.compaction import compact_table

    lake = Lake.local(tmp_path)
    land_days(lake, JULY)
    stale = lake.table(RP)  # the compaction's view, before a landing replaces a day it would rewrite
    land_days(lake, JULY[2:3], seed=77)
    after_landing = engines.pyiceberg_totals(lake.table(RP))
    snapshots = len(lake.table(RP).snapshots())

    report = compact_table(stale, quiet_for=dt.timedelta(0))

    assert report.snapshot_id is None and report.skipped.startswith(("ValidationException", "CommitFailedException"))
    assert len(lake.table(RP).snapshots()) == snapshots
    assert engines.pyiceberg_totals(lake.table(RP)) == after_landing
    assert unreferenced(lake) == 0  # the files written for the lost commit were deleted again
