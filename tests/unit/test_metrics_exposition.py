"""The metrics' exposition: a measurement becomes Prometheus series with their labels; a source that was down
is 0 in fidc_metrics_source_up and its series are absent; failed runs appear only when measured."""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry, generate_latest

from fidc_assets.lib.ops.metrics import LakehouseCollector, Snapshot

ALFA = "custodia_alfa"


def _exposition(snapshot: Snapshot) -> str:
    registry = CollectorRegistry(auto_describe=False)
    collector = LakehouseCollector(lambda: snapshot)
    registry.register(collector)
    assert generate_latest(registry) == b""  # nothing measured yet: nothing exported
    collector.refresh()
    return generate_latest(registry).decode()


def test_a_measurement_becomes_labelled_series():
    text = _exposition(
        Snapshot(
            at=dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC),
            files={
                ("custodia_alfa", "received"): 3,
                ("custodia_alfa", "landed"): 2,
                ("custodia_alfa", "quarantined"): 1,
            },
            rows={"lake.receivable_positions": 120},
            since_delivery={("custodia_alfa", "11111111000111"): 42.5},
            lake_to_marts={"11111111000111": 1},
            orphans={"lake.receivable_positions": 4},
            hot_window_months=13,
            runs_failed=2,
            sources_up={"lake": True, "postgresql": False},
        )
    )
    assert 'fidc_files_received_total{custodian="custodia_alfa"} 3.0' in text
    assert 'fidc_files_landed_total{custodian="custodia_alfa"} 2.0' in text
    assert 'fidc_files_quarantined_total{custodian="custodia_alfa"} 1.0' in text
    assert 'fidc_rows_landed{table="lake.receivable_positions"} 120.0' in text
    assert 'fidc_seconds_since_last_delivery{custodian="custodia_alfa",fund="11111111000111"} 42.5' in text
    assert 'fidc_lag_lake_to_marts_days{fund="11111111000111"} 1.0' in text
    assert 'fidc_iceberg_orphan_files{table="lake.receivable_positions"} 4.0' in text
    assert "fidc_hot_window_months 13.0" in text and "fidc_dagster_runs_failed 2.0" in text
    assert 'fidc_metrics_source_up{source="postgresql"} 0.0' in text
    assert "fidc_metrics_last_refresh_timestamp_seconds 1.7198352e+09" in text


def test_failed_runs_are_left_out_when_not_measured():
    text = _exposition(Snapshot(at=dt.datetime(2024, 7, 1, tzinfo=dt.UTC), sources_up={"lake": False}))
    assert "fidc_dagster_runs_failed" not in text and "fidc_hot_window_months" not in text
    assert 'fidc_metrics_source_up{source="lake"} 0.0' in text
