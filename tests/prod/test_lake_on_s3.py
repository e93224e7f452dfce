"""The lake on the production-shaped profile, configured by environment variables only: files arrive as
objects in an S3 inbox, the raw archive is written to an S3 bucket (FIDC_ARCHIVE), the Iceberg tables live
in an S3 table bucket behind SeaweedFS's Iceberg REST catalog; pyiceberg, DuckDB and Polars then read the
same totals of `lake.receivable_positions`, equal to the generator's truth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake import engines
from fidc_assets.lib.lake.archive import read_archived
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample
from fidc_assets.sample.truth import read_positions_truth
from fidc_assets.settings import Settings
from tests.prod.conftest import ARCHIVE_BUCKET, INBOX_BUCKET, TABLE_BUCKET, patched_environ

pytestmark = pytest.mark.prod


@pytest.fixture(scope="module")
def landed_on_s3(s3_profile, tmp_path_factory):
    with patched_environ({**s3_profile.env, "FIDC_HOME": str(tmp_path_factory.mktemp("home"))}):
        yield _land(s3_profile, tmp_path_factory.mktemp("s3-sample"))


def _land(s3_profile, root):
    import boto3

    manifest = generate_sample(root / "sample", seed=5, funds=2, days=3, receivables_per_fund=200)
    s3 = boto3.client("s3", **s3_profile.boto3_kwargs())
    for name in manifest.files:
        s3.upload_file(str(manifest.inbox_dir / name), INBOX_BUCKET, f"inbox/{name}")

    settings = Settings.from_env()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    specs = load_specs(CUSTODIANS_DIR)
    matched, unmatched = scan_inbox(settings.inbox, specs)
    assert unmatched == [] and len(matched) == len(manifest.files)
    receive_files(lake, matched)
    land_slices(lake, specs, manifest.days)
    return manifest, lake


def test_the_sample_lands_from_an_s3_inbox_into_iceberg_on_s3_and_every_engine_agrees(landed_on_s3):
    manifest, lake = landed_on_s3
    table = lake.table(canonical.RECEIVABLE_POSITIONS)
    assert table.metadata_location.startswith(f"s3://{TABLE_BUCKET}/")
    assert type(lake.catalog).__name__ == "RestCatalog"

    reference = engines.pyiceberg_totals(table)
    truth = read_positions_truth(manifest.truth_dir).values()
    assert reference.rows == sum(t.row_count for t in truth) > 0
    assert reference.sums["nominal_value"] == sum((t.nominal_value for t in truth), Decimal("0"))
    assert reference.sums["present_value"] == sum((t.present_value for t in truth), Decimal("0"))
    assert engines.duckdb_totals(table) == reference
    assert engines.polars_totals(table) == reference


def test_the_raw_archive_on_s3_holds_every_file_byte_for_byte(landed_on_s3):
    manifest, lake = landed_on_s3
    registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert len(registry) == len(manifest.files)
    by_name = {r["original_name"]: r for r in registry}
    for name in manifest.files:
        uri = by_name[name]["archive_uri"]
        assert uri.startswith(f"s3://{ARCHIVE_BUCKET}/raw/")
        assert read_archived(uri) == (manifest.inbox_dir / name).read_bytes()


def test_the_inbox_opens_an_object_delivered_after_it_was_listed(s3_profile):
    """A long-lived process (a Celery worker's pool child, the daemon's code server) lists the S3 inbox for
    one day's run and must still open the file a custodian put there afterwards, for the next day's run:
    fsspec caches filesystem instances per process and s3fs caches listings in them, and a cached listing
    without the new object made `open` answer FileNotFoundError without asking S3 (found by test_faults.py:
    every retry of that day's ingestion failed on the same worker)."""
    import hashlib
    import uuid

    import boto3

    from fidc_assets.lib.ingest.inbox import Inbox

    prefix = f"stale-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", **s3_profile.boto3_kwargs())
    with patched_environ(s3_profile.env):
        s3.put_object(Bucket=INBOX_BUCKET, Key=f"{prefix}/day1.txt", Body=b"day 1")
        assert [f.name for f in Inbox.at(f"s3://{INBOX_BUCKET}/{prefix}").list()] == ["day1.txt"]
        s3.put_object(Bucket=INBOX_BUCKET, Key=f"{prefix}/day2.txt", Body=b"day 2")  # the custodian, later
        inbox = Inbox.at(f"s3://{INBOX_BUCKET}/{prefix}")  # the next run, same process: same fs instance
        assert inbox.sha256(f"{INBOX_BUCKET}/{prefix}/day2.txt") == hashlib.sha256(b"day 2").hexdigest()
        assert [f.name for f in inbox.list()] == ["day1.txt", "day2.txt"]
        with inbox.local_path(f"{INBOX_BUCKET}/{prefix}/day2.txt") as local:
            assert local.read_bytes() == b"day 2"
