"""(Collected as part of test_marts, which imports these tests: they run on its module's sample, built once.)

The shadow run end to end on the marts' sample (3 funds, 2024-07-25 .. 2024-08-05, already landed from the
custodian files and built into the marts): the legacy's shadow period for the same funds and the sample's
last three days (`fidc-lake sample shadow`'s generator, cutover 2024-08-01, three seeded differences) is
migrated by the Dagster asset `legacy/migration` (its blocking recon check passing); then the custodian files
of those days land again (`ingest_files`, which must leave the legacy's rows alone) and `hot_and_marts`
rebuilds those days with both sources in the lake. The shadow check and `fidc-lake history shadow` report
exactly the seeded differences; the marts of those days equal the custodian files' figures only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.integration

SHADOW_DAYS = 3
SHADOW_DATABASE = "legacy_shadow_marts"
MEASURES = ("rows", "nominal", "present", "pdd", "pl")
SHADOW_CHECK = "shadow_legacy_vs_custodian"


def _shadow_params(manifest):
    from fidc_assets.sample.legacy_shadow import ShadowParams

    p = manifest.parameters
    return ShadowParams(p["seed"], p["funds"], p["days"], dt.date.fromisoformat(p["start"]),
                        p["receivables_per_fund"], p["bad_row_rate"], shadow_days=SHADOW_DAYS)  # fmt: skip


def _mart(env, first: dt.date) -> list[tuple]:
    return env.query("select * from marts.mart_fund_daily where reference_date >= %s order by 1, 2", [first])


@pytest.fixture(scope="module")
def shadow_env(marts_env):
    """The shadow legacy migrated (Dagster asset and check) and the shadow days rebuilt (`hot_and_marts`);
    afterwards the legacy's month is rolled back, so the module's lake holds the custodian files only again."""
    import dagster as dg

    from fidc_assets.defs.legacy import definitions as legacy_definitions
    from fidc_assets.defs.legacy.assets import LegacyResource
    from fidc_assets.defs.resources import LakehouseResource
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.legacy.rollback import rollback_month
    from fidc_assets.pipeline import run_days
    from fidc_assets.sample.legacy_shadow import generate_shadow_legacy
    from fidc_assets.settings import Settings

    report = generate_shadow_legacy(marts_env.dsn, _shadow_params(marts_env.manifest), database=SHADOW_DATABASE)
    before = _mart(marts_env, report.cutover)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIDC_HOME", str(marts_env.home))
        mp.setenv("FIDC_PG_DSN", marts_env.dsn)
        mp.setenv("FIDC_LEGACY_DSN", report.dsn)
        mp.setenv("FIDC_LEGACY_CUTOVER", report.cutover.isoformat())
        legacy = legacy_definitions()
        migrated = dg.materialize(
            [*(legacy.assets or []), *(legacy.asset_checks or [])],  # type: ignore[list-item]
            partition_key=report.cutover.replace(day=1).isoformat(),
            instance=marts_env.instance,
            resources={"lakehouse": LakehouseResource(), "legacy": LegacyResource()},
        )
        # then the custodian files of those days land again (the ingestion run, every delivery rewritten, as when
        # files keep arriving during the shadow period) and the days' hot load and marts are rebuilt
        days_run = run_days(list(report.days), instance=marts_env.instance)
        assert days_run.marts is not None
        relanded, rebuilt = days_run.ingest, days_run.marts
        settings = Settings.from_env()
        lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
        try:
            yield ShadowRun(marts_env, report, migrated, relanded, rebuilt, before, lake)
        finally:
            rollback_month(lake, report.cutover.replace(day=1), log_dsn=marts_env.dsn)
            with psycopg.connect(marts_env.dsn, autocommit=True) as conn:
                conn.execute(f"drop database if exists {SHADOW_DATABASE} with (force)")


@dataclass
class ShadowRun:
    env: Any
    report: Any  # sample.legacy_shadow.ShadowReport
    migrated: Any  # the legacy/migration run's result
    relanded: Any  # the ingest_files run's result (the custodian files of the shadow days, landed again)
    rebuilt: Any  # the hot_and_marts run's result
    marts_before: list[tuple]
    lake: Any


def _expected(report) -> dict[tuple[str, dt.date], dict[str, int | Decimal]]:
    """The seeded differences by fund-day: every measure they change (legacy − custodian files)."""
    out: dict[tuple[str, dt.date], dict[str, int | Decimal]] = {}
    for d in report.differences:
        changes = {m: getattr(d, f"diff_{m}") for m in MEASURES}
        out.setdefault((d.fund_cnpj, d.reference_date), {}).update({m: v for m, v in changes.items() if v != 0})
    return out


def test_the_shadow_days_are_in_the_lake_from_both_sources_and_the_migration_reconciles(shadow_env):
    import pyarrow as pa
    import pyarrow.compute as pc

    from fidc_assets.lib.core.canonical import ACQUISITIONS, FUND_QUOTAS, RECEIVABLE_POSITIONS, SETTLEMENTS

    run = shadow_env
    assert run.migrated.success and run.relanded.success
    [recon] = run.migrated.get_asset_check_evaluations()
    # legacy = lake to the centavo; the marts after the cutover hold the custodian files, which it leaves alone
    assert recon.passed and recon.metadata["unexplained"].value == 0 and recon.metadata["explained"].value == 0
    # every migrated row is still there after the custodian files landed again (their slices are theirs only)
    [materialization] = run.migrated.get_asset_materialization_events()
    landed = materialization.materialization.metadata["rows_landed"].value
    legacy_rows = sum(
        run.lake.read(e, None, ("source",))["source"].to_pylist().count("legacy")
        for e in (RECEIVABLE_POSITIONS, FUND_QUOTAS, ACQUISITIONS, SETTLEMENTS)
    )
    assert legacy_rows == landed == sum(run.report.rows.values())
    funds = {f.cnpj for f in run.env.manifest.funds}
    for entity in (RECEIVABLE_POSITIONS, FUND_QUOTAS):
        rows = run.lake.read(entity, None, ("fund_cnpj", "reference_date", "source"))
        rows = rows.filter(pc.is_in(rows["reference_date"], value_set=pa.array(run.report.days, pa.date32())))
        got = {(r["fund_cnpj"], r["reference_date"], r["source"]) for r in rows.to_pylist()}
        assert got == {(f, d, s) for f in funds for d in run.report.days for s in ("legacy", "custodian_file")}
    assert [d.kind for d in sorted(run.report.differences, key=lambda d: d.kind)] == [
        "missing_row", "stale_pl", "unaccrued_value",
    ]  # fmt: skip


def test_the_shadow_check_reports_exactly_the_seeded_differences_as_a_warning(shadow_env):
    import dagster as dg

    run = shadow_env
    assert run.rebuilt.success  # a warning, not a blocker
    [check] = [e for e in run.rebuilt.get_asset_check_evaluations() if e.asset_check_key.name == SHADOW_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    funds = len(run.env.manifest.funds)
    assert check.metadata["fund_days_in_both"].value == funds * SHADOW_DAYS
    got = {
        (r["fund_cnpj"], dt.date.fromisoformat(r["reference_date"])): {
            m: (int(v) if m == "rows" else Decimal(v)) for m, v in r.items() if m in MEASURES
        }
        for r in check.metadata["per_fund_day"].value
    }
    assert got == _expected(run.report)
    assert {r["counted"] for r in check.metadata["per_fund_day"].value} == {"custodian_file"}
    assert check.metadata["fund_days_differing"].value == len(got)


def test_history_shadow_prints_the_same_differences(shadow_env, capsys):
    from fidc_assets.cli import main

    run = shadow_env
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIDC_HOME", str(run.env.home))
        mp.setenv("FIDC_PG_DSN", run.env.dsn)
        mp.setenv("FIDC_LEGACY_DSN", run.report.dsn)
        mp.setenv("FIDC_LEGACY_CUTOVER", run.report.cutover.isoformat())
        assert main(["history", "shadow"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = _expected(run.report)
    funds = len(run.env.manifest.funds)
    assert lines[0] == (
        f"cutover {run.report.cutover}; from {run.report.cutover}: {funds * SHADOW_DAYS} fund-days in both sources, "
        f"{len(expected)} differ (legacy − custodian files)"
    )
    listed = {tuple(line.split()[:2]) for line in lines[1:]}
    assert listed == {(f, str(d)) for f, d in expected}
    assert all("counted custodian_file" in line for line in lines[1:])


def test_the_marts_of_the_shadow_days_equal_the_custodian_files_only(shadow_env):
    from tests.integration.marts_reference import accepted_records, fund_day_metrics

    run = shadow_env
    # rebuilt with both sources in the lake, the marts did not change: not the legacy's, not the sum of both
    assert _mart(run.env, run.report.cutover) == run.marts_before
    p = run.env.manifest.parameters
    reference = fund_day_metrics(accepted_records(p["seed"], p["funds"], p["days"], dt.date.fromisoformat(p["start"]),
                                                  p["receivables_per_fund"]))  # fmt: skip
    got = {
        (r[0], r[1]): r[2:]
        for r in run.env.query(
            "select fund_cnpj, reference_date, receivable_count, nominal_value, present_value, pdd_value, pl "
            "from marts.mart_fund_daily where reference_date >= %s",
            [run.report.cutover],
        )
    }
    assert set(got) == {k for k in reference if k[1] >= run.report.cutover}
    for key, row in got.items():
        want = reference[key]
        assert row == (want["receivable_count"], want["nominal_value"], want["present_value"], want["pdd_value"],
                       want["pl"]), key  # fmt: skip
    landing = run.env.query(
        "select source, count(*) from landing.receivable_positions where reference_date >= %s group by 1",
        [run.report.cutover],
    )
    custodian_rows = sum(want["receivable_count"] for k, want in reference.items() if k[1] >= run.report.cutover)
    assert landing == [("custodian_file", custodian_rows)]
