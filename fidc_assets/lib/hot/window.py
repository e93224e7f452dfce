"""The hot window (FIDC_HOT_WINDOW_MONTHS) and the retention that keeps PostgreSQL inside it.

The window is anchored on the newest business day PostgreSQL holds (any landing entity), not on the wall
clock: a pipeline that stops receiving files loses nothing while it is stopped, and a demo or a test on
past data keeps its data. It covers whole calendar months: the anchor's month and the `months - 1` before
it (13 → the same month of last year is still hot, for year-over-year views). A mart partition (monthly or
yearly, as dbt's `partitioned_incremental` creates them) is outside only when all of it is.

Before anything is dropped, cold (Iceberg) must hold what hot holds: for every (day, fund) the hot relation
has, the same row count and the same sums of money columns. A mismatch keeps that partition (and the mart
partitions built from its month) and the run fails with the differences; everything that matched is
dropped. A backfill of old dates later reloads them from cold (`hot.load_days_from_cold` and the dbt
window), and the next retention run drops them again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.calendar import TIMEZONE
from fidc_assets.lib.core.canonical import Entity
from fidc_assets.lib.hot.loader import SourceRule, read_cold_days
from fidc_assets.lib.hot.partitions import FUND_COLUMN, HOT_ENTITIES, LANDING_SCHEMA, drop_landing_days, landing_days
from fidc_assets.lib.hot.trusted_sql import trusted
from fidc_assets.lib.lake.catalog import Lake

MARTS_SCHEMA = "marts"
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")

# (day, fund) → (row count, sums in the order of the spec's columns)
Totals = dict[tuple[dt.date, str], tuple[int, tuple[Decimal, ...]]]


# ---------------------------------------------------------------- window math (pure)


def window_start(anchor: dt.date, months: int) -> dt.date:
    """First day kept: the first of the month `months - 1` months before the anchor's month."""
    if months < 1:
        raise ValueError(f"the hot window must be at least 1 month, got {months}")
    index = anchor.year * 12 + anchor.month - 1 - (months - 1)
    return dt.date(index // 12, index % 12 + 1, 1)


def days_outside(days: Iterable[dt.date], anchor: dt.date, months: int) -> list[dt.date]:
    start = window_start(anchor, months)
    return sorted(d for d in days if d < start)


def ranges_outside(
    ranges: Iterable[tuple[dt.date, dt.date]], anchor: dt.date, months: int
) -> list[tuple[dt.date, dt.date]]:
    """Partition ranges [start, end) lying wholly before the window (a range straddling its start is kept)."""
    start = window_start(anchor, months)
    return sorted(r for r in ranges if r[1] <= start)


# ---------------------------------------------------------------- comparing hot with cold


@dataclass(frozen=True)
class TotalsSpec:
    """How to sum a hot relation per (day, fund) so that it compares with a cold entity."""

    entity: Entity
    date_column: str
    count: str  # SQL aggregate giving the cold row count
    sums: Mapping[str, str]  # cold money column → SQL aggregate over the hot relation


def money_columns(entity: Entity) -> tuple[str, ...]:
    return tuple(f.name for f in entity.fields if f.type == canonical.MONEY)


def landing_spec(entity: Entity) -> TotalsSpec:
    assert entity.partition_date
    return TotalsSpec(entity, entity.partition_date, "count(*)", {c: f"sum({c})" for c in money_columns(entity)})


#: Marts compared directly with cold (one row per receivable-day; one row per fund-day). Other partitioned
#: marts are dropped when every landing day of their range that was still hot matched cold in this run.
MART_TOTALS: dict[str, TotalsSpec] = {
    "fct_receivable_position_daily": TotalsSpec(
        canonical.RECEIVABLE_POSITIONS,
        "reference_date",
        "count(*)",
        {"nominal_value": "sum(nominal_value)", "present_value": "sum(present_value)"},
    ),
    # the mart's money is in BRL (converted at the day's FX rate), cold's in each receivable's currency: the
    # mart is checked on its receivable count; its money came from the landing days checked above
    "mart_fund_daily": TotalsSpec(canonical.RECEIVABLE_POSITIONS, "reference_date", "sum(receivable_count)", {}),
}


def cold_totals(lake: Lake, spec: TotalsSpec, days: Iterable[dt.date], rule: SourceRule | None = None) -> Totals:
    days = sorted(set(days))
    if not days:
        return {}
    date_col = spec.entity.partition_date
    if date_col is None:
        raise ValueError(f"{spec.entity.name} has no business date: its totals cannot be compared by day")
    rows = read_cold_days(lake, spec.entity, days, rule).select([date_col, FUND_COLUMN, *spec.sums])
    grouped = rows.group_by([date_col, FUND_COLUMN]).aggregate([(date_col, "count"), *((c, "sum") for c in spec.sums)])
    out: Totals = {}
    for r in grouped.to_pylist():
        out[(r[date_col], r[FUND_COLUMN])] = (
            r[f"{date_col}_count"],
            tuple(r[f"{c}_sum"] or Decimal(0) for c in spec.sums),
        )
    return out


def hot_totals(
    conn: psycopg.Connection, relation: sql.Composable, spec: TotalsSpec, days: Iterable[dt.date] | None
) -> Totals:
    # the spec's aggregates are written in this module, over canonical column names
    aggregates = sql.SQL(", ").join(trusted(f"coalesce({a}, 0)") for a in spec.sums.values())
    query = sql.SQL("select {d}, {f}, {count}{sep}{aggs} from {rel} {where} group by 1, 2").format(
        d=sql.Identifier(spec.date_column),
        f=sql.Identifier(FUND_COLUMN),
        count=trusted(spec.count),
        sep=sql.SQL(", " if spec.sums else ""),
        aggs=aggregates,
        rel=relation,
        where=sql.SQL("where {} = any(%s)").format(sql.Identifier(spec.date_column))
        if days is not None
        else sql.SQL(""),
    )
    params = [sorted(set(days))] if days is not None else []
    return {(r[0], r[1]): (int(r[2]), tuple(r[3:])) for r in conn.execute(query, params).fetchall()}


def differences(spec: TotalsSpec, hot: Totals, cold: Totals) -> dict[dt.date, list[str]]:
    """Per day, what hot holds that cold does not hold the same (cold may hold more funds than hot)."""
    out: dict[dt.date, list[str]] = {}
    for (day, fund), (count, sums) in sorted(hot.items()):
        if (day, fund) not in cold:
            if count == 0:  # e.g. a mart row for a fund-day with flows but no stock: nothing cold must hold
                continue
            out.setdefault(day, []).append(f"fund {fund}: hot has {count} rows, cold has none")
            continue
        c_count, c_sums = cold[(day, fund)]
        if count != c_count:
            out.setdefault(day, []).append(f"fund {fund}: {count} rows hot, {c_count} cold")
        for name, h, c in zip(spec.sums, sums, c_sums, strict=True):
            if Decimal(h) != Decimal(c):
                out.setdefault(day, []).append(
                    f"fund {fund}: sum({name}) {h} hot, {c} cold (diff {Decimal(h) - Decimal(c)})"
                )
    return out


# ---------------------------------------------------------------- retention


@dataclass
class RetentionReport:
    anchor: dt.date | None = None
    window_start: dt.date | None = None
    dropped_landing: dict[str, list[dt.date]] = field(default_factory=dict)
    dropped_marts: dict[str, list[str]] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # what was outside but kept, and why

    @property
    def ok(self) -> bool:
        return not self.kept


class HotColdMismatch(RuntimeError):
    def __init__(self, report: RetentionReport):
        self.report = report
        super().__init__(
            "hot partitions outside the window were kept because cold (Iceberg) does not hold the same data:\n"
            + "\n".join(f"  - {k}" for k in report.kept)
        )


def mart_partitions(conn: psycopg.Connection) -> dict[str, dict[str, tuple[dt.date, dt.date]]]:
    """Partitioned tables of the marts schema → their partitions → [start, end) ranges."""
    rows = conn.execute(
        "select p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i "
        "join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent "
        "join pg_namespace n on n.oid = p.relnamespace where n.nspname = %s and p.relkind = 'p'",
        [MARTS_SCHEMA],
    ).fetchall()
    out: dict[str, dict[str, tuple[dt.date, dt.date]]] = {}
    for parent, child, bound in rows:
        m = _BOUND.search(bound or "")
        if m:  # a default partition has no range: never dropped by the window
            low, high = m.groups()
            out.setdefault(parent, {})[child] = (dt.date.fromisoformat(low), dt.date.fromisoformat(high))
    return out


def landing_held(conn: psycopg.Connection) -> dict[Entity, dict[dt.date, str]]:
    held = {}
    for entity in HOT_ENTITIES:
        exists = conn.execute(
            "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and c.relkind = 'p'",
            [LANDING_SCHEMA, entity.name],
        ).fetchone()
        held[entity] = landing_days(conn, entity) if exists else {}
    return held


def apply_retention(
    dsn: str, lake: Lake, months: int, anchor: dt.date | None = None, rule: SourceRule | None = None
) -> RetentionReport:
    """Drop the landing day partitions and mart partitions outside the window that cold holds.

    Raises `HotColdMismatch` (after dropping everything that did match) when some partition was kept."""
    report = RetentionReport()
    with psycopg.connect(dsn) as conn:
        held = landing_held(conn)
        # the newest day held, but never after today: one row mistyped as 2099 must not push every
        # partition out of the window
        today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
        newest = [d for days in held.values() for d in days if d <= today]
        report.anchor = anchor or (max(newest) if newest else None)
        if report.anchor is None:
            return report
        report.window_start = window_start(report.anchor, months)
        bad_days: set[dt.date] = set()
        for entity in held:
            # the loader's lock: a rehydration of this entity cannot run between the check and the drop
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [f"{LANDING_SCHEMA}.{entity.name}"])
            days = landing_days(conn, entity)
            old = days_outside(days, report.anchor, months)
            if not old:
                conn.commit()
                continue
            spec = landing_spec(entity)
            relation = sql.SQL("{}.{}").format(sql.Identifier(LANDING_SCHEMA), sql.Identifier(entity.name))
            diffs = differences(spec, hot_totals(conn, relation, spec, old), cold_totals(lake, spec, old, rule))
            for day, lines in sorted(diffs.items()):
                report.kept.append(f"landing.{days[day]} ({day}): " + "; ".join(lines))
            bad_days |= set(diffs)
            report.dropped_landing[entity.name] = drop_landing_days(conn, entity, [d for d in old if d not in diffs])
            conn.commit()
        for parent, partitions in sorted(mart_partitions(conn).items()):
            spec = MART_TOTALS.get(parent)
            for lo, hi in ranges_outside(partitions.values(), report.anchor, months):
                name = next(n for n, r in partitions.items() if r == (lo, hi))
                if any(lo <= d < hi for d in bad_days):
                    report.kept.append(f"{MARTS_SCHEMA}.{name}: landing days of its range do not match cold")
                    continue
                if spec is not None:
                    relation = sql.SQL("{}.{}").format(sql.Identifier(MARTS_SCHEMA), sql.Identifier(name))
                    hot = hot_totals(conn, relation, spec, None)
                    diffs = differences(spec, hot, cold_totals(lake, spec, {d for d, _ in hot}, rule))
                    if diffs:
                        lines = [f"{d}: {'; '.join(v)}" for d, v in sorted(diffs.items())]
                        report.kept.append(f"{MARTS_SCHEMA}.{name}: " + " | ".join(lines))
                        continue
                conn.execute(sql.SQL("drop table {}.{}").format(sql.Identifier(MARTS_SCHEMA), sql.Identifier(name)))
                report.dropped_marts.setdefault(parent, []).append(name)
            conn.commit()
    if report.kept:
        raise HotColdMismatch(report)
    return report
