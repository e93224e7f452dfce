"""Configuration the marts need, copied into PostgreSQL schema `reference` for dbt to read as sources.

The fund registry (funds.yaml: managers = BI tenants, funds), the custodians with a spec, the asset type
registry, the ANBIMA holidays and the FX rates live in files and in `bizdays`; dbt reads tables. Each sync replaces
every table's rows in one transaction, so a dbt run or a row-security check sees the old registry or the new
one, never half. Idempotent: running it twice leaves the same rows.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final, LiteralString

import psycopg
from psycopg import sql

from fidc_assets.lib.core.asset_types import AssetTypeRegistry
from fidc_assets.lib.core.funds import FundRegistry

REFERENCE_SCHEMA: Final = "reference"
TENANT_ROLE_PREFIX: Final = "fidc_tenant_"

#: table → (DDL columns, insertable column names)
TABLES: dict[str, tuple[LiteralString, tuple[str, ...]]] = {
    "fund_managers": (
        "manager_id text primary key, manager_name text not null, tenant_role text not null unique",
        ("manager_id", "manager_name", "tenant_role"),
    ),
    "funds": (
        "fund_cnpj text primary key, fund_name text not null, manager_id text not null, custodians text",
        ("fund_cnpj", "fund_name", "manager_id", "custodians"),
    ),
    "custodians": ("custodian_id text primary key, custodian_name text not null", ("custodian_id", "custodian_name")),
    "asset_types": (
        "asset_type text primary key, asset_type_name text not null, category text not null, default_currency text",
        ("asset_type", "asset_type_name", "category", "default_currency"),
    ),
    "anbima_holidays": ("holiday_date date primary key", ("holiday_date",)),
    "fx_rates": (
        "rate_date date not null, currency text not null, rate_to_brl numeric(18,6) not null, "
        "primary key (currency, rate_date)",
        ("rate_date", "currency", "rate_to_brl"),
    ),
}


def load_fx_rates(path: Path) -> list[tuple[dt.date, str, Decimal]]:
    """(rate_date, currency, rate_to_brl) rows of a CSV with those columns: daily rates to BRL (PTAX-like).

    The shipped `reference/fx_rates.csv` holds ILLUSTRATIVE values for the sample period, not the official
    Banco Central series; a deployment puts the real one in its configuration directory or points
    FIDC_FX_RATES at it (same columns)."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["rate_date", "currency", "rate_to_brl"]:
            raise ValueError(f"{path}: expected columns rate_date,currency,rate_to_brl, got {reader.fieldnames}")
        return [(dt.date.fromisoformat(r["rate_date"]), r["currency"], Decimal(r["rate_to_brl"])) for r in reader]


def tenant_role(manager_id: str) -> str:
    """The PostgreSQL login role of a tenant (manager ids are validated: lower-case letters, digits, _)."""
    return f"{TENANT_ROLE_PREFIX}{manager_id}"


@dataclass(frozen=True)
class ReferenceData:
    """Everything `sync_reference_data` writes, as rows per table."""

    rows: Mapping[str, list[tuple]]

    @classmethod
    def build(
        cls,
        registry: FundRegistry,
        custodians: Mapping[str, str],
        asset_types: AssetTypeRegistry,
        holidays: Iterable[dt.date],
        fx_rates: Iterable[tuple[dt.date, str, Decimal]] = (),
    ) -> ReferenceData:
        return cls(
            {
                "fund_managers": [(m.id, m.name, tenant_role(m.id)) for m in registry.managers],
                "funds": [(f.cnpj, f.name, f.manager, ",".join(f.custodians)) for f in registry.funds],
                "custodians": sorted(custodians.items()),
                "asset_types": [
                    (code, t.name, t.category, t.currency) for code, t in sorted(asset_types.asset_types.items())
                ],
                "anbima_holidays": [(d,) for d in sorted(holidays)],
                "fx_rates": sorted(fx_rates),
            }
        )


def sync_reference_data(conn: psycopg.Connection, data: ReferenceData) -> dict[str, int]:
    """Create the `reference` tables if needed and replace their rows (the caller commits). Runs that overlap
    (a schedule and a backfill) take turns: the lock is held to the caller's commit, which also covers the
    roles and row security `bi_access` sets up in the same transaction."""
    conn.execute("select pg_advisory_xact_lock(hashtext('fidc.reference'))")
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(REFERENCE_SCHEMA)))
    counts = {}
    for table, (ddl, columns) in TABLES.items():
        ident = sql.Identifier(REFERENCE_SCHEMA, table)
        conn.execute(sql.SQL("create table if not exists {} (" + ddl + ")").format(ident))
        conn.execute(sql.SQL("delete from {}").format(ident))
        rows = data.rows.get(table, [])
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("insert into {} ({}) values ({})").format(
                        ident,
                        sql.SQL(", ").join(map(sql.Identifier, columns)),
                        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                    ),
                    rows,
                )
        counts[table] = len(rows)
    return counts
