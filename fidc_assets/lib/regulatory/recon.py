"""`recon_cvm_monthly`: every fund-month of `marts.mart_fund_monthly` reconciled with the fund's CVM
Informe Mensal in the lake, stored as `marts.mart_fund_regulatory` and validated by Great Expectations.

Python rather than a dbt model, because the two sides live in different stores (the reports in Iceberg, the
marts in PostgreSQL) and the rules (`compare`) are branches on published defects (a quota value off by a
power of ten, an absent fund) that read and test better as small functions than as SQL CASE ladders;
the result is one small table per month (a row per fund, month and figure). The mart is written in one
transaction (the months' rows replaced) and handed to `reference.apply_bi_access`, the function every dbt
mart's post-hook calls: BI roles read it under the same tenant row security as the other marts.

GX suite `recon_cvm_monthly` (checkpoint `cvm_recon`, with Data Docs): statuses from the four known ones,
every non-match with a reason, one row per fund, month and figure, and no `unexplained` PL: that last
expectation is what the blocking asset check stands on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from fidc_assets.lib.hot.trusted_sql import trusted
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.gx_runs import gx_context, register_checkpoint, run_checkpoint
from fidc_assets.lib.regulatory.compare import STATUSES, ReconRow, compare_month
from fidc_assets.lib.regulatory.figures import cvm_figures, lake_figures
from fidc_assets.lib.regulatory.spec import CvmSpec

MART = "marts.mart_fund_regulatory"
COLUMNS = (
    ("fund_cnpj", "text not null"),
    ("reference_month", "date not null"),
    ("figure", "text not null"),
    ("lake_value", "numeric(28, 8)"),
    ("cvm_value", "numeric(28, 8)"),
    ("difference", "numeric(28, 8)"),
    ("status", "text not null"),
    ("reason", "text not null"),
    ("position_date", "date"),
    ("dt_comptc", "date"),
    ("is_month_complete", "boolean"),
    ("checked_at", "timestamptz not null"),
)
GX_SUITE = "recon_cvm_monthly"
GX_DATASOURCE = "cvm_recon_frames"
GX_ASSET = "cvm_recon_rows"
GX_VALIDATION = "cvm_recon"
GX_CHECKPOINT = "cvm_recon"


def registry_funds(dsn: str) -> set[str]:
    """The funds of the registry (`reference.funds`), the only ones of a publication that matter here."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("select to_regclass('reference.funds')").fetchone() == (None,):
            return set()
        return {r[0] for r in conn.execute("select fund_cnpj from reference.funds")}


def reconcile(lake: Lake, spec: CvmSpec, dsn: str, months: list[dt.date]) -> list[ReconRow]:
    registry = registry_funds(dsn)
    rows: list[ReconRow] = []
    for month in months:
        rows.extend(compare_month(month, lake_figures(dsn, month), cvm_figures(lake, spec, month), registry))
    return rows


def write_mart(dsn: str, rows: list[ReconRow], months: list[dt.date], now: dt.datetime | None = None) -> int:
    """Replace the months' rows of marts.mart_fund_regulatory in one transaction, with BI access applied."""
    now = now or dt.datetime.now(dt.UTC)
    ddl = ",\n  ".join(f"{c} {t}" for c, t in COLUMNS)
    names = [c for c, _ in COLUMNS]
    with psycopg.connect(dsn) as conn:
        # built from this module's constants only
        conn.execute("create schema if not exists marts")
        conn.execute(
            trusted(
                f"create table if not exists {MART} (\n  {ddl},\n  primary key (fund_cnpj, reference_month, figure))"
            )
        )
        conn.execute(trusted(f"delete from {MART} where reference_month = any(%s)"), [months])
        with conn.cursor() as cur, cur.copy(trusted(f"copy {MART} ({', '.join(names)}) from stdin")) as cp:
            for r in rows:
                cp.write_row(
                    [r.fund_cnpj, r.reference_month, r.figure, r.lake_value, r.cvm_value, r.difference, r.status,
                     r.reason, r.position_date, r.dt_comptc, r.is_month_complete, now]
                )  # fmt: skip
        if conn.execute("select to_regprocedure('reference.apply_bi_access(regclass)')").fetchone() != (None,):
            conn.execute("select reference.apply_bi_access(%s::regclass)", [MART])
    return len(rows)


# ----------------------------------------------------------------------------------------------------------
# Great Expectations


@dataclass(frozen=True)
class CvmReconValidation:
    success: bool
    fund_months: int
    rows: int
    by_status: dict[str, int]
    unexplained_pl: int
    failed_expectations: tuple[str, ...]
    data_docs: str | None


def _dataframe(rows: list[ReconRow]):
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "fund_cnpj": r.fund_cnpj,
                "reference_month": r.reference_month.isoformat(),
                "figure": r.figure,
                "status": r.status,
                "reason": r.reason or None,
            }
            for r in rows
        ],  # fmt: skip
        columns=pd.Index(["fund_cnpj", "reference_month", "figure", "status", "reason"]),
    )


def build_cvm_recon_gx_config(root: Path) -> None:
    """(Re)create the data source, suite, validation definition and checkpoint of the CVM reconciliation."""
    import great_expectations as gx
    from great_expectations.expectations import (
        ExpectColumnValuesToBeInSet,  # pyright: ignore[reportPrivateImportUsage]
        ExpectColumnValuesToNotBeNull,  # pyright: ignore[reportPrivateImportUsage]
        ExpectCompoundColumnsToBeUnique,  # pyright: ignore[reportPrivateImportUsage]
    )

    context = gx_context(root)
    suite = gx.ExpectationSuite(name=GX_SUITE)
    suite.add_expectation(ExpectColumnValuesToBeInSet(column="status", value_set=list(STATUSES)))
    suite.add_expectation(
        ExpectColumnValuesToBeInSet(
            column="status",
            value_set=["match", "explained", "published_data_defect"],
            row_condition='figure == "pl"',
            condition_parser="pandas",
            description="no unexplained PL difference: the blocking check of mart_fund_regulatory",
        )
    )
    suite.add_expectation(
        ExpectColumnValuesToNotBeNull(column="reason", row_condition='status != "match"', condition_parser="pandas")
    )
    suite.add_expectation(ExpectCompoundColumnsToBeUnique(column_list=["fund_cnpj", "reference_month", "figure"]))
    register_checkpoint(context, GX_DATASOURCE, GX_ASSET, suite, GX_VALIDATION, GX_CHECKPOINT)


def validate(rows: list[ReconRow], root: Path, data_docs: bool = True) -> CvmReconValidation:
    """Run the `cvm_recon` checkpoint of the GX context at `root` on the rows (updates Data Docs)."""
    context = gx_context(root)
    params: dict[str, Any] = {"batch_parameters": {"dataframe": _dataframe(rows)}}
    run = run_checkpoint(context, GX_CHECKPOINT, GX_VALIDATION, params, data_docs)
    by_status = Counter(r.status for r in rows)
    unexplained_pl = sum(1 for r in rows if r.figure == "pl" and r.status == "unexplained")
    fund_months = len({(r.fund_cnpj, r.reference_month) for r in rows})
    return CvmReconValidation(
        run.success, fund_months, len(rows), dict(by_status), unexplained_pl, run.failed, run.data_docs
    )


def recon_cvm_monthly(
    lake: Lake, spec: CvmSpec, dsn: str, months: list[dt.date], gx_root: Path, data_docs: bool = True
) -> tuple[list[ReconRow], CvmReconValidation]:
    """Reconcile the months, write the mart, validate with GX."""
    rows = reconcile(lake, spec, dsn, months)
    write_mart(dsn, rows, months)
    return rows, validate(rows, gx_root, data_docs)
