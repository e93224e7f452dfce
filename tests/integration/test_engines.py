"""DuckDB (extensions loaded from the pip wheels, offline) and Polars read `lake.receivable_positions` on
local disk with the same row count and money sums as pyiceberg, and as the generator's truth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake import engines
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample
from fidc_assets.sample.truth import read_positions_truth

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    manifest = generate_sample(root / "sample", seed=5, funds=2, days=3, receivables_per_fund=200)
    lake = Lake.local(root)
    specs = load_specs(CUSTODIANS_DIR)
    matched, unmatched = scan_inbox(manifest.inbox_dir, specs)
    assert unmatched == []
    receive_files(lake, matched)
    land_slices(lake, specs, manifest.days)
    return manifest, lake


def test_duckdb_and_polars_read_the_same_totals_as_pyiceberg_and_the_truth(landed):
    manifest, lake = landed
    table = lake.table(canonical.RECEIVABLE_POSITIONS)
    reference = engines.pyiceberg_totals(table)
    truth = read_positions_truth(manifest.truth_dir).values()
    assert reference.rows == sum(t.row_count for t in truth) > 0
    assert reference.sums["nominal_value"] == sum((t.nominal_value for t in truth), Decimal("0"))
    assert reference.sums["present_value"] == sum((t.present_value for t in truth), Decimal("0"))
    assert engines.duckdb_totals(table) == reference
    assert engines.polars_totals(table) == reference


def test_duckdb_loads_its_extensions_from_the_wheels_and_never_autoloads(landed):
    _, lake = landed
    paths = engines.duckdb_extension_paths()
    assert set(paths) == {"iceberg", "httpfs", "avro"}
    assert all(p.is_file() and "site-packages" in str(p) for p in paths.values())
    con = engines.duckdb_connect()
    try:
        settings = dict(
            con.sql(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
        loaded = {r[0] for r in con.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
        assert {"iceberg", "httpfs", "avro"} <= loaded
        by_day = con.sql(
            "SELECT reference_date, count(*) FROM iceberg_scan(?) GROUP BY 1 ORDER BY 1",
            params=[lake.table(canonical.RECEIVABLE_POSITIONS).metadata_location],
        ).fetchall()
        assert [d for d, _ in by_day] == sorted(landed[0].days)
    finally:
        con.close()


def test_a_missing_extension_wheel_is_one_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "duckdb_extension_avro" else real(name, *a)
    )
    with pytest.raises(engines.EngineError, match="duckdb-extension-avro wheel is not installed"):
        engines.duckdb_extension_paths()
