"""BI access: a read-only group role for the marts and one login role per tenant, kept to its own funds.

* `fidc_bi_reader` (NOLOGIN): USAGE on schema `marts` and SELECT on its tables, nothing else: no `landing`,
  `staging`, `intermediate`, no write anywhere (read-only transactions by default, and no write grant).
* one login role per fund manager of the registry (`fidc_tenant_<manager id>`), member of `fidc_bi_reader`;
  password from the `passwords` mapping (manager id → password; the settings read it from
  `FIDC_BI_PASSWORD_<MANAGER ID>`), set as a SCRAM-SHA-256 verifier computed client-side (`hot.scram`), so
  the plain password never reaches the server or its log. No password: the role cannot log in (the embedded
  server, like any sensibly configured one, requires passwords).
* row-level security on every mart table with a `fund_cnpj` column: a tenant sees the rows of the funds the
  registry (`reference.funds`, synced by `fidc_assets.lib.hot.reference`) gives its manager. The policy is
  installed by `reference.apply_bi_access(regclass)`, which the dbt models call as a post-hook inside their
  own transaction (dbt_project/macros/bi_access.sql): a rebuilt table is never readable without it.

`ensure_bi_access` is idempotent: run it after every registry sync (the Dagster asset reference/registries
does). Removing a manager from the registry removes its role's rows at once (the policy reads the registry)
and its login role is disabled (NOLOGIN), not dropped, so nothing that depends on it breaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, LiteralString

import psycopg
from psycopg import sql

from fidc_assets.lib.core.funds import FundRegistry
from fidc_assets.lib.hot.reference import REFERENCE_SCHEMA, TENANT_ROLE_PREFIX, tenant_role
from fidc_assets.lib.hot.scram import scram_sha256_verifier

READER_ROLE = "fidc_bi_reader"
MARTS_SCHEMA = "marts"
POLICY_NAME: Final = "tenant_funds"

#: Installed in `reference`: grants SELECT on a mart table to fidc_bi_reader and, when it has fund_cnpj,
#: enables row security with the tenant policy. SECURITY INVOKER: only the table's owner (dbt) can run it.
_APPLY_FUNCTION = f"""
create or replace function {REFERENCE_SCHEMA}.apply_bi_access(target regclass) returns void
language plpgsql as $fn$
begin
    execute format('grant select on %s to {READER_ROLE}', target);
    if exists (
        select 1 from pg_attribute
        where attrelid = target and attname = 'fund_cnpj' and attnum > 0 and not attisdropped
    ) then
        execute format('alter table %s enable row level security', target);
        execute format('drop policy if exists {POLICY_NAME} on %s', target);
        execute format(
            'create policy {POLICY_NAME} on %s for select to {READER_ROLE} using (fund_cnpj in ('
            'select f.fund_cnpj from {REFERENCE_SCHEMA}.funds f '
            'join {REFERENCE_SCHEMA}.fund_managers m on m.manager_id = f.manager_id '
            'where m.tenant_role = current_user))',
            target
        );
    end if;
end
$fn$
"""


def tenant_password(manager_id: str, passwords: Mapping[str, str]) -> str | None:
    return passwords.get(manager_id) or None


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone() is not None


def _ensure_role(conn: psycopg.Connection, role: str, login: bool, password: str | None = None) -> None:
    ident = sql.Identifier(role)
    if not _role_exists(conn, role):
        conn.execute(sql.SQL("create role {}").format(ident))
    conn.execute(
        sql.SQL("alter role {} {} nosuperuser nocreatedb nocreaterole noreplication nobypassrls").format(
            ident, sql.SQL("login" if login else "nologin")
        )
    )
    # a SCRAM verifier computed here, never the password: statement logging would keep a plain one
    secret = sql.Literal(scram_sha256_verifier(password)) if password else sql.NULL
    conn.execute(sql.SQL("alter role {} password {}").format(ident, secret))
    conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(ident))


def mart_tables(conn: psycopg.Connection) -> list[str]:
    """The mart relations BI may read: tables and partitioned parents (never a partition itself: row
    security is enforced on the parent, so partitions get no grant)."""
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind in ('r', 'p', 'v') and not c.relispartition order by 1",
        [MARTS_SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class BiAccess:
    """What `ensure_bi_access` set up: the tenant login roles, the stale ones it disabled, the mart tables."""

    tenants: list[str]
    disabled: list[str]
    mart_tables: list[str]


def ensure_bi_access(conn: psycopg.Connection, registry: FundRegistry, passwords: Mapping[str, str]) -> BiAccess:
    """Roles, grants and row security for `registry`'s tenants (the caller commits); `passwords` maps a
    manager id to its login role's password. Expects the `reference` tables
    (`fidc_assets.lib.hot.reference.sync_reference_data`) to exist."""
    ref = sql.Identifier(REFERENCE_SCHEMA)
    reader = sql.Identifier(READER_ROLE)
    _ensure_role(conn, READER_ROLE, login=False)
    wanted = {tenant_role(m.id): m.id for m in registry.managers}
    for role, manager_id in wanted.items():
        _ensure_role(conn, role, login=True, password=tenant_password(manager_id, passwords))
        conn.execute(sql.SQL("grant {} to {}").format(reader, sql.Identifier(role)))
    stale = [
        r[0]
        for r in conn.execute(
            "select rolname from pg_roles where starts_with(rolname, %s) and rolcanlogin", [TENANT_ROLE_PREFIX]
        ).fetchall()
        if r[0] not in wanted
    ]
    for role in stale:
        conn.execute(sql.SQL("alter role {} nologin").format(sql.Identifier(role)))

    # the registry tables the policy reads: each tenant sees only its own manager and funds
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(ref, reader))
    policies: tuple[tuple[str, LiteralString], ...] = (
        ("fund_managers", "tenant_role = current_user"),
        (
            "funds",
            f"manager_id in (select manager_id from {REFERENCE_SCHEMA}.fund_managers where tenant_role = current_user)",
        ),
    )
    for table, predicate in policies:
        ident = sql.Identifier(REFERENCE_SCHEMA, table)
        conn.execute(sql.SQL("grant select on {} to {}").format(ident, reader))
        conn.execute(sql.SQL("alter table {} enable row level security").format(ident))
        conn.execute(sql.SQL("drop policy if exists {} on {}").format(sql.Identifier(POLICY_NAME), ident))
        conn.execute(
            sql.SQL("create policy {} on {} for select to {} using (" + predicate + ")").format(
                sql.Identifier(POLICY_NAME), ident, reader
            )
        )
    # nothing else of `reference` (fx_rates, holidays are harmless but not the tenants' business)
    conn.execute(sql.SQL(_APPLY_FUNCTION))

    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(MARTS_SCHEMA)))
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(MARTS_SCHEMA), reader))
    tables = mart_tables(conn)
    for table in tables:
        conn.execute(
            "select reference.apply_bi_access(%s::regclass)",
            [sql.Identifier(MARTS_SCHEMA, table).as_string(conn)],
        )
    # BI never reads the pipeline's own schemas
    for schema in ("landing", "staging", "intermediate", "recon"):
        if conn.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone():
            conn.execute(sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), reader))
    return BiAccess(tenants=sorted(wanted), disabled=sorted(stale), mart_tables=tables)
