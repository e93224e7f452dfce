"""The legacy migration end to end on a small generated legacy (2 funds x 3 months + 5 shadow days): real
embedded PostgreSQL, real Iceberg, real Great Expectations."""

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fidc_assets.lib.core.canonical import ACQUISITIONS, FUND_QUOTAS, QUARANTINE, RECEIVABLE_POSITIONS, SETTLEMENTS
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.history import as_of
from fidc_assets.lib.lake.maintenance import expire_snapshots
from fidc_assets.lib.legacy.ledger import clear_log, done_months
from fidc_assets.lib.legacy.mapping import DEFAULT_SPEC, default_spec, load_legacy_spec
from fidc_assets.lib.legacy.migration import legacy_months, migrate_month, migrate_months
from fidc_assets.lib.legacy.recon import recon_months
from fidc_assets.lib.legacy.rollback import rollback_month
from fidc_assets.sample.legacy import LegacyParams, generate_legacy, read_defects
from fidc_assets.settings import GX_ROOT_DIR
from tests.conftest import traversable_tmp_dir
from tests.db import scalar

PARAMS = LegacyParams(seed=5, funds=2, months=3, shadow_days=5, receivables_per_fund=60)
ENTITIES = (RECEIVABLE_POSITIONS, ACQUISITIONS, SETTLEMENTS, FUND_QUOTAS)


@pytest.fixture(scope="module")
def legacy(lakehouse) -> str:
    return generate_legacy(lakehouse.dsn, PARAMS, database="legacy_it").dsn


@pytest.fixture
def lake(lakehouse) -> Lake:
    clear_log(lakehouse.dsn)
    return Lake.local(traversable_tmp_dir("fidc-legacy-lake-"))


def _legacy_counts(legacy: str) -> dict[str, int]:
    with psycopg.connect(legacy) as conn:
        return {
            "receivable_positions": scalar(conn, "select count(*) from tb_carteira"),
            "acquisitions": scalar(conn, "select count(*) from tb_movimento where cd_tipo_mov = 'AQ'"),
            "settlements": scalar(conn, "select count(*) from tb_movimento where cd_tipo_mov <> 'AQ'"),
            "fund_quotas": scalar(conn, "select count(*) from tb_cota"),
        }


def _assert_lake_complete(lake: Lake, legacy: str) -> None:
    """Every legacy row is in the lake exactly once, or in the quarantine with its defect."""
    quarantined = Counter(lake.read(QUARANTINE)["entity"].to_pylist())
    for entity, expected in _legacy_counts(legacy).items():
        rows = lake.read(entity)
        assert rows.num_rows + quarantined.get(entity, 0) == expected, entity
        keys = rows.select(list(ENTITIES[[e.name for e in ENTITIES].index(entity)].key))
        assert keys.group_by(keys.column_names).aggregate([]).num_rows == rows.num_rows, f"{entity}: duplicate keys"
        assert pc.unique(rows["source"]).to_pylist() in ([], ["legacy"])


def test_recon_finds_exactly_the_documented_defects_and_nothing_else(lakehouse, legacy, lake):
    months = legacy_months(legacy)
    assert months == [dt.date(2019, m, 1) for m in (1, 2, 3, 4)]  # April: the shadow days
    migrate_months(lake, legacy, lakehouse.dsn, months)
    _assert_lake_complete(lake, legacy)

    rows, result = recon_months(lake, legacy, lakehouse.dsn, months, gx_root=GX_ROOT_DIR)
    defects = read_defects(legacy)
    assert {d.kind for d in defects} == {"duplicate_row", "no_cedente", "wrong_pl"}
    flagged = {(r["fund_cnpj"], r["reference_date"]) for r in rows if r["status"] != "match"}
    assert flagged == {(d.fund_cnpj, d.reference_date) for d in defects}
    assert {r["status"] for r in rows} == {"match", "explained"}
    assert result.success and not result.failed_expectations
    for r in rows:
        if r["status"] == "match":  # to the centavo
            assert (r["diff_rows"], r["diff_nominal"], r["diff_present"], r["diff_pdd"], r["diff_pl"]) == (
                0,
                0,
                0,
                0,
                0,
            )
        else:
            assert r["reason"] and set(r["defects"].split(",")) <= {"duplicate_row", "no_cedente", "wrong_pl"}
    # the rows the lake lacks are in the quarantine, with the legacy id as line
    q = lake.read(QUARANTINE).to_pylist()
    assert sorted((r["reason_code"], r["line_number"]) for r in q) == sorted(
        ("duplicate_key" if d.kind == "duplicate_row" else "missing_required", d.legacy_row_id)
        for d in defects
        if d.legacy_row_id is not None
    )
    with psycopg.connect(lakehouse.dsn) as conn:
        stored = dict(conn.execute("select status, count(*) from recon.recon_legacy_vs_lake group by 1").fetchall())
    assert stored == result.by_status
    assert result.data_docs and Path(result.data_docs.removeprefix("file://")).is_file()


def test_a_backfill_stopped_midway_resumes_with_no_duplicate_and_no_missing_row(lakehouse, legacy, lake):
    months = legacy_months(legacy)

    class Crash(RuntimeError):
        pass

    def crash_in_february(month: dt.date, entity: str) -> None:
        if month == dt.date(2019, 2, 1) and entity == "settlements":  # after 3 of February's 4 commits
            raise Crash(f"killed after {month:%Y-%m} {entity}")

    with pytest.raises(Crash):
        migrate_months(lake, legacy, lakehouse.dsn, months, run_id="first", after_commit=crash_in_february)
    assert done_months(lakehouse.dsn) == {dt.date(2019, 1, 1)}
    february_quotas = lake.read(FUND_QUOTAS).filter(
        pc.equal(pc.month(lake.read(FUND_QUOTAS)["reference_date"]), pa.scalar(2))
    )
    assert february_quotas.num_rows == 0  # the month is half written

    resumed = migrate_months(lake, legacy, lakehouse.dsn, months, run_id="second")
    assert [o.month for o in resumed] == months[1:]
    assert done_months(lakehouse.dsn) == set(months)
    _assert_lake_complete(lake, legacy)
    rows, result = recon_months(lake, legacy, lakehouse.dsn, months, data_docs=False, gx_root=GX_ROOT_DIR)
    assert result.success and result.by_status.get("unexplained", 0) == 0
    # resuming again has nothing left to do
    assert migrate_months(lake, legacy, lakehouse.dsn, months) == []


def test_rolling_a_month_back_restores_its_previous_snapshot_and_the_checks_follow(lakehouse, legacy, lake, tmp_path):
    months = legacy_months(legacy)
    migrate_months(lake, legacy, lakehouse.dsn, months, run_id="good")
    feb, mar = dt.date(2019, 2, 1), dt.date(2019, 3, 1)
    good_feb = lake.read(RECEIVABLE_POSITIONS).filter(
        pc.equal(pc.month(lake.read(RECEIVABLE_POSITIONS)["reference_date"]), pa.scalar(2))
    )
    before_bad = dt.datetime.now(dt.UTC)

    # a bad run: a mapping mistake takes the present value from the nominal column
    bad_text = DEFAULT_SPEC.read_text(encoding="utf-8").replace(
        "present_value: {column: vl_presente_cent, parse: centavos}",
        "present_value: {column: vl_nominal_cent, parse: centavos}",
    )
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text(bad_text, encoding="utf-8")
    migrate_month(lake, legacy, feb, "bad", load_legacy_spec(bad_path), log_dsn=lakehouse.dsn)
    _, result = recon_months(lake, legacy, lakehouse.dsn, [feb], data_docs=False, gx_root=GX_ROOT_DIR)
    assert not result.success and result.by_status["unexplained"] > 0

    # time travel: the lake as of before the bad run still had the good February
    (positions_then, *_) = as_of(lake, before_bad)
    assert positions_then.run_id == "good"
    assert positions_then.rows_by_source_month[("legacy", "2019-02")] == good_feb.num_rows

    # the nightly snapshot expiry ran in between, keeping nothing but tagged snapshots: rollback still works
    expired = expire_snapshots(lake, dt.timedelta(0), now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert any(e.after < e.before for e in expired)

    undone = rollback_month(lake, feb, log_dsn=lakehouse.dsn)
    assert {u.run_id for u in undone} == {"bad"} and len(undone) == 5  # four entities and the quarantine
    restored = lake.read(RECEIVABLE_POSITIONS).filter(
        pc.equal(pc.month(lake.read(RECEIVABLE_POSITIONS)["reference_date"]), pa.scalar(2))
    )
    assert (
        restored.sort_by("source_line")
        .select(["source_line", "present_value"])
        .equals(good_feb.sort_by("source_line").select(["source_line", "present_value"]))
    )
    _, result = recon_months(lake, legacy, lakehouse.dsn, [feb], data_docs=False, gx_root=GX_ROOT_DIR)
    assert result.success

    # rolling back the only migration of a month empties it: the check fails, and the month is pending again
    rollback_month(lake, mar, log_dsn=lakehouse.dsn)
    assert (
        lake.read(RECEIVABLE_POSITIONS)
        .filter(pc.equal(pc.month(lake.read(RECEIVABLE_POSITIONS)["reference_date"]), pa.scalar(3)))
        .num_rows
        == 0
    )
    rows, result = recon_months(lake, legacy, lakehouse.dsn, [mar], data_docs=False, gx_root=GX_ROOT_DIR)
    assert not result.success and {r["status"] for r in rows} == {"unexplained"}
    assert mar not in done_months(lakehouse.dsn)
    # every migration commit is tagged with its run
    tags = set(lake.table(RECEIVABLE_POSITIONS).refs())
    assert {"legacy-2019-02-receivable_positions-good", "legacy-2019-02-receivable_positions-bad"} <= tags


def test_the_dagster_migration_asset_and_its_blocking_recon_check(lakehouse, legacy, instance):
    import dagster as dg

    from fidc_assets.defs.legacy import definitions
    from fidc_assets.defs.legacy.assets import LegacyResource
    from fidc_assets.defs.resources import LakehouseResource

    clear_log(lakehouse.dsn)
    home = traversable_tmp_dir("fidc-legacy-dagster-")
    lake = Lake.local(home)
    defs = definitions()
    everything = [*(defs.assets or []), *(defs.asset_checks or [])]
    assets = [a for a in everything if isinstance(a, dg.AssetsDefinition | dg.AssetSpec | dg.SourceAsset)]
    assert len(assets) == len(everything)
    result = dg.materialize(
        assets,
        partition_key="2019-01-01",
        instance=instance,
        resources={
            "lakehouse": LakehouseResource(
                catalog_uri=lake.catalog_uri, warehouse=lake.warehouse, pg_dsn=lakehouse.dsn
            ),
            "legacy": LegacyResource(dsn=legacy),
        },
    )
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["unexplained"].value == 0
    fund_days = check.metadata["fund_days"].value
    assert isinstance(fund_days, int) and fund_days > 0
    tags = [t for t in lake.table(RECEIVABLE_POSITIONS).refs() if t.endswith(result.run_id)]
    assert tags == [f"legacy-2019-01-receivable_positions-{result.run_id}"]
    assert dt.date(2019, 1, 1) in done_months(lakehouse.dsn)
    assert default_spec().cutover_date == dt.date(2026, 1, 1)


def test_a_migration_process_killed_with_sigkill_resumes_with_no_duplicate_and_no_missing_row(lakehouse, legacy, lake):
    """The real failure: `fidc-lake history migrate` killed with SIGKILL (no exception handler, no cleanup)
    right after its first month is reported, i.e. while it writes the next one; run again, it completes."""
    import os
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "FIDC_PG_DSN": lakehouse.dsn,
        "FIDC_ICEBERG_CATALOG_URI": lake.catalog_uri,
        "FIDC_WAREHOUSE": lake.warehouse,
        "FIDC_LEGACY_DSN": legacy,
    }
    command = [sys.executable, "-m", "fidc_assets.cli", "history", "migrate"]
    months = legacy_months(legacy)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if line[:7] == f"{months[0]:%Y-%m}":  # the first month is done: the second is being written now
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    killed_with = done_months(lakehouse.dsn)
    assert dt.date(2019, 1, 1) in killed_with and killed_with != set(months)

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(months) - len(killed_with)} to migrate" in resumed.stdout
    assert done_months(lakehouse.dsn) == set(months)
    _assert_lake_complete(lake, legacy)


def test_the_hot_marts_in_the_window_reconcile_with_the_legacy(lakehouse, legacy, dbt_manifest):
    """The migrated history copied to PostgreSQL and built into the marts (the hot load and dbt, by Dagster)
    is compared with the legacy too: every fund-day's mart equals the legacy up to its documented defects;
    a mart figure changed behind the pipeline's back is reported as unexplained."""
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from fidc_assets.definitions import defs

    database = "fidc_legacy_marts_test"
    with psycopg.connect(lakehouse.dsn, autocommit=True) as conn:
        conn.execute(f"drop database if exists {database} with (force)")
        conn.execute(f"create database {database}")
    dsn = lakehouse.dsn.rpartition("/")[0] + f"/{database}"
    home = traversable_tmp_dir("fidc-legacy-marts-")
    lake = Lake.local(home / "lake")
    months = legacy_months(legacy)[:3]  # the history months (the last one is the shadow period's)
    migrate_months(lake, legacy, dsn, months, run_id="window")
    reference_dates = lake.read(RECEIVABLE_POSITIONS)["reference_date"].to_pylist()
    assert None not in reference_dates
    days = sorted({d for d in reference_dates if d is not None})

    with pytest.MonkeyPatch.context() as mp:
        for var in ("FIDC_INBOX", "FIDC_FUNDS"):
            mp.delenv(var, raising=False)
        mp.setenv("FIDC_HOME", str(home))
        mp.setenv("FIDC_PG_DSN", dsn)
        mp.setenv("FIDC_ICEBERG_CATALOG_URI", lake.catalog_uri)
        mp.setenv("FIDC_WAREHOUSE", lake.warehouse)
        tags = {ASSET_PARTITION_RANGE_START_TAG: str(days[0]), ASSET_PARTITION_RANGE_END_TAG: str(days[-1])}
        with dg.DagsterInstance.ephemeral() as instance:
            result = defs().get_job_def("hot_and_marts").execute_in_process(instance=instance, tags=tags)
        assert result.success

    rows, validation = recon_months(
        lake, legacy, dsn, months, window_start=months[0], data_docs=False, gx_root=GX_ROOT_DIR
    )
    assert {r["reference_date"] for r in rows} == set(days)
    assert all(r["mart_rows"] is not None for r in rows)  # every fund-day was compared with the marts too
    assert all(r["mart_residual_rows"] == 0 and r["mart_residual_present"] == 0 for r in rows)
    assert validation.success and validation.by_status.get("unexplained", 0) == 0
    defect_days = {(r["fund_cnpj"], r["reference_date"]) for r in rows if r["status"] == "explained"}
    assert defect_days  # the documented defects are in these months, and explained

    clean = next(r for r in rows if r["status"] == "match")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "update marts.mart_fund_daily set present_value = present_value + 0.05 "
            "where fund_cnpj = %s and reference_date = %s",
            [clean["fund_cnpj"], clean["reference_date"]],
        )
    rows, validation = recon_months(
        lake, legacy, dsn, months, window_start=months[0], data_docs=False, gx_root=GX_ROOT_DIR
    )
    [tampered] = [r for r in rows if r["status"] == "unexplained"]
    assert (tampered["fund_cnpj"], tampered["reference_date"]) == (clean["fund_cnpj"], clean["reference_date"])
    assert tampered["mart_residual_present"] == Decimal("-0.05") and not validation.success
