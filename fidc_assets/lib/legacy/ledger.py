"""The migration's ledger in PostgreSQL (``recon.legacy_migration_log``): which months are done.

A month is recorded only after all its commits (see `migration.migrate_month`), so a backfill stopped anywhere
resumes with `pending_months` and rewrites the unfinished month whole; a rollback forgets the runs it undid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg

#: The PostgreSQL schema of the migration's records (this ledger and the reconciliation results).
RECON_SCHEMA = "recon"
#: The reconciliation's table in RECON_SCHEMA, and the name of its asset check.
RECON_TABLE = "recon_legacy_vs_lake"
LOG_TABLE = "legacy_migration_log"


@dataclass
class EntityOutcome:
    entity: str
    rows: int
    rejected: int
    snapshot_id: int | None
    tag: str | None


@dataclass
class MonthOutcome:
    month: dt.date
    run_id: str
    entities: list[EntityOutcome] = field(default_factory=list)
    legacy_rows: int = 0

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.entities)

    @property
    def rejected(self) -> int:
        return sum(e.rejected for e in self.entities)


LOG_DDL = f"""
create schema if not exists {RECON_SCHEMA};
create table if not exists {RECON_SCHEMA}.{LOG_TABLE} (
  month date not null, run_id text not null, legacy_rows bigint not null, rows_landed bigint not null,
  rows_rejected bigint not null, snapshots text not null, finished_at timestamptz not null default now(),
  primary key (month, run_id))
"""


def ensure_log(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(LOG_DDL)


def record_done(dsn: str, outcome: MonthOutcome) -> None:
    snaps = ",".join(f"{e.entity}:{e.snapshot_id}" for e in outcome.entities)
    with psycopg.connect(dsn) as conn:
        conn.execute(LOG_DDL)
        conn.execute(
            f"insert into {RECON_SCHEMA}.{LOG_TABLE} (month, run_id, legacy_rows, rows_landed, rows_rejected, "
            "snapshots) values (%s, %s, %s, %s, %s, %s) on conflict (month, run_id) do update set "
            "legacy_rows = excluded.legacy_rows, rows_landed = excluded.rows_landed, "
            "rows_rejected = excluded.rows_rejected, snapshots = excluded.snapshots, finished_at = now()",
            [outcome.month, outcome.run_id, outcome.legacy_rows, outcome.rows, outcome.rejected, snaps],
        )


def clear_log(dsn: str) -> None:
    ensure_log(dsn)
    with psycopg.connect(dsn) as conn:
        conn.execute(f"truncate {RECON_SCHEMA}.{LOG_TABLE}")


def done_months(dsn: str) -> set[dt.date]:
    ensure_log(dsn)
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute(f"select distinct month from {RECON_SCHEMA}.{LOG_TABLE}")}


def pending_months(dsn: str, months: list[dt.date]) -> list[dt.date]:
    """The months of `months` with no finished migration recorded (what a resumed backfill still has to do)."""
    done = done_months(dsn)
    return [m for m in months if m not in done]


def forget(dsn: str, month: dt.date, run_ids: list[str]) -> None:
    """Remove the given runs of `month` from the ledger (after a rollback), if the ledger exists."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"create schema if not exists {RECON_SCHEMA}")
        found = conn.execute(f"select to_regclass('{RECON_SCHEMA}.{LOG_TABLE}')").fetchone()
        if found is not None and found[0] is not None:
            conn.execute(
                f"delete from {RECON_SCHEMA}.{LOG_TABLE} where month = %s and run_id = any(%s)",
                [month, sorted(run_ids)],
            )
