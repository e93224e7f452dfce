"""End to end on the embedded defaults: custodian files → Iceberg → PostgreSQL landing → dbt marts.

The expected numbers come from the sample generator's ground truth, never from the SQL under test.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to, is_in
from fidc_assets.pipeline import run_days
from fidc_assets.sample.truth import read_expected_quarantine, read_truth
from tests.db import scalar

pytestmark = pytest.mark.integration


def _lake(lakehouse) -> Lake:
    return Lake(lakehouse.settings.iceberg_catalog_uri, lakehouse.settings.warehouse)


def _mart(dsn: str) -> dict[tuple[str, dt.date], tuple[int, Decimal, Decimal]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select fund_cnpj, reference_date, receivable_count, nominal_value, present_value "
            "from marts.mart_fund_daily"
        ).fetchall()
    return {(f, d): (n, nom, pv) for f, d, n, nom, pv in rows}


def _truth_view(sample) -> dict[tuple[str, dt.date], tuple[int, Decimal, Decimal]]:
    return {k: t.totals for k, t in read_truth(sample.truth_dir).items()}


def test_first_run_succeeds_with_all_checks_passing(first_run):
    assert first_run.success
    evaluations = first_run.get_asset_check_evaluations()
    assert evaluations, "no asset check ran"
    assert [e.asset_check_key.name for e in evaluations if not e.passed] == []
    names = {e.asset_check_key.name for e in evaluations}
    assert "gx_receivable_positions_canonical" in names
    assert any(n.startswith("unique_combination_mart_fund_daily") for n in names)


def test_mart_equals_ground_truth_to_the_centavo(first_run, lakehouse, sample):
    assert _mart(lakehouse.dsn) == _truth_view(sample)


def test_bad_rows_are_quarantined_with_file_line_and_reason(first_run, lakehouse, sample):
    quarantine = _lake(lakehouse).read(canonical.QUARANTINE).to_pylist()
    got = {(q["file_name"], q["line_number"], q["reason_code"]) for q in quarantine}
    expected = {(e.file_name, e.line_number, e.reason_code) for e in read_expected_quarantine(sample.truth_dir)}
    assert expected, "the sample should contain corrupted rows"
    assert got == expected
    for q in quarantine:
        assert q["raw_text"] and q["message"] and len(q["source_file_sha256"]) == 64


def test_raw_files_are_archived_byte_for_byte(first_run, lakehouse, sample):
    from fidc_assets.lib.lake.archive import read_archived

    registry = _lake(lakehouse).read(canonical.FILE_REGISTRY).to_pylist()
    by_name = {r["original_name"]: r for r in registry}
    for name in sample.files:
        original = (sample.inbox_dir / name).read_bytes()
        assert read_archived(by_name[name]["archive_uri"]) == original


def test_rematerializing_a_partition_leaves_the_same_rows(first_run, lakehouse, sample, instance):
    day = sample.days[2]
    lake = _lake(lakehouse)
    before_lake = lake.read(canonical.RECEIVABLE_POSITIONS, equal_to("reference_date", day)).num_rows
    before_mart = _mart(lakehouse.dsn)
    before_registry = lake.read(canonical.FILE_REGISTRY).num_rows

    result = run_days([day], instance=instance)

    assert result.success
    assert lake.read(canonical.RECEIVABLE_POSITIONS, equal_to("reference_date", day)).num_rows == before_lake
    assert lake.read(canonical.FILE_REGISTRY).num_rows == before_registry
    assert _mart(lakehouse.dsn) == before_mart
    with psycopg.connect(lakehouse.dsn) as conn:
        landing = scalar(conn, "select count(*) from landing.receivable_positions where reference_date = %s", [day])
    assert landing == before_lake


def _write_corrected(original: Path, inbox: Path, drop_line: int, bump_line: int) -> tuple[Path, Decimal, Decimal]:
    """A custodian's corrected file: one row removed, one nominal value raised by R$ 100,00."""
    lines = original.read_bytes().decode("latin-1").split("\r\n")
    header = lines[0].split(";")
    col_nominal = header.index("VALOR_NOMINAL")
    fields = lines[bump_line - 1].split(";")
    old = Decimal(fields[col_nominal].replace(",", "."))
    fields[col_nominal] = f"{old + Decimal('100.00'):.2f}".replace(".", ",")
    lines[bump_line - 1] = ";".join(fields)
    dropped = lines[drop_line - 1].split(";")
    dropped_nominal = Decimal(dropped[col_nominal].replace(",", "."))
    dropped_pv = Decimal(dropped[header.index("VALOR_PRESENTE")].replace(",", "."))
    del lines[drop_line - 1]
    corrected = inbox / original.name.replace(".csv", "_R1.csv")
    corrected.write_bytes("\r\n".join(lines).encode("latin-1"))
    later = time.time() + 60
    os.utime(corrected, (later, later))
    return corrected, Decimal("100.00") - dropped_nominal, -dropped_pv


def test_corrected_redelivery_replaces_exactly_that_fund_day(first_run, lakehouse, sample, instance):
    expected = _truth_view(sample)
    bad_lines = {(e.file_name, e.line_number) for e in read_expected_quarantine(sample.truth_dir)}
    day = sample.days[3]
    fund = sample.funds[0].cnpj
    name = f"ESTOQUE_{fund}_{day:%Y%m%d}.csv"
    good = [n for n in range(2, 12) if (name, n) not in bad_lines]
    corrected, d_nominal, d_pv = _write_corrected(
        sample.inbox_dir / name, Path(lakehouse.settings.inbox), drop_line=good[0], bump_line=good[1]
    )

    result = run_days([day], instance=instance)

    assert result.success
    count, nominal, pv = expected[(fund, day)]
    expected[(fund, day)] = (count - 1, nominal + d_nominal, pv + d_pv)
    assert _mart(lakehouse.dsn) == expected
    registry = {r["original_name"]: r for r in _lake(lakehouse).read(canonical.FILE_REGISTRY).to_pylist()}
    assert registry[name]["status"] == "superseded"
    assert registry[corrected.name]["status"] == "accepted"
    rows = _lake(lakehouse).read(canonical.RECEIVABLE_POSITIONS, equal_to("reference_date", day)).to_pylist()
    shas = {r["source_file_sha256"] for r in rows if r["fund_cnpj"] == fund}
    assert shas == {registry[corrected.name]["sha256"]}


def test_unusable_file_is_quarantined_and_previous_data_kept(first_run, lakehouse, sample, instance):
    day = sample.days[4]
    fund = sample.funds[1].cnpj
    before = _mart(lakehouse.dsn)[(fund, day)]
    broken = Path(lakehouse.settings.inbox) / f"ESTOQUE_{fund}_{day:%Y%m%d}_R2.csv"
    broken.write_bytes("NOME_FUNDO;DOC_FUNDO\r\nFundo;123\r\n".encode("latin-1"))
    later = time.time() + 120
    os.utime(broken, (later, later))

    result = run_days([day], instance=instance)

    assert result.success
    assert _mart(lakehouse.dsn)[(fund, day)] == before
    lake = _lake(lakehouse)
    reg = [r for r in lake.read(canonical.FILE_REGISTRY).to_pylist() if r["original_name"] == broken.name]
    assert reg and reg[0]["status"] == "quarantined"
    assert "VALOR_NOMINAL" in reg[0]["error"]
    q = lake.read(canonical.QUARANTINE, equal_to("source_file_sha256", reg[0]["sha256"])).to_pylist()
    assert [(x["line_number"], x["reason_code"]) for x in q] == [(None, "missing_columns")]
    rows = lake.read(canonical.RECEIVABLE_POSITIONS, is_in("source_file_sha256", [reg[0]["sha256"]]))
    assert rows.num_rows == 0


def test_external_pg_dsn_is_used_instead_of_the_embedded_server(first_run, lakehouse, sample, instance, monkeypatch):
    from fidc_assets.lib.hot.embedded import EmbeddedPostgres
    from tests.conftest import traversable_tmp_dir

    other_root = traversable_tmp_dir("fidc-test-external-pg-")
    other = EmbeddedPostgres(other_root / "pg", database="external_fidc")
    try:
        external_dsn = other.start()
        monkeypatch.setenv("FIDC_PG_DSN", external_dsn)
        day = sample.days[0]
        result = run_days([day], instance=instance)
        assert result.success
        expected = {k: v for k, v in _truth_view(sample).items() if k[1] == day}
        assert _mart(external_dsn) == expected
    finally:
        other.stop()
        import shutil

        shutil.rmtree(other_root, ignore_errors=True)


def test_the_inbox_sensor_starts_the_run_that_lands_a_new_file(first_run, lakehouse, sample, instance):
    """Sensor → run request → `ingest_files` job for that day: the new file is in the lake afterwards."""
    import dagster as dg

    from fidc_assets.definitions import defs
    from fidc_assets.defs.resources import LakehouseResource

    definitions = defs()
    sensor = definitions.get_sensor_def("inbox_sensor")
    with dg.build_sensor_context(resources={"lakehouse": LakehouseResource()}, instance=instance) as ctx:
        baseline = sensor(ctx)  # first tick: every sample file is already in the lake, so no run
    assert isinstance(baseline, dg.SensorResult)
    assert not baseline.run_requests

    day = sample.days[1]
    fund = sample.funds[0].cnpj
    name = f"ESTOQUE_{fund}_{day:%Y%m%d}.csv"
    corrected, _, _ = _write_corrected(
        sample.inbox_dir / name, Path(lakehouse.settings.inbox), drop_line=2, bump_line=3
    )
    corrected_name = corrected.name.replace("_R1.csv", "_R9.csv")
    corrected.rename(corrected.with_name(corrected_name))
    with dg.build_sensor_context(
        cursor=baseline.cursor, resources={"lakehouse": LakehouseResource()}, instance=instance
    ) as ctx:
        tick = sensor(ctx)
    assert isinstance(tick, dg.SensorResult) and tick.run_requests is not None
    [request] = tick.run_requests
    assert request.partition_key == f"{day.isoformat()}|{fund}" and request.tags["fidc/files"] == corrected_name
    sha = request.tags["fidc/sha256s"]  # one file in this fund-day's run

    job = definitions.get_job_def("ingest_files")
    result = job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags)

    assert result.success
    registry = {r["original_name"]: r for r in _lake(lakehouse).read(canonical.FILE_REGISTRY).to_pylist()}
    assert registry[corrected_name]["status"] == "accepted"
    assert registry[corrected_name]["sha256"] == sha
    rows = _lake(lakehouse).read(canonical.RECEIVABLE_POSITIONS, equal_to("reference_date", day)).to_pylist()
    assert {r["source_file_sha256"] for r in rows if r["fund_cnpj"] == fund} == {sha}
