"""(Collected as part of test_marts, which imports these tests: they run on its module's sample, built once.)

The CVM Informe Mensal end to end on the marts' sample (3 funds, 2024-07-25 .. 2024-08-05, three tenants):
the sample's publications dropped in FIDC_CVM_INBOX, landed and reconciled by the `cvm_monthly` job, every
seeded discrepancy found with its status and nothing else flagged, a re-publication replacing the first,
the blocking PL check, and each tenant reading only its funds' regulatory rows."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.integration

JULY, AUGUST = dt.date(2024, 7, 1), dt.date(2024, 8, 1)


def _run_month(env, month: dt.date):
    from fidc_assets.definitions import defs

    job = defs().resolve_job_def("cvm_monthly")
    return job.execute_in_process(partition_key=month.isoformat(), instance=env.instance, raise_on_error=False)


def _pl_check(result) -> bool:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "no_unexplained_pl"]
    return evaluation.passed


def _rows(env, month: dt.date) -> dict[tuple[str, str], tuple[str, str]]:
    with psycopg.connect(env.dsn) as conn:
        got = conn.execute(
            "select fund_cnpj, figure, status, reason from marts.mart_fund_regulatory where reference_month = %s",
            [month],
        ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in got}


def _flagged(rows: dict) -> dict[tuple[str, str], str]:
    return {k: v[0] for k, v in rows.items() if v[0] in ("published_data_defect", "unexplained")}


@pytest.fixture(scope="module")
def cvm_env(marts_env, tmp_path_factory):
    """Publications copied to a CVM inbox in two steps: the first publication of every month, then the
    re-publication. Yields (env, inbox, results of the first step by month)."""
    inbox = tmp_path_factory.mktemp("cvm_inbox")
    cvm_dir = marts_env.manifest.cvm_dir
    files = sorted(marts_env.manifest.cvm_files)
    first = {}
    for rel in files:
        month = dt.date(int(rel[-10:-6]), int(rel[-6:-4]), 1)
        first.setdefault(month, rel)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIDC_HOME", str(marts_env.home))
        mp.setenv("FIDC_PG_DSN", marts_env.dsn)
        mp.setenv("FIDC_CVM_INBOX", str(inbox))
        for rel in first.values():
            (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cvm_dir / rel, inbox / rel)
        july_first = _run_month(marts_env, JULY)
        step_one = {"result": july_first, "rows": _rows(marts_env, JULY)}
        for rel in files:
            (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cvm_dir / rel, inbox / rel)
        results = {m: _run_month(marts_env, m) for m in (JULY, AUGUST)}
        yield marts_env, inbox, step_one, results


def _expected(truth_dir: Path) -> list[dict[str, str]]:
    with (truth_dir / "cvm_discrepancies.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_seeded_discrepancy_is_found_and_nothing_else_is_flagged(cvm_env):
    env, _, _, results = cvm_env
    # the blocking check stops July's run (fund a's PL is unexplained) after the mart is written; August passes
    assert results[AUGUST].success
    assert not results[JULY].success
    seeded = _expected(env.manifest.truth_dir)
    expected = {
        (s["fund_cnpj"], s["figure"]): s["expected_status"]
        for s in seeded
        if s["expected_status"] != "handled" and s["reference_month"] == JULY.isoformat()
    }
    july = _rows(env, JULY)
    assert _flagged(july) == expected
    explained = {k: v for k, v in july.items() if v[0] == "explained"}
    assert all(figure.startswith("overdue_") and reason.startswith("installments_vs_present_value")
               for (_, figure), (_, reason) in explained.items())  # fmt: skip
    funds = {f.cnpj for f in env.manifest.funds}
    assert {k[0] for k in july} == funds  # every fund of the marts, the missing one included
    august = _rows(env, AUGUST)
    assert _flagged(august) == {}  # August: every fund reported, nothing seeded
    assert {k[0] for k in august} == funds
    # the blocking check: July has an unexplained PL (fund a), August none
    assert _pl_check(results[JULY]) is False
    assert _pl_check(results[AUGUST]) is True


def test_a_republished_month_replaces_the_first_publication(cvm_env):
    from fidc_assets.lib.lake.archive import sha256_file
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.regulatory.landing import months_filter
    from fidc_assets.lib.regulatory.spec import load_cvm_spec
    from fidc_assets.lib.regulatory.tables import PUBLICATIONS, tab_entity
    from fidc_assets.settings import Settings

    env, inbox, step_one, _ = cvm_env
    republished = next(s["fund_cnpj"] for s in _expected(env.manifest.truth_dir) if s["kind"] == "republished")
    # with the first publication alone, fund b's PDD was missing from the report: unexplained
    assert step_one["rows"][(republished, "pdd")][0] == "unexplained"
    settings = Settings.from_env({"FIDC_HOME": str(env.home), "FIDC_PG_DSN": env.dsn})
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    spec = load_cvm_spec(settings.config.cvm_spec_file)

    second = sorted(inbox.glob("*/inf_mensal_fidc_202407.zip"))[-1]
    for tab in ("I", "IV", "X_2"):
        shas = set(lake.read(tab_entity(spec, tab), months_filter([JULY])).column("source_zip_sha256").to_pylist())
        assert shas == {sha256_file(second)}, tab
    tab_iv = lake.read(tab_entity(spec, "IV"), months_filter([JULY])).to_pylist()
    # the Fundo/Classe duplicate kept once, the missing fund absent: one row per reporting fund
    assert len(tab_iv) == len(env.manifest.funds) - 1
    publications = lake.read(PUBLICATIONS).to_pylist()
    assert {p["sha256"] for p in publications if p["months_landed"] == "2024-07"} >= {sha256_file(second)}
    assert len({p["sha256"] for p in publications if p["months_landed"] == "2024-07"}) == 2


def test_a_tenant_sees_only_its_funds_regulatory_rows(cvm_env, tenant_login):
    from fidc_assets.lib.core.funds import load_fund_registry

    env, _, _, _ = cvm_env
    registry = load_fund_registry(env.home / "funds.yaml")
    for manager in registry.managers:
        own = {f.cnpj for f in registry.funds if f.manager == manager.id}
        with tenant_login(env, f"fidc_tenant_{manager.id}") as conn:
            seen = {r[0] for r in conn.execute("select distinct fund_cnpj from marts.mart_fund_regulatory").fetchall()}
            assert seen == own, manager.id
            # BI roles are read-only: the session refuses the write before the grants would
            with pytest.raises((psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
                conn.execute("delete from marts.mart_fund_regulatory")
