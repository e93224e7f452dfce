"""Reconciliation of the legacy against the lake (and the hot marts), per fund and date, month by month.

For every fund-day of a month three readings are put side by side:

* the legacy, as it is (raw rows, defects included): row count and sums of nominal, present value and PDD of
  its stock table, and the fund's PL as it stored it (queries in the mapping's `recon` section);
* the lake: the same figures over ``source = 'legacy'`` rows of `lake.receivable_positions`, PL as the sum
  of the classes' net assets in `lake.fund_quotas`;
* the marts (`marts.mart_fund_daily`) for dates in the hot window, when the mart exists, on fund-days the
  legacy holds and is the source that counts for (before the cutover).

``diff = legacy - lake``. A known defect of the legacy (its `known_defects` table) predicts part of the
difference: a duplicated or cedente-less row is one row and its values (it is quarantined, not landed); a
wrong PL is the lake's PL times the stored factor minus the lake's PL. ``residual = diff - predicted``. A
fund-day is `match` when no defect touches it and every diff is within the tolerance, `explained` when
defects touch it and every residual is within the tolerance (its `reason` says which), `unexplained`
otherwise. Great Expectations validates the table (suite `recon_legacy_vs_lake`: every residual within the
tolerance, every status match or explained) and renders Data Docs; the rows go to PostgreSQL table
``recon.recon_legacy_vs_lake``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa

from fidc_assets.lib.core.canonical import FUND_QUOTAS, RECEIVABLE_POSITIONS
from fidc_assets.lib.core.months import next_month
from fidc_assets.lib.hot.trusted_sql import trusted
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.gx_runs import gx_context, register_checkpoint, run_checkpoint
from fidc_assets.lib.legacy.cutover import LEGACY, CutoverRule, rule_from
from fidc_assets.lib.legacy.ledger import RECON_SCHEMA, RECON_TABLE
from fidc_assets.lib.legacy.mapping import LegacySpec, default_spec, month_params
from fidc_assets.lib.legacy.migration import month_filter

DEFAULT_TOLERANCE = Decimal("0.01")
MEASURES = ("nominal", "present", "pdd", "pl")
GX_DATASOURCE = "fidc_recon"
GX_ASSET = RECON_TABLE
GX_SUITE = RECON_TABLE
GX_VALIDATION = "legacy_recon"
GX_CHECKPOINT = "legacy_recon"
ZERO = Decimal("0.00")
CENTS = Decimal("0.01")

Key = tuple[str, dt.date]


@dataclass
class Figures:
    rows: int = 0
    nominal: Decimal = ZERO
    present: Decimal = ZERO
    pdd: Decimal = ZERO
    pl: Decimal | None = None


@dataclass(frozen=True)
class KnownDefect:
    kind: str
    fund_cnpj: str
    reference_date: dt.date
    legacy_row_id: int | None
    pl_factor: Decimal | None
    detail: str


def _cents(v) -> Decimal:
    return (Decimal(v) * CENTS).quantize(CENTS) if v is not None else ZERO


def legacy_figures(legacy_dsn: str, month: dt.date, spec: LegacySpec) -> dict[Key, Figures]:
    out: dict[Key, Figures] = defaultdict(Figures)
    params = month_params(month)
    with psycopg.connect(legacy_dsn) as conn:
        for fund, day, rows, nominal, present, pdd in conn.execute(trusted(spec.recon.positions), params):
            f = out[(fund, day)]
            f.rows, f.nominal, f.present, f.pdd = int(rows), _cents(nominal), _cents(present), _cents(pdd)
        for fund, day, pl in conn.execute(trusted(spec.recon.pl), params):
            out[(fund, day)].pl = _cents(pl)
    return out


def lake_figures(lake: Lake, month: dt.date) -> dict[Key, Figures]:
    out: dict[Key, Figures] = defaultdict(Figures)
    pos = lake.read(
        RECEIVABLE_POSITIONS,
        month_filter(RECEIVABLE_POSITIONS, month),
        ("fund_cnpj", "reference_date", "nominal_value", "present_value", "pdd_value"),
    )
    if pos.num_rows:
        pos = pos.set_column(4, "pdd_value", pos["pdd_value"].fill_null(pa.scalar(Decimal("0"))))
        agg = pos.group_by(["fund_cnpj", "reference_date"], use_threads=False).aggregate(
            [("nominal_value", "count"), ("nominal_value", "sum"), ("present_value", "sum"), ("pdd_value", "sum")]
        )
        for r in agg.to_pylist():
            f = out[(r["fund_cnpj"], r["reference_date"])]
            f.rows, f.nominal = r["nominal_value_count"], r["nominal_value_sum"]
            f.present, f.pdd = r["present_value_sum"], r["pdd_value_sum"]
    quotas = lake.read(FUND_QUOTAS, month_filter(FUND_QUOTAS, month), ("fund_cnpj", "reference_date", "net_assets"))
    if quotas.num_rows:
        agg = quotas.group_by(["fund_cnpj", "reference_date"], use_threads=False).aggregate([("net_assets", "sum")])
        for r in agg.to_pylist():
            out[(r["fund_cnpj"], r["reference_date"])].pl = r["net_assets_sum"]
    return out


def mart_figures(
    dsn: str | None, month: dt.date, window_start: dt.date | None = None
) -> tuple[dict[Key, Figures], set[dt.date]]:
    """`marts.mart_fund_daily` for the month's dates the marts hold (from `window_start` when given), and
    those dates. The marts hold the hot window (older partitions are dropped by the retention): a date with
    mart rows is compared, and a fund-day missing on such a date counts as zero, never as "not compared"."""
    if dsn is None or (window_start is not None and next_month(month) <= window_start):
        return {}, set()
    start = max(month, window_start) if window_start is not None else month
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("select to_regclass('marts.mart_fund_daily')").fetchone()
        if exists is None or exists[0] is None:
            return {}, set()
        rows = conn.execute(
            "select fund_cnpj, reference_date, receivable_count, nominal_value, present_value, pdd_value "
            "from marts.mart_fund_daily where reference_date >= %s and reference_date < %s",
            [start, next_month(month)],
        ).fetchall()
    figures = {(r[0], r[1]): Figures(int(r[2]), r[3], r[4], r[5] or ZERO) for r in rows}
    return figures, {r[1] for r in rows}


def known_defects(legacy_dsn: str, month: dt.date, spec: LegacySpec) -> tuple[list[KnownDefect], dict[int, Figures]]:
    """The month's documented defects, and the values of the legacy rows they name."""
    with psycopg.connect(legacy_dsn) as conn:
        exists = conn.execute("select to_regclass('known_defects')").fetchone()
        if exists is None or exists[0] is None:
            return [], {}
        defects = [KnownDefect(*r) for r in conn.execute(trusted(spec.recon.known_defects), month_params(month))]
        ids = [d.legacy_row_id for d in defects if d.legacy_row_id is not None]
        values: dict[int, Figures] = {}
        if ids:
            for row_id, nominal, present, pdd in conn.execute(trusted(spec.recon.row_values), {"ids": ids}):
                values[row_id] = Figures(1, _cents(nominal), _cents(present), _cents(pdd))
    return defects, values


def _within(value: Decimal | int | None, tolerance: Decimal) -> bool:
    return value is None or abs(value) <= tolerance


def reconcile_month(
    lake: Lake,
    legacy_dsn: str,
    month: dt.date,
    spec: LegacySpec | None = None,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    dsn: str | None = None,
    window_start: dt.date | None = None,
    rule: CutoverRule | None = None,
) -> list[dict]:
    """One row per fund-day of the month found in the legacy or in the lake's legacy rows (see the module doc).

    The marts are compared only on fund-days the legacy holds and is the source that counts for (before the
    fund's cutover, by `rule`; default the mapping's date). After the cutover the marts hold the custodian
    files' figures, and how those differ from the legacy's is the shadow comparison's business
    (`lib.legacy.shadow`), not a defect; a fund-day the legacy does not hold at all is the custodian files'
    in the marts (the cutover rule keeps a source that has no rival), nothing the legacy can vouch for."""
    spec = spec or default_spec()
    rule = rule or rule_from(spec.cutover_date)
    legacy = legacy_figures(legacy_dsn, month, spec)
    lake_f = lake_figures(lake, month)
    marts, mart_dates = mart_figures(dsn, month, window_start)
    defects, row_values = known_defects(legacy_dsn, month, spec)
    by_day: dict[Key, list[KnownDefect]] = defaultdict(list)
    for d in defects:
        by_day[(d.fund_cnpj, d.reference_date)].append(d)
    out = []
    for key in sorted(set(legacy) | set(lake_f)):
        lg, lk, mt = legacy.get(key, Figures()), lake_f.get(key, Figures()), marts.get(key)
        if mt is None and key[1] in mart_dates:  # the marts hold the date but not this fund-day
            mt = Figures(0, ZERO, ZERO, ZERO)
        if key not in legacy or rule.source_for(*key) != LEGACY:  # the marts count the custodian files here
            mt = None
        predicted = Figures(0, ZERO, ZERO, ZERO, ZERO)
        for d in by_day.get(key, []):
            if d.legacy_row_id is not None and d.legacy_row_id in row_values:
                v = row_values[d.legacy_row_id]
                predicted.rows += 1
                predicted.nominal += v.nominal
                predicted.present += v.present
                predicted.pdd += v.pdd
            if d.pl_factor is not None and lk.pl is not None:
                predicted.pl = (predicted.pl or ZERO) + (lk.pl * d.pl_factor - lk.pl).quantize(CENTS)
        diff = {
            "rows": lg.rows - lk.rows,
            "nominal": lg.nominal - lk.nominal,
            "present": lg.present - lk.present,
            "pdd": lg.pdd - lk.pdd,
            "pl": None if lg.pl is None and lk.pl is None else (lg.pl or ZERO) - (lk.pl or ZERO),
        }
        residual = {
            "rows": diff["rows"] - predicted.rows,
            **{m: None if diff[m] is None else diff[m] - getattr(predicted, m) for m in MEASURES},
        }
        mart_residual: dict[str, Decimal | int | None] = dict.fromkeys(("rows", *MEASURES[:3]))
        if mt is not None:
            mart_residual = {
                "rows": lg.rows - mt.rows - predicted.rows,
                **{m: getattr(lg, m) - getattr(mt, m) - getattr(predicted, m) for m in MEASURES[:3]},
            }
        ok = residual["rows"] == 0 and all(_within(residual[m], tolerance) for m in MEASURES)
        ok = ok and (mt is None or (mart_residual["rows"] == 0 and all(_within(mart_residual[m], tolerance)
                                                                         for m in MEASURES[:3])))  # fmt: skip
        kinds = sorted({d.kind for d in by_day.get(key, [])})
        status = ("explained" if kinds else "match") if ok else "unexplained"
        reason = "; ".join(d.detail for d in by_day.get(key, [])) or None
        if status == "unexplained":
            what = ", ".join(m for m in ("rows", *MEASURES) if not _within(residual[m], tolerance)) or "marts"
            unexplained = f"difference in {what} that no known defect explains"
            reason = f"{reason} — and a {unexplained}" if reason else unexplained[0].upper() + unexplained[1:]
        out.append(
            {
                "month": month,
                "fund_cnpj": key[0],
                "reference_date": key[1],
                "legacy_rows": lg.rows,
                "lake_rows": lk.rows,
                "mart_rows": None if mt is None else mt.rows,
                **{f"legacy_{m}": getattr(lg, m) for m in MEASURES},
                **{f"lake_{m}": getattr(lk, m) for m in MEASURES},
                **{f"mart_{m}": None if mt is None else getattr(mt, m) for m in MEASURES[:3]},
                **{f"diff_{m}": diff[m] for m in ("rows", *MEASURES)},
                **{f"residual_{m}": residual[m] for m in ("rows", *MEASURES)},
                **{f"mart_residual_{m}": mart_residual[m] for m in ("rows", *MEASURES[:3])},
                "has_defect": bool(kinds),
                "defects": ",".join(kinds) or None,
                "status": status,
                "reason": reason,
            }
        )
    return out


# ----------------------------------------------------------------------------------------------------------
# PostgreSQL table

_MONEY = "numeric(20,2)"
RECON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("month", "date not null"),
    ("fund_cnpj", "text not null"),
    ("reference_date", "date not null"),
    ("legacy_rows", "integer"),
    ("lake_rows", "integer"),
    ("mart_rows", "integer"),
    *((f"{side}_{m}", _MONEY) for side in ("legacy", "lake") for m in MEASURES),
    *((f"mart_{m}", _MONEY) for m in MEASURES[:3]),
    ("diff_rows", "integer"),
    *((f"diff_{m}", _MONEY) for m in MEASURES),
    ("residual_rows", "integer"),
    *((f"residual_{m}", _MONEY) for m in MEASURES),
    ("mart_residual_rows", "integer"),
    *((f"mart_residual_{m}", _MONEY) for m in MEASURES[:3]),
    ("has_defect", "boolean not null"),
    ("defects", "text"),
    ("status", "text not null"),
    ("reason", "text"),
    ("run_id", "text"),
    ("checked_at", "timestamptz not null default now()"),
)


def write_recon(dsn: str, rows: list[dict], months: list[dt.date], run_id: str | None = None) -> int:
    """Replace the months' rows of recon.recon_legacy_vs_lake in one transaction."""
    cols = [c for c, _ in RECON_COLUMNS if c != "checked_at"]
    ddl = ",\n  ".join(f"{c} {t}" for c, t in RECON_COLUMNS)
    with psycopg.connect(dsn) as conn:
        # built from this module's constants (the schema, the table, RECON_COLUMNS): nothing from the data
        conn.execute(trusted(f"create schema if not exists {RECON_SCHEMA}"))
        conn.execute(
            trusted(
                f"create table if not exists {RECON_SCHEMA}.{RECON_TABLE} (\n  {ddl},\n"
                "  primary key (fund_cnpj, reference_date))"
            )
        )
        conn.execute(trusted(f"delete from {RECON_SCHEMA}.{RECON_TABLE} where month = any(%s)"), [months])
        copy = trusted(f"copy {RECON_SCHEMA}.{RECON_TABLE} ({', '.join(cols)}) from stdin")
        with conn.cursor() as cur, cur.copy(copy) as cp:
            for r in rows:
                cp.write_row([run_id if c == "run_id" else r.get(c) for c in cols])
    return len(rows)


# ----------------------------------------------------------------------------------------------------------
# Great Expectations


@dataclass(frozen=True)
class ReconValidation:
    success: bool
    fund_days: int
    by_status: dict[str, int]
    failed_expectations: tuple[str, ...]
    data_docs: str | None


def _dataframe(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows, columns=pd.Index([c for c, _ in RECON_COLUMNS if c not in ("run_id", "checked_at")]))
    for c in df.columns:
        if c.startswith(("legacy_", "lake_", "mart_", "diff_", "residual_", "mart_residual_")):
            df[c] = pd.to_numeric(df[c].map(lambda v: None if v is None else float(v)), errors="coerce")
    return df


def validate_recon(
    rows: list[dict], root: Path, tolerance: Decimal = DEFAULT_TOLERANCE, data_docs: bool = True
) -> ReconValidation:
    """Run the `legacy_recon` checkpoint (suite `recon_legacy_vs_lake`) of the GX context at `root` on the rows;
    updates Data Docs."""
    context = gx_context(root)
    # floats carry the money here: the tolerance gets half a centavo of slack for their rounding
    slack = float(tolerance) + 0.005
    params = {
        "batch_parameters": {"dataframe": _dataframe(rows)},
        "expectation_parameters": {"min_diff": -slack, "max_diff": slack},
    }
    run = run_checkpoint(context, GX_CHECKPOINT, GX_VALIDATION, params, data_docs)
    by_status: dict[str, int] = defaultdict(int)
    for r in rows:
        by_status[r["status"]] += 1
    return ReconValidation(run.success, len(rows), dict(by_status), run.failed, run.data_docs)


def build_recon_gx_config(root: Path) -> None:
    """(Re)create the committed data source, suite, validation definition and checkpoint of the recon."""
    import great_expectations as gx

    # GX's documented names, re-exported without __all__: pyright reads them as private imports
    from great_expectations.expectations import (
        ExpectColumnValuesToBeBetween,  # pyright: ignore[reportPrivateImportUsage]
        ExpectColumnValuesToBeInSet,  # pyright: ignore[reportPrivateImportUsage]
        ExpectCompoundColumnsToBeUnique,  # pyright: ignore[reportPrivateImportUsage]
    )

    context = gx_context(root)
    suite = gx.ExpectationSuite(name=GX_SUITE)
    min_diff, max_diff = {"$PARAMETER": "min_diff"}, {"$PARAMETER": "max_diff"}  # the tolerance, given at run time
    suite.add_expectation(
        ExpectColumnValuesToBeInSet(
            column="status",
            value_set=["match", "explained"],
            description="every fund-day equal to the legacy, or different only by a known defect",
        )
    )
    suite.add_expectation(ExpectColumnValuesToBeBetween(column="residual_rows", min_value=0, max_value=0))
    suite.add_expectation(ExpectColumnValuesToBeBetween(column="mart_residual_rows", min_value=0, max_value=0))
    for m in MEASURES:
        suite.add_expectation(
            ExpectColumnValuesToBeBetween(column=f"residual_{m}", min_value=min_diff, max_value=max_diff)
        )
    for m in MEASURES[:3]:
        suite.add_expectation(
            ExpectColumnValuesToBeBetween(column=f"mart_residual_{m}", min_value=min_diff, max_value=max_diff)
        )
    for m in ("rows", *MEASURES):
        # where no known defect touches a fund-day, the lake equals the legacy outright
        low, high = (0, 0) if m == "rows" else (min_diff, max_diff)
        suite.add_expectation(
            ExpectColumnValuesToBeBetween(
                column=f"diff_{m}",
                row_condition="has_defect == False",
                condition_parser="pandas",
                min_value=low,
                max_value=high,
            )
        )
    suite.add_expectation(ExpectCompoundColumnsToBeUnique(column_list=["fund_cnpj", "reference_date"]))
    register_checkpoint(context, GX_DATASOURCE, GX_ASSET, suite, GX_VALIDATION, GX_CHECKPOINT)


def recon_months(
    lake: Lake,
    legacy_dsn: str,
    dsn: str,
    months: list[dt.date],
    spec: LegacySpec | None = None,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    window_start: dt.date | None = None,
    run_id: str | None = None,
    data_docs: bool = True,
    *,
    gx_root: Path,
    rule: CutoverRule | None = None,
) -> tuple[list[dict], ReconValidation]:
    """Reconcile, store in PostgreSQL and validate with GX (the context at `gx_root`) a set of months (one
    validation for all); `rule`: the cutover (default the mapping's date), see `reconcile_month`."""
    rows: list[dict] = []
    for m in months:
        rows.extend(reconcile_month(lake, legacy_dsn, m, spec, tolerance, dsn, window_start, rule))
    write_recon(dsn, rows, months, run_id)
    return rows, validate_recon(rows, gx_root, tolerance, data_docs=data_docs)


def recon_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)
