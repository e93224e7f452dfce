"""`reference.delivery_status`: the expected-delivery statuses (`fidc_assets.lib.core.deliveries`) in PostgreSQL,
one row per (fund, custodian, entity, business day), for dbt to read as a source (`mart_fund_day_completeness`).

The rows are the same evaluation the `expected_deliveries` check and `fidc-lake status` make, plus which file
was accepted for the slice. A write replaces the rows of the given days in the caller's transaction (the caller
commits), so dbt reads a day's old statuses or its new ones, never half; days outside the write are untouched.
Idempotent for a fixed clock: writing the same statuses twice leaves the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

import psycopg
from psycopg import sql

from fidc_assets.lib.core.deliveries import DeliveryState, DeliveryStatus, FileRecord
from fidc_assets.lib.hot.reference import REFERENCE_SCHEMA

TABLE = "delivery_status"
_STATES = ", ".join(f"'{s.value}'" for s in DeliveryState)
DDL = (
    "fund_cnpj text not null, custodian_id text not null, entity text not null, reference_date date not null, "
    f"state text not null check (state in ({_STATES})), is_late boolean not null, files integer not null, "
    "accepted_sha256 text, accepted_file_name text, first_received_at timestamptz, due_at timestamptz not null, "
    "evaluated_at timestamptz not null, primary key (reference_date, fund_cnpj, custodian_id, entity)"
)


@dataclass(frozen=True, slots=True)
class DeliveryStatusRow:
    """One row of reference.delivery_status (field order = column order)."""

    fund_cnpj: str
    custodian_id: str
    entity: str
    reference_date: dt.date
    state: str
    is_late: bool
    files: int
    accepted_sha256: str | None
    accepted_file_name: str | None
    first_received_at: dt.datetime | None
    due_at: dt.datetime
    evaluated_at: dt.datetime


COLUMNS = tuple(f.name for f in fields(DeliveryStatusRow))


def status_rows(
    statuses: Iterable[DeliveryStatus], files: Iterable[FileRecord], evaluated_at: dt.datetime
) -> list[DeliveryStatusRow]:
    """The rows for `statuses` (from `evaluate` over `files`), each with the file accepted for its slice.

    A slice has one accepted file; should the registry say more (a race the ingestion fixes), the one received
    last is named (ties by sha256), so the choice does not depend on the scan order."""
    if evaluated_at.tzinfo is None:
        raise ValueError(f"evaluated_at must be timezone-aware, got {evaluated_at!r}")
    accepted: dict[tuple[str, str, str, dt.date], FileRecord] = {}
    for f in files:
        if f.status != DeliveryState.ACCEPTED.value:
            continue
        key = (f.fund_cnpj, f.custodian_id, f.entity, f.reference_date)
        held = accepted.get(key)
        if held is None or _recency(f) > _recency(held):
            accepted[key] = f
    out = []
    for s in statuses:
        file = accepted.get((s.fund_cnpj, s.custodian_id, s.entity, s.reference_date))
        out.append(
            DeliveryStatusRow(
                fund_cnpj=s.fund_cnpj,
                custodian_id=s.custodian_id,
                entity=s.entity,
                reference_date=s.reference_date,
                state=s.state.value,
                is_late=s.late,
                files=s.files,
                accepted_sha256=file.sha256 if file else None,
                accepted_file_name=(file.file_name or None) if file else None,
                first_received_at=s.first_received_at,
                due_at=s.due_at,
                evaluated_at=evaluated_at,
            )
        )
    return out


def _recency(f: FileRecord) -> tuple[dt.datetime, str]:
    return (f.received_at or dt.datetime.min.replace(tzinfo=dt.UTC), f.sha256)


def write_delivery_status(conn: psycopg.Connection, days: Iterable[dt.date], rows: Sequence[DeliveryStatusRow]) -> int:
    """Create reference.delivery_status if needed and replace the rows of `days` with `rows` (the caller
    commits). Every row must be of one of `days`; a day with no row (not a business day, or no expectation)
    ends with none. Overlapping writers take turns (an advisory lock held to the caller's commit)."""
    wanted = sorted(set(days))
    stray = sorted({r.reference_date for r in rows} - set(wanted))
    if stray:
        raise ValueError(f"rows for days outside the write: {[d.isoformat() for d in stray]}")
    ident = sql.Identifier(REFERENCE_SCHEMA, TABLE)
    conn.execute("select pg_advisory_xact_lock(hashtext('fidc.delivery_status'))")
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(REFERENCE_SCHEMA)))
    conn.execute(sql.SQL("create table if not exists {} (" + DDL + ")").format(ident))
    conn.execute(sql.SQL("delete from {} where reference_date = any(%s)").format(ident), [wanted])
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("insert into {} ({}) values ({})").format(
                    ident,
                    sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
                    sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
                ),
                [astuple(r) for r in rows],
            )
    return len(rows)
