"""The `expected_deliveries` sensor: a missing stock file raises the check for its fund-day; its arrival
(the file received into the lake's registry) clears it; an unchanged fund-day is not reported again."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from fidc_assets.defs.ops.deliveries import CHECK_NAME, expected_deliveries_sensor
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample

DAY = dt.date(2024, 7, 31)
#: 20:00 in São Paulo: the sample's stock (due 19:00) is overdue; its events (due the next day) are not.
EVENING = dt.datetime(2024, 7, 31, 20, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))


@pytest.fixture()
def setup(tmp_path: Path):
    sample = generate_sample(tmp_path / "sample", seed=42, funds=1, days=1, start=DAY, receivables_per_fund=20)
    lake = Lake.local(tmp_path / "lake")
    resource = LakehouseResource(
        catalog_uri=lake.catalog_uri, warehouse=lake.warehouse, funds_file=str(sample.out_dir / REGISTRY_FILE_NAME)
    )
    return sample, lake, resource


def _on(result: dg.SensorResult, partition: str) -> list[dg.AssetCheckEvaluation]:
    """The evaluations reported for one fund-day (the week before it, with no file at all, is flagged too)."""
    events = [e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert len(events) == len(result.asset_events)
    return [e for e in events if e.partition == partition]


def _tick(resource: LakehouseResource, cursor: str | None) -> dg.SensorResult:
    sensor = expected_deliveries_sensor(clock=lambda: EVENING)
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(cursor=cursor, resources={"lakehouse": resource}, instance=instance) as ctx:
            result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def test_a_missing_stock_file_raises_the_check_and_its_arrival_clears_it(setup):
    sample, lake, resource = setup
    [fund] = [f.cnpj for f in sample.funds]
    partition = f"{DAY.isoformat()}|{fund}"
    matched, _ = scan_inbox(sample.inbox_dir, load_specs(CUSTODIANS_DIR))
    stock = [(f, m) for f, m in matched if m.file_spec.entity == "receivable_positions"]
    others = [(f, m) for f, m in matched if m.file_spec.entity != "receivable_positions"]
    assert len(stock) == 1 and others  # the quotas arrive, the stock does not (yet)
    receive_files(lake, others)

    first = _tick(resource, None)
    [raised] = _on(first, partition)
    assert all(isinstance(e, dg.AssetCheckEvaluation) and not e.passed for e in first.asset_events)
    assert (raised.asset_key, raised.check_name, raised.partition, raised.passed) == (
        dg.AssetKey(["lake", "custodian_files"]),
        CHECK_NAME,
        partition,
        False,
    )
    assert raised.metadata["missing"].value == 1 and "receivable_positions missing" in (raised.description or "")

    # nothing changed: nothing reported again
    assert _tick(resource, first.cursor).asset_events == []

    receive_files(lake, stock)
    cleared = _tick(resource, first.cursor)
    [event] = cleared.asset_events  # only the fund-day that changed
    assert isinstance(event, dg.AssetCheckEvaluation)
    assert (event.partition, event.passed, event.metadata["missing"].value) == (partition, True, 0)
    # the sample's files were written today, long after their due times in 2024: every one arrived late
    assert event.metadata["received"].value == event.metadata["expected"].value == raised.metadata["expected"].value
    assert event.metadata["late"].value == event.metadata["received"].value
    assert json.loads(cleared.cursor or "{}").keys() == json.loads(first.cursor or "{}").keys()
