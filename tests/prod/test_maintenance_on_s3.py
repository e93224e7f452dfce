"""Orphan removal and compaction on the production-shaped profile: Iceberg tables on S3 (SeaweedFS) behind the
REST catalog, in a table bucket of their own (the other prod tests' totals stay untouched). A landing process
is SIGKILLed mid-commit against S3; orphan removal lists the bucket, takes the unreferenced objects to 0, and
the table reads the same; compaction leaves fewer objects, the same rows, in one snapshot."""

from __future__ import annotations

import datetime as dt

import pytest

from fidc_assets.lib.lake import engines
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.maintenance import compact, expire_snapshots, remove_orphan_files
from fidc_assets.settings import Settings
from tests.lake_faults import FUNDS, JULY, RP, kill_a_landing_mid_commit, land_days, unreferenced
from tests.prod.conftest import patched_environ

pytestmark = pytest.mark.prod

BUCKET = "fidc-maintenance"


@pytest.fixture
def s3_lake(s3_profile, tmp_path):
    import boto3

    boto3.client("s3tables", **s3_profile.boto3_kwargs()).create_table_bucket(name=BUCKET)
    env = {**s3_profile.env, "FIDC_HOME": str(tmp_path / "home"), "FIDC_WAREHOUSE": f"s3://{BUCKET}"}
    with patched_environ(env):
        settings = Settings.from_env()
        yield Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)


def test_orphans_of_a_killed_landing_on_s3_go_to_zero_and_compaction_keeps_the_rows(s3_lake: Lake):
    lake = s3_lake
    land_days(lake, JULY)
    table = lake.table(RP)
    assert table.location().startswith(f"s3://{BUCKET}/")
    before = engines.pyiceberg_totals(table)
    assert unreferenced(lake) == 0

    kill_a_landing_mid_commit(lake)
    orphans = unreferenced(lake)
    assert orphans >= 3
    assert engines.pyiceberg_totals(lake.table(RP)) == before

    kept = remove_orphan_files(lake, dt.timedelta(hours=1))  # S3's object times: all younger than the margin
    assert sum(r.deleted for r in kept) == 0 and sum(r.too_young for r in kept) == orphans
    removed = remove_orphan_files(lake, dt.timedelta(0))
    assert sum(r.deleted for r in removed) == orphans
    assert unreferenced(lake) == 0
    assert engines.pyiceberg_totals(lake.table(RP)) == before

    files_before = len(list(lake.table(RP).scan().plan_files()))
    snapshots_before = len(lake.table(RP).snapshots())
    report = {c.table: c for c in compact(lake, quiet_for=dt.timedelta(0))}[RP.table_name]
    table = lake.table(RP)
    # one file per day and fund (partitions are month x fund) → one per fund
    assert files_before == len(JULY) * len(FUNDS)
    assert report.files_after == len(list(table.scan().plan_files())) == len(FUNDS)
    assert len(table.snapshots()) == snapshots_before + 1
    assert engines.pyiceberg_totals(table) == before
    assert engines.duckdb_totals(table) == before

    expire_snapshots(lake, dt.timedelta(0))
    assert unreferenced(lake) >= files_before
    remove_orphan_files(lake, dt.timedelta(0))
    assert unreferenced(lake) == 0
    assert engines.pyiceberg_totals(lake.table(RP)) == before
