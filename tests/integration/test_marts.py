"""The marts against an independent Python reference, their partitioning, and BI access per tenant.

A sample of its own (3 funds, one per manager, over the July/August 2024 month boundary) is landed end to end
in a database of its own on the session's PostgreSQL server, so other modules' re-deliveries never change
what this one compares with.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest

from tests.conftest import traversable_tmp_dir
from tests.db import own_sql, scalar
from tests.integration.marts_reference import RATIO_TOLERANCE, accepted_records, fund_day_metrics

pytestmark = pytest.mark.integration

MARTS_SAMPLE = {"seed": 11, "funds": 3, "days": 8, "start": dt.date(2024, 7, 25), "receivables_per_fund": 250}
DATABASE = "fidc_marts_test"


class MartsEnv:
    def __init__(self, dsn: str, home: Path, manifest, instance) -> None:
        self.dsn = dsn
        self.home = home
        self.manifest = manifest
        self.instance = instance

    @property
    def days(self) -> list[dt.date]:
        return list(self.manifest.days)

    def query(self, sql: LiteralString, params=None) -> list[tuple]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params).fetchall()


def _tenant_password(role: str) -> str:
    return f"pw-{role}-S3nha"


def _dsn_for(dsn: str, database: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="module")
def marts_env(lakehouse, dbt_manifest):
    import dagster as dg

    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.pipeline import adopt_fund_registry, deliver, run_days
    from fidc_assets.sample.generator import generate_sample

    with psycopg.connect(lakehouse.dsn, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DATABASE} with (force)")
        conn.execute(f"create database {DATABASE}")
    dsn = _dsn_for(lakehouse.dsn, DATABASE)
    home = traversable_tmp_dir("fidc-test-marts-")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_INBOX", "FIDC_FUNDS"):
            mp.delenv(var, raising=False)
        mp.setenv("FIDC_HOME", str(home))
        mp.setenv("FIDC_PG_DSN", dsn)
        manifest = generate_sample(home / "sample", **MARTS_SAMPLE)
        deliver([manifest.inbox_dir / f for f in manifest.files], home / "inbox")
        adopt_fund_registry(manifest.out_dir / REGISTRY_FILE_NAME, home / "funds.yaml")
        from fidc_assets.lib.core.funds import load_fund_registry

        for manager in load_fund_registry(home / "funds.yaml").managers:  # logins need a password
            mp.setenv(f"FIDC_BI_PASSWORD_{manager.id.upper()}", _tenant_password(f"fidc_tenant_{manager.id}"))
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_days(list(manifest.days), instance=instance)
            assert result.success
            failed = [e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed]
            assert failed == []
            yield MartsEnv(dsn, home, manifest, instance)


MART_KEY = ("fund_cnpj", "reference_date")


def _mart_rows(env: MartsEnv) -> tuple[list[str], dict[tuple[str, dt.date], dict[str, Any]]]:
    with psycopg.connect(env.dsn) as conn:
        cur = conn.execute("select * from marts.mart_fund_daily")
        assert cur.description is not None
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    return names, {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}


def test_mart_fund_daily_equals_the_python_reference(marts_env):
    params = {k: v for k, v in MARTS_SAMPLE.items()}
    expected = fund_day_metrics(accepted_records(**params))
    names, got = _mart_rows(marts_env)
    assert set(got) == set(expected)
    metrics = [n for n in names if n not in MART_KEY]
    assert set(metrics) == set(next(iter(expected.values()))), "the reference and the mart have other columns"
    mismatches = []
    for key in sorted(expected):
        for name in metrics:
            want, have = expected[key][name], got[key][name]
            if name.endswith("_ratio") and want is not None and have is not None:
                ok = abs(Decimal(have) - want) <= RATIO_TOLERANCE
            else:
                ok = have == want
            if not ok:
                mismatches.append((key, name, want, have))
    assert mismatches == [], mismatches[:20]
    # the sample exercises what the metrics are about
    assert any(r["overdue_over_30_value"] > 0 for r in got.values())
    assert any(r["repurchases_count"] > 0 for r in got.values())
    assert all(r["pl"] is not None for r in got.values())


def test_mart_fund_monthly_takes_month_end_positions_and_sums_flows(marts_env):
    expected_daily = fund_day_metrics(accepted_records(**MARTS_SAMPLE))
    with psycopg.connect(marts_env.dsn) as conn:
        cur = conn.execute("select * from marts.mart_fund_monthly")
        assert cur.description is not None
        names = [d.name for d in cur.description]
        got: dict[tuple[str, dt.date], dict[str, Any]] = {
            (r[0], r[1]): dict(zip(names, r, strict=True)) for r in cur.fetchall()
        }
    months = {(f, d.replace(day=1)) for f, d in expected_daily}
    assert set(got) == months
    for (fund, month), row in got.items():
        days = sorted(d for f, d in expected_daily if f == fund and d.replace(day=1) == month)
        end = expected_daily[(fund, days[-1])]
        assert row["position_date"] == days[-1]
        # July ends on the 31st (a business day) in the sample; August is month to date
        assert row["is_month_complete"] == (month == dt.date(2024, 7, 1))
        for name in ("pl", "present_value", "pdd_value", "pv_rating_aa", "overdue_over_90_value", "pv_to_mature_0_30"):
            assert row[name] == end[name], (fund, month, name)
        for name in ("acquisitions_count", "acquisitions_value", "settlements_value", "repurchases_count"):
            assert row[name] == sum(expected_daily[(fund, d)][name] for d in days), (fund, month, name)


def test_every_fund_day_of_a_fully_delivered_sample_is_complete(marts_env):
    from fidc_assets.lib.core.funds import load_fund_registry

    expected = {f.cnpj: len(f.expected) for f in load_fund_registry(marts_env.home / "funds.yaml").funds}
    rows = marts_env.query(
        "select fund_cnpj, reference_date, expected_files, accepted_files, missing_files, is_complete "
        "from marts.mart_fund_day_completeness"
    )
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert set(got) == {(f, d) for f in expected for d in marts_env.days}
    assert all(got[k] == (expected[k[0]], expected[k[0]], 0, True) for k in got), got
    daily = {(r[0], r[1]) for r in marts_env.query("select fund_cnpj, reference_date from marts.mart_fund_daily")}
    assert daily <= set(got)


def _partitions(env: MartsEnv, parent: str) -> list[str]:
    rows = env.query(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = %s::regclass order by 1",
        [f"marts.{parent}"],
    )
    return [r[0] for r in rows]


def test_facts_and_marts_are_range_partitioned_by_date(marts_env):
    for parent in ("fct_receivable_position_daily", "fct_acquisition", "fct_settlement", "mart_fund_daily",
                   "mart_fund_day_completeness"):  # fmt: skip
        assert _partitions(marts_env, parent) == [f"{parent}_p202407", f"{parent}_p202408"], parent
    assert _partitions(marts_env, "mart_fund_monthly") == ["mart_fund_monthly_p2024"]
    kinds = dict(marts_env.query("select relname, relkind from pg_class where relname like 'mart_fund_%%'"))
    assert kinds["mart_fund_daily"] == "p" and kinds["mart_fund_daily_p202407"] == "r"


def _deleted(env: MartsEnv, table: str) -> int:
    return env.query("select n_tup_del from pg_stat_user_tables where schemaname = 'marts' and relname = %s", [table])[
        0
    ][0]


def test_rebuilding_a_day_touches_only_its_partition_and_changes_nothing(marts_env):
    from fidc_assets.pipeline import run_days

    day = dt.date(2024, 8, 1)
    before = marts_env.query("select * from marts.mart_fund_daily order by 1, 2")
    july_deleted = _deleted(marts_env, "fct_receivable_position_daily_p202407")
    august_deleted = _deleted(marts_env, "fct_receivable_position_daily_p202408")
    day_rows = marts_env.query(
        "select count(*) from marts.fct_receivable_position_daily where reference_date = %s", [day]
    )[0][0]

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIDC_HOME", str(marts_env.home))
        mp.setenv("FIDC_PG_DSN", marts_env.dsn)
        assert run_days([day], instance=marts_env.instance).success

    assert marts_env.query("select * from marts.mart_fund_daily order by 1, 2") == before
    assert _deleted(marts_env, "fct_receivable_position_daily_p202407") == july_deleted
    assert _deleted(marts_env, "fct_receivable_position_daily_p202408") == august_deleted + day_rows


def _as_role(env: MartsEnv, role: str, password: str | None = None) -> psycopg.Connection:
    from fidc_assets.lib.hot.dsn import dsn_parts

    parts = dsn_parts(env.dsn)
    secret = password if password is not None else _tenant_password(role)
    return psycopg.connect(host=parts["host"], port=parts["port"], dbname=parts["dbname"], user=role, password=secret)


def test_a_tenant_cannot_log_in_without_its_password_nor_as_the_owner(marts_env):
    from fidc_assets.lib.core.funds import load_fund_registry

    tenant = f"fidc_tenant_{load_fund_registry(marts_env.home / 'funds.yaml').managers[0].id}"
    for role, password in ((tenant, ""), (tenant, "wrong"), ("postgres", ""), ("postgres", _tenant_password(tenant))):
        with pytest.raises(psycopg.OperationalError, match="password"):
            _as_role(marts_env, role, password).close()
    with _as_role(marts_env, tenant) as conn:
        assert conn.execute("select current_user").fetchone() == (tenant,)


def test_a_tenant_sees_only_its_funds_cannot_write_and_cannot_read_landing(marts_env):
    from fidc_assets.lib.core.funds import load_fund_registry

    registry = load_fund_registry(marts_env.home / "funds.yaml")
    all_funds = {f.cnpj for f in registry.funds}
    assert len({f.manager for f in registry.funds}) == 3
    for manager in registry.managers:
        own = {f.cnpj for f in registry.funds if f.manager == manager.id}
        with _as_role(marts_env, f"fidc_tenant_{manager.id}") as conn:
            for table in ("mart_fund_daily", "mart_fund_monthly", "mart_fund_day_completeness",
                          "fct_receivable_position_daily", "fct_acquisition", "fct_settlement", "dim_fund",
                          "dim_cedente", "dim_sacado"):  # fmt: skip
                seen = {r[0] for r in conn.execute(f"select distinct fund_cnpj from marts.{table}").fetchall()}
                assert seen == own, (manager.id, table)
            assert scalar(conn, "select count(*) from marts.dim_date") > 0
            assert {r[0] for r in conn.execute("select fund_cnpj from reference.funds")} == own
            # reference.delivery_status is the pipeline's: tenants read its mart, not the table
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select count(*) from reference.delivery_status")
            conn.rollback()
    # the owner sees every fund: the policy restricts tenants only
    assert {r[0] for r in marts_env.query("select distinct fund_cnpj from marts.mart_fund_daily")} == all_funds

    tenant = f"fidc_tenant_{registry.managers[0].id}"
    forbidden = [
        "select count(*) from landing.receivable_positions",
        "select count(*) from staging.stg_receivable_positions",
        "select count(*) from marts.fct_receivable_position_daily_p202407",  # a partition bypasses row security
        "insert into marts.dim_fund (fund_cnpj, in_registry) values ('00000000000000', false)",
        "delete from marts.mart_fund_daily",
    ]
    for statement in forbidden:
        with _as_role(marts_env, tenant) as conn:
            conn.execute("set default_transaction_read_only = off")
            conn.commit()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(own_sql(statement))
    with _as_role(marts_env, tenant) as conn:  # read-only by default, too
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table public.scratch (x int)")


@pytest.fixture()
def tenant_login():
    """`_as_role`, for the tests imported below (their module cannot import this one back)."""
    return _as_role


# The CVM Informe Mensal's reconciliation reads these marts: its tests run here, on this module's sample (a
# module of their own would build the sample and run the pipeline a second time).
from tests.integration.regulatory_cases import (  # noqa: E402
    cvm_env,  # noqa: F401  (their fixture)
    test_a_republished_month_replaces_the_first_publication,  # noqa: F401
    test_a_tenant_sees_only_its_funds_regulatory_rows,  # noqa: F401
    test_every_seeded_discrepancy_is_found_and_nothing_else_is_flagged,  # noqa: F401
)

# The shadow run (legacy and custodian files for the same fund-days after the cutover) on this module's sample
# too: the legacy's shadow period is rendered for its funds and last days, and only those days are rebuilt.
from tests.integration.shadow_cases import (  # noqa: E402
    shadow_env,  # noqa: F401  (their fixture)
    test_history_shadow_prints_the_same_differences,  # noqa: F401
    test_the_marts_of_the_shadow_days_equal_the_custodian_files_only,  # noqa: F401
    test_the_shadow_check_reports_exactly_the_seeded_differences_as_a_warning,  # noqa: F401
    test_the_shadow_days_are_in_the_lake_from_both_sources_and_the_migration_reconciles,  # noqa: F401
)
