"""Nightly maintenance expires old Iceberg snapshots and leaves the data as it was."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to
from fidc_assets.lib.lake.maintenance import expire_snapshots

pytestmark = pytest.mark.integration


def _rows(n: int, tag: str) -> pa.Table:
    now = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    return pa.Table.from_pylist(
        [{"sha256": f"{tag}{i}", "original_name": f"{tag}{i}.csv", "size_bytes": 1, "received_at": now,
          "archive_uri": "file:///x", "status": "received"} for i in range(n)],
        schema=canonical.arrow_schema(canonical.FILE_REGISTRY),
    )  # fmt: skip


def test_expiry_keeps_the_current_snapshot_and_every_row(tmp_path: Path):
    lake = Lake.local(tmp_path)
    for tag in ("a", "b", "c"):
        lake.replace_slice(canonical.FILE_REGISTRY, _rows(3, tag), equal_to("sha256", f"{tag}0"))
    before = lake.read(canonical.FILE_REGISTRY).num_rows
    assert len(lake.table(canonical.FILE_REGISTRY).snapshots()) >= 3

    report = {e.table: e for e in expire_snapshots(lake, dt.timedelta(0), now=dt.datetime.now(dt.UTC))}

    registry = report["lake.file_registry"]
    assert registry.before >= 3 and registry.after == 1
    assert lake.read(canonical.FILE_REGISTRY).num_rows == before == 9


def test_recent_snapshots_are_kept(tmp_path: Path):
    lake = Lake.local(tmp_path)
    for tag in ("a", "b"):
        lake.replace_slice(canonical.FILE_REGISTRY, _rows(1, tag), equal_to("sha256", f"{tag}0"))
    count = len(lake.table(canonical.FILE_REGISTRY).snapshots())
    expire_snapshots(lake, dt.timedelta(days=30))
    assert len(lake.table(canonical.FILE_REGISTRY).snapshots()) == count
