"""The tenant attack list (issue 13, item 3): logged in as one tenant, every way to another tenant's rows.

Each attack asserts its exact outcome: the server's error (class and wording) or, for a channel that
returns data (select, view, temp function, COPY TO STDOUT, a leaky function's notices, a group role), that
the rows are exactly the tenant's own funds (non-empty, so the channel is proven to work) and none of the
others'. The attacker turns `default_transaction_read_only` off first, as anyone can.

On two servers, each with a sample of its own (3 funds, one per manager) landed end to end by `run_days`:
* `embedded`: the pipeline's own embedded server under a fresh FIDC_HOME (no FIDC_PG_DSN; started by the
  pipeline, `resolve_pg_dsn`);
* `external`: the FIDC_PG_DSN path, as tests/integration/test_end_to_end.py exercises it: a second
  `EmbeddedPostgres` instance started by the test and handed to the pipeline as FIDC_PG_DSN (database
  `external_fidc`). It is the same PostgreSQL build; what differs is the path the pipeline takes to it.

The expected errors are the server's exact wording, PostgreSQL 16's (the embedded server here is 16.2).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.conftest import traversable_tmp_dir
from tests.db import own_sql

pytestmark = pytest.mark.integration

SAMPLE = {"seed": 23, "funds": 3, "days": 2, "start": dt.date(2024, 7, 30), "receivables_per_fund": 60}
ENV_VARS = ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_INBOX", "FIDC_FUNDS", "FIDC_PG_DSN")


def _password(role: str) -> str:
    return f"att-{role}-S3nha!"


@dataclass
class Server:
    kind: str
    dsn: str  # the owner's
    tenant: str  # the attacker
    own: set[str]  # its funds
    others: set[str]  # every other tenant's funds
    other_tenant: str
    partitions: dict[str, list[str]]  # schema → its partitions (qualified)
    pipeline_tables: list[str]  # qualified: landing, staging, intermediate, recon, reference beyond the two

    def connect(self, user: str, password: str | None, **kwargs: Any) -> psycopg.Connection:
        from fidc_assets.lib.hot.dsn import dsn_parts

        parts = dsn_parts(self.dsn)
        return psycopg.connect(
            host=parts["host"], port=parts["port"], dbname=parts["dbname"], user=user, password=password or "",
            connect_timeout=10, **kwargs,
        )  # fmt: skip

    def as_tenant(self) -> psycopg.Connection:
        conn = self.connect(self.tenant, _password(self.tenant), autocommit=True)
        conn.execute("set default_transaction_read_only = off")  # the attacker's first move
        return conn


def _land(kind: str, home: Path, mp: pytest.MonkeyPatch) -> tuple[str, Any]:
    import dagster as dg

    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME, load_fund_registry
    from fidc_assets.pipeline import adopt_fund_registry, deliver, run_days
    from fidc_assets.sample.generator import generate_sample
    from fidc_assets.settings import Settings

    for var in ENV_VARS:
        mp.delenv(var, raising=False)
    mp.setenv("FIDC_HOME", str(home))
    external = None
    if kind == "external":
        from fidc_assets.lib.hot.embedded import EmbeddedPostgres

        external = EmbeddedPostgres(home / "external-pg", database="external_fidc", settings={"fsync": "off"})
        mp.setenv("FIDC_PG_DSN", external.start())
    manifest = generate_sample(home / "sample", **SAMPLE)
    deliver([manifest.inbox_dir / f for f in manifest.files], home / "inbox")
    adopt_fund_registry(manifest.out_dir / REGISTRY_FILE_NAME, home / "funds.yaml")
    registry = load_fund_registry(home / "funds.yaml")
    for manager in registry.managers:
        mp.setenv(f"FIDC_BI_PASSWORD_{manager.id.upper()}", _password(f"fidc_tenant_{manager.id}"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_days(list(manifest.days), instance=instance)
    assert result.success
    settings = Settings.from_env()
    return settings.resolve_pg_dsn(), (external or settings.embedded_server())


def _catalog(dsn: str) -> tuple[dict[str, list[str]], list[str]]:
    with psycopg.connect(dsn) as conn:
        conn.execute("analyze marts.mart_fund_daily")  # statistics exist: the pg_stats attack is not vacuous
        parts: dict[str, list[str]] = {}
        for schema, name in conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relispartition and c.relkind in ('r', 'p') and n.nspname in ('marts', 'landing') order by 1, 2"
        ).fetchall():
            parts.setdefault(schema, []).append(f"{schema}.{name}")
        tables = [
            f"{s}.{t}"
            for s, t in conn.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('landing', 'staging', 'intermediate', 'recon', 'reference') "
                "and (table_schema, table_name) not in (('reference', 'funds'), ('reference', 'fund_managers')) "
                "order by 1, 2"
            ).fetchall()
        ]
    return parts, tables


@pytest.fixture(scope="module", params=["embedded", "external"])
def server(request, dbt_manifest) -> Iterator[Server]:
    from fidc_assets.lib.core.funds import load_fund_registry

    home = traversable_tmp_dir(f"fidc-test-attacks-{request.param}-")
    pg = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            dsn, pg = _land(request.param, home, mp)
            registry = load_fund_registry(home / "funds.yaml")
            managers = [m.id for m in registry.managers]
            assert len(managers) >= 2 and all(any(f.manager == m for f in registry.funds) for m in managers)
            me, other = managers[0], managers[1]
            parts, tables = _catalog(dsn)
            assert parts.get("marts") and parts.get("landing") and tables
            yield Server(
                kind=request.param,
                dsn=dsn,
                tenant=f"fidc_tenant_{me}",
                own={f.cnpj for f in registry.funds if f.manager == me},
                others={f.cnpj for f in registry.funds if f.manager != me},
                other_tenant=f"fidc_tenant_{other}",
                partitions=parts,
                pipeline_tables=tables,
            )
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(home, ignore_errors=True)


# -- logging in ----------------------------------------------------------------------------------------------
def test_a_tenant_logs_in_with_its_password_only(server: Server):
    with server.connect(server.tenant, _password(server.tenant)) as conn:
        assert conn.execute("select current_user, usesuper from pg_user where usename = current_user").fetchone() == (
            server.tenant,
            False,
        )
    attempts = {
        "no password": (server.tenant, None, "no password supplied"),
        "a wrong password": (server.tenant, "wrong", f'password authentication failed for user "{server.tenant}"'),
        "the owner, with the tenant's password": (
            "postgres", _password(server.tenant), 'password authentication failed for user "postgres"'),
        "the owner, no password": ("postgres", None, "no password supplied"),
        "another tenant, with its own password": (
            server.other_tenant, _password(server.tenant),
            f'password authentication failed for user "{server.other_tenant}"'),
    }  # fmt: skip
    for what, (user, password, message) in attempts.items():
        with pytest.raises(psycopg.OperationalError) as info:
            server.connect(user, password).close()
        assert message in str(info.value), what


# -- channels that return rows: exactly the tenant's own funds ---------------------------------------------------
ROW_CHANNELS: dict[str, tuple[tuple[str, ...], str]] = {
    "select": ((), "select fund_cnpj from marts.mart_fund_daily"),
    "select of the facts": ((), "select fund_cnpj from marts.fct_receivable_position_daily"),
    "temp view": (
        ("create temp view v as select fund_cnpj from marts.fct_receivable_position_daily",),
        "select fund_cnpj from v",
    ),
    "temp function": (
        (
            "create function pg_temp.f() returns setof text language sql as "
            "'select fund_cnpj from marts.mart_fund_daily'",
        ),
        "select pg_temp.f()",
    ),  # fmt: skip
    "security definer temp function": (
        (
            "create function pg_temp.g() returns setof text language sql security definer as "
            "'select fund_cnpj from marts.mart_fund_daily'",
        ),
        "select pg_temp.g()",
    ),  # fmt: skip
    "the registry's funds": ((), "select fund_cnpj from reference.funds"),
    "dim_fund": ((), "select fund_cnpj from marts.dim_fund"),
}


@pytest.mark.parametrize("channel", list(ROW_CHANNELS))
def test_a_channel_returns_only_the_tenant_s_funds(server: Server, channel: str):
    setup, query = ROW_CHANNELS[channel]
    with server.as_tenant() as conn:
        for statement in setup:
            conn.execute(own_sql(statement))
        seen = {r[0] for r in conn.execute(own_sql(query)).fetchall()}
    assert seen == server.own


def test_asking_for_another_tenant_s_funds_by_name_returns_no_row(server: Server):
    with server.as_tenant() as conn:
        for table in ("mart_fund_daily", "fct_receivable_position_daily", "dim_cedente", "mart_fund_monthly"):
            n = conn.execute(
                own_sql(f"select count(*) from marts.{table} where fund_cnpj = any(%s)"), [sorted(server.others)]
            ).fetchone()
            assert n == (0,), table
    with psycopg.connect(server.dsn) as owner:  # the rows exist: the owner sees them
        n = owner.execute(
            "select count(*) from marts.mart_fund_daily where fund_cnpj = any(%s)", [sorted(server.others)]
        ).fetchone()
        assert n is not None and n[0] > 0


def test_copy_to_stdout_returns_only_the_tenant_s_rows(server: Server):
    """COPY of a table with row security applies its policy; COPY of a partitioned parent reads ONLY the
    parent (PostgreSQL's rewrite for row security), which holds no row; COPY of a query is a query."""
    with psycopg.connect(server.dsn) as owner:
        kinds = dict(owner.execute(
            "select relname, relkind from pg_class where relname in ('dim_fund', 'mart_fund_daily') "
            "and relnamespace = 'marts'::regnamespace"
        ).fetchall())  # fmt: skip
    assert kinds == {"dim_fund": "r", "mart_fund_daily": "p"}
    expected = {
        "copy marts.dim_fund (fund_cnpj) to stdout": server.own,
        "copy marts.mart_fund_daily (fund_cnpj) to stdout": set(),
        "copy (select fund_cnpj from marts.fct_receivable_position_daily) to stdout": server.own,
    }
    seen = {}
    with server.as_tenant() as conn:
        for statement in expected:
            with conn.cursor().copy(own_sql(statement)) as copy:
                seen[statement] = set(b"".join(bytes(chunk) for chunk in copy).decode().splitlines())
    assert seen == expected


def test_a_leaky_function_in_the_where_clause_sees_only_the_tenant_s_rows(server: Server):
    """A cheap non-leakproof function raising a notice per row it sees runs after the row security qual."""
    notices: list[str] = []
    with server.as_tenant() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(
            "create function pg_temp.leak(t text) returns boolean language plpgsql cost 0.0000001 as "
            "$$ begin raise notice 'leak %', t; return true; end $$"
        )
        conn.execute("select count(*) from marts.mart_fund_daily where pg_temp.leak(fund_cnpj)").fetchone()
    seen = {n.removeprefix("leak ") for n in notices if n.startswith("leak ")}
    assert seen == server.own


def test_the_group_role_sees_no_fund(server: Server):
    """SET ROLE to fidc_bi_reader (the tenant is a member) is allowed, but it is nobody's tenant."""
    with server.as_tenant() as conn:
        conn.execute("set role fidc_bi_reader")
        assert conn.execute("select current_user").fetchone() == ("fidc_bi_reader",)
        assert conn.execute("select count(*) from marts.mart_fund_daily").fetchone() == (0,)
        assert conn.execute("select count(*) from reference.funds").fetchone() == (0,)


def test_statistics_of_a_row_secured_table_are_hidden(server: Server):
    query = "select count(*) from pg_stats where schemaname = 'marts' and tablename = 'mart_fund_daily'"
    with psycopg.connect(server.dsn) as owner:
        n = owner.execute(query).fetchone()
        assert n is not None and n[0] > 0
    with server.as_tenant() as conn:
        assert conn.execute(query).fetchone() == (0,)


def test_the_tenant_sees_only_its_own_manager(server: Server):
    with server.as_tenant() as conn:
        assert {r[0] for r in conn.execute("select tenant_role from reference.fund_managers")} == {server.tenant}


def test_a_grant_without_grant_option_changes_nothing(server: Server):
    """GRANT by a non-owner is a warning in PostgreSQL ("no privileges were granted"), not an error."""
    acl = "select relacl::text from pg_class where oid = 'marts.mart_fund_daily'::regclass"
    with psycopg.connect(server.dsn) as owner:
        before = owner.execute(acl).fetchone()
    warnings: list[str] = []
    with server.as_tenant() as conn:
        conn.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
        conn.execute("grant select on marts.mart_fund_daily to public")
        conn.execute(own_sql(f"grant select on marts.fct_receivable_position_daily to {server.other_tenant}"))
    assert warnings == [
        'no privileges were granted for "mart_fund_daily"',
        'no privileges were granted for "fct_receivable_position_daily"',
    ]
    with psycopg.connect(server.dsn) as owner:
        assert owner.execute(acl).fetchone() == before


# -- statements that must be refused -------------------------------------------------------------------------
DENIED: dict[str, tuple[str, str]] = {
    "set role to the owner": ("set role postgres", 'permission denied to set role "postgres"'),
    "set role to another tenant": ("set role {other}", 'permission denied to set role "{other}"'),
    "session authorization as the owner": (
        "set session authorization postgres", 'permission denied to set session authorization'),
    "session authorization as another tenant": (
        "set session authorization {other}", 'permission denied to set session authorization'),
    "row security off": (
        "set row_security = off; select count(*) from marts.mart_fund_daily",
        'query would be affected by row-level security policy for table "mart_fund_daily"'),
    "copy to a file": (
        "copy marts.mart_fund_daily to '/tmp/fidc-attack.csv'",
        'permission denied to COPY to a file\nDETAIL:  Only roles with privileges of the "pg_write_server_files" '
        "role may COPY to a file."),
    "copy from a file": (
        "copy marts.dim_fund from '/etc/passwd'",
        'permission denied to COPY from a file\nDETAIL:  Only roles with privileges of the "pg_read_server_files" '
        "role may COPY from a file."),
    "copy to a program": (
        "copy (select 1) to program 'id'",
        'permission denied to COPY to or from an external program\nDETAIL:  Only roles with privileges of the '
        '"pg_execute_server_program" role may COPY to or from an external program.'),
    "pg_read_file": ("select pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"),
    "pg_read_binary_file": (
        "select pg_read_binary_file('postgresql.conf')", "permission denied for function pg_read_binary_file"),
    "pg_ls_dir": ("select pg_ls_dir('.')", "permission denied for function pg_ls_dir"),
    "pg_stat_file": ("select pg_stat_file('postgresql.conf')", "permission denied for function pg_stat_file"),
    "lo_import": ("select lo_import('/etc/passwd')", "permission denied for function lo_import"),
    "lo_export": ("select lo_export(1, '/tmp/fidc-attack.bin')", "permission denied for function lo_export"),
    "the password verifiers": ("select rolpassword from pg_authid", "permission denied for table pg_authid"),
    "pg_shadow": ("select passwd from pg_shadow", "permission denied for view pg_shadow"),
    "insert into a mart": (
        "insert into marts.dim_fund (fund_cnpj, in_registry) values ('00000000000000', false)",
        "permission denied for table dim_fund"),
    "update a mart": ("update marts.mart_fund_daily set pl = 0", "permission denied for table mart_fund_daily"),
    "delete from a mart": ("delete from marts.mart_fund_daily", "permission denied for table mart_fund_daily"),
    "truncate a mart": ("truncate marts.mart_fund_daily", "permission denied for table mart_fund_daily"),
    "create a table in marts": ("create table marts.evil (x int)", "permission denied for schema marts"),
    "create a view in marts": (
        "create view marts.evil as select * from marts.mart_fund_daily", "permission denied for schema marts"),
    "create a table in public": ("create table public.evil (x int)", "permission denied for schema public"),
    "create a schema": ("create schema evil", "permission denied for database"),
    "disable row security": (
        "alter table marts.mart_fund_daily disable row level security", "must be owner of table mart_fund_daily"),
    "drop the policy": (
        "drop policy tenant_funds on marts.mart_fund_daily", "must be owner of relation mart_fund_daily"),
    "a policy of one's own": (
        "create policy evil on marts.mart_fund_daily for select using (true)",
        "must be owner of table mart_fund_daily"),
    "re-run the pipeline's grant function": (
        "select reference.apply_bi_access('marts.mart_fund_daily')", "must be owner of table mart_fund_daily"),
    "claim another manager": (
        "update reference.fund_managers set tenant_role = current_user",
        "permission denied for table fund_managers"),
    "move a fund to oneself": (
        "insert into reference.funds (fund_cnpj) values ('00000000000000')", "permission denied for table funds"),
    "grant the group to another role": (
        "grant fidc_bi_reader to {other}", 'permission denied to grant role "fidc_bi_reader"\nDETAIL:  Only roles '
        'with the ADMIN option on role "fidc_bi_reader" may grant this role.'),
    "bypass row security": (
        "alter role {me} bypassrls", "permission denied to alter role\nDETAIL:  Only roles with the CREATEROLE "
        'attribute and the ADMIN option on role "{me}" may alter this role.'),
    "another tenant's password": (
        "alter role {other} password 'x'",
        "permission denied to alter role\nDETAIL:  To change another role's password, the current user must have "
        "the CREATEROLE attribute and the ADMIN option on the role."),
    "create a role": ("create role evil login password 'x'", "permission denied to create role"),
}  # fmt: skip


@pytest.mark.parametrize("attack", list(DENIED))
def test_the_statement_is_refused(server: Server, attack: str):
    statement, message = (s.format(me=server.tenant, other=server.other_tenant) for s in DENIED[attack])
    with server.as_tenant() as conn:
        with pytest.raises(errors.InsufficientPrivilege) as info:
            for part in statement.split("; "):
                conn.execute(own_sql(part))
    assert message in str(info.value)


def test_the_pipeline_s_schemas_and_every_partition_are_refused(server: Server):
    """landing, staging, intermediate, recon, the rest of reference, and partitions (they bypass the
    parent's row security), each table by name."""
    targets = server.pipeline_tables + server.partitions["marts"] + server.partitions["landing"]
    refused = {}
    with server.as_tenant() as conn:
        for table in targets:
            try:
                conn.execute(own_sql(f"select count(*) from {table}")).fetchone()
                refused[table] = "read"
            except errors.InsufficientPrivilege as err:
                schema, _, name = table.partition(".")
                expected = (
                    f"permission denied for schema {schema}"
                    if schema not in ("marts", "reference")
                    else f"permission denied for table {name}"
                )
                refused[table] = "refused" if expected in str(err) else str(err)
    assert refused == dict.fromkeys(targets, "refused")
