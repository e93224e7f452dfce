"""The figures each side of the reconciliation holds for a fund-month: what the fund reported to the CVM
(`CvmFigures`, from the lake's `cvm_tab_*` tables) and what the lakehouse computed (`LakeFigures`, from the
marts), as typed values with one meaning each (domain note, "Which tab says what")."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

from fidc_assets.lib.core.months import next_month
from fidc_assets.lib.hot.trusted_sql import trusted
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.regulatory.landing import months_filter
from fidc_assets.lib.regulatory.spec import CvmSpec
from fidc_assets.lib.regulatory.tables import tab_entity

#: The overdue buckets by days overdue, in the marts' names (aging_bucket_names in dbt_project/macros) and
#: the CVM's (tabs V/VI B1..B10).
OVERDUE_BUCKETS = (
    "overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_91_120", "overdue_121_150", "overdue_151_180",
    "overdue_181_360", "overdue_361_720", "overdue_721_1080", "overdue_over_1080",
)  # fmt: skip
_CVM_BUCKET = ("30", "60", "90", "120", "150", "180", "360", "720", "1080", "MAIOR_1080")


@dataclass(frozen=True)
class QuotaClass:
    label: str  # TAB_X_CLASSE_SERIE as published
    quantity: Decimal | None
    value: Decimal | None

    @property
    def kind(self) -> str:
        """senior | mezzanine | junior, by the label: `Mezanino` anywhere is mezzanine, else `Subordinad` is
        junior, else senior ('Subclasse Subordinada Cota Mezanino | Serie 1' is mezzanine)."""
        text = self.label.lower()
        if "mezanino" in text:
            return "mezzanine"
        return "junior" if "subordinad" in text else "senior"

    @property
    def net_assets(self) -> Decimal | None:
        if self.quantity is None or self.value is None:
            return None
        return (self.quantity * self.value).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class QuotaOperation:
    """One row of tab X_4: the month's quota operations of one class (`Captações no Mês`, `Amortizações`,
    redemptions), with the quotas involved (TAB_X_QT_COTA) and the amount (TAB_X_VL_TOTAL)."""

    operation: str  # TAB_X_TP_OPER as published
    label: str  # TAB_X_CLASSE_SERIE
    total: Decimal | None
    quantity: Decimal | None

    @property
    def kind(self) -> str:
        """issue | redemption | amortization | other, by the operation's name (accents and case ignored)."""
        text = unicodedata.normalize("NFKD", self.operation).encode("ascii", "ignore").decode().lower()
        if text.startswith("capta"):
            return "issue"
        if text.startswith("resgat"):
            return "redemption"
        return "amortization" if text.startswith("amortiza") else "other"


@dataclass
class CvmFigures:
    """One fund (or class) and month as published; None where the tab had no row or the field was empty."""

    cnpj: str
    dt_comptc: dt.date | None = None
    pl: Decimal | None = None  # IV TAB_IV_A_VL_PL
    assets: Decimal | None = None  # I TAB_I_VL_ATIVO
    receivables_risk: Decimal | None = None  # I TAB_I2A_VL_DIRCRED_RISCO
    receivables_no_risk: Decimal | None = None  # I TAB_I2B_VL_DIRCRED_SEM_RISCO
    fidc_quotas: Decimal | None = None  # I TAB_I2H_VL_COTA_FIDC
    other_securities: Decimal | None = None  # I TAB_I2C6_VL_OUTRO
    pdd_risk: Decimal | None = None  # I TAB_I2A11_VL_REDUCAO_RECUP
    pdd_no_risk: Decimal | None = None  # I TAB_I2B11_VL_REDUCAO_RECUP
    overdue: list[Decimal | None] = field(default_factory=lambda: [None] * 10)  # V + VI B1..B10
    acquisitions_count: int | None = None  # VII A1_1 + A2_1
    acquisitions_value: Decimal | None = None  # VII A1_2 + A2_2
    classes: list[QuotaClass] = field(default_factory=list)  # X_2
    quota_operations: list[QuotaOperation] = field(default_factory=list)  # X_4
    publications: set[str] = field(default_factory=set)  # sha256 of the zips the rows came from

    @property
    def reported(self) -> bool:
        return self.dt_comptc is not None


@dataclass(frozen=True)
class LakeFigures:
    """One fund-month of `marts.mart_fund_monthly`, with the overdue stock at face value by bucket from
    `marts.fct_receivable_position_daily` on the same position date."""

    cnpj: str
    position_date: dt.date | None
    is_month_complete: bool
    pl: Decimal | None
    pl_senior: Decimal | None
    pl_mezzanine: Decimal | None
    pl_junior: Decimal | None
    subordination: Decimal | None  # subordination_junior_mezzanine_ratio
    present_value: Decimal | None
    pdd: Decimal | None
    overdue_pv: tuple[Decimal | None, ...]
    overdue_nominal: tuple[Decimal, ...]
    acquisitions_count: int | None
    acquisitions_value: Decimal | None
    #: Σ over the classes of the change of their quota count over the month (landing.fund_quotas: the last
    #: position of the month minus the last before it, or the month's first when the hot window has none);
    #: None when the hot side holds no quota rows for the fund-month.
    quota_count_change: Decimal | None = None


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None:
        return b
    return a if b is None else a + b


def _add_count(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


def cvm_figures(lake: Lake, spec: CvmSpec, month: dt.date) -> dict[str, CvmFigures]:
    """Every fund (or class) the lake's CVM tables hold for `month`, by CNPJ (14 digits)."""
    where = months_filter([month])
    out: dict[str, CvmFigures] = {}

    def rows(tab: str):
        for r in lake.read(tab_entity(spec, tab), where).to_pylist():
            fig = out.setdefault(r["cnpj_fundo_classe"], CvmFigures(r["cnpj_fundo_classe"]))
            fig.dt_comptc = r["dt_comptc"]
            fig.publications.add(r["source_zip_sha256"])
            yield fig, r

    for fig, r in rows("IV"):
        fig.pl = r["tab_iv_a_vl_pl"]
    for fig, r in rows("I"):
        fig.assets = r["tab_i_vl_ativo"]
        fig.receivables_risk, fig.receivables_no_risk = r["tab_i2a_vl_dircred_risco"], r["tab_i2b_vl_dircred_sem_risco"]
        fig.fidc_quotas, fig.other_securities = r["tab_i2h_vl_cota_fidc"], r["tab_i2c6_vl_outro"]
        fig.pdd_risk, fig.pdd_no_risk = r["tab_i2a11_vl_reducao_recup"], r["tab_i2b11_vl_reducao_recup"]
    for tab in ("V", "VI"):
        for fig, r in rows(tab):
            for i, suffix in enumerate(_CVM_BUCKET):
                fig.overdue[i] = _add(fig.overdue[i], r[f"tab_{tab.lower()}_b{i + 1}_vl_inad_{suffix.lower()}"])
    for fig, r in rows("VII"):
        fig.acquisitions_count = _add_count(r["tab_vii_a1_1_qt_dircred_risco"], r["tab_vii_a2_1_qt_dircred_sem_risco"])
        fig.acquisitions_value = _add(r["tab_vii_a1_2_vl_dircred_risco"], r["tab_vii_a2_2_vl_dircred_sem_risco"])
    for fig, r in rows("X_2"):
        fig.classes.append(QuotaClass(r["tab_x_classe_serie"] or "", r["tab_x_qt_cota"], r["tab_x_vl_cota"]))
    for fig, r in rows("X_4"):
        fig.quota_operations.append(
            QuotaOperation(r["tab_x_tp_oper"] or "", r["tab_x_classe_serie"] or "", r["tab_x_vl_total"],
                           r["tab_x_qt_cota"])
        )  # fmt: skip
    return out


_LAKE_SQL = """
select fund_cnpj, position_date, is_month_complete, pl, pl_senior, pl_mezzanine, pl_junior,
       subordination_junior_mezzanine_ratio, present_value, pdd_value, {pv_columns},
       acquisitions_count, acquisitions_value
from marts.mart_fund_monthly where reference_month = %s
"""
_NOMINAL_SQL = """
select f.fund_cnpj, f.aging_bucket, sum(f.nominal_value_brl)
from marts.fct_receivable_position_daily f
join marts.mart_fund_monthly m on m.fund_cnpj = f.fund_cnpj and m.position_date = f.reference_date
where m.reference_month = %s and f.reference_date >= %s and f.reference_date < %s
  and f.aging_bucket like 'overdue%%'
group by 1, 2
"""


#: The funds' total quota count per day, from the month before `month` (its last days) to the month's end: the
#: marts carry no quota counts, the hot copy of lake.fund_quotas does (the authoritative source only).
_QUOTAS_SQL = """
select fund_cnpj, reference_date, sum(quota_count)
from landing.fund_quotas
where reference_date >= %s and reference_date < %s
group by 1, 2
order by 1, 2
"""


def quota_count_changes(counts: list[tuple[str, dt.date, Decimal]], month: dt.date) -> dict[str, Decimal]:
    """Per fund: the total quota count on its last day in `month` minus the count on its last day before the
    month (or, when there is none, on its first day in the month). `counts`: (fund, date, count) rows."""
    by_fund: dict[str, list[tuple[dt.date, Decimal]]] = {}
    for fund, day, count in counts:
        by_fund.setdefault(fund, []).append((day, count))
    out = {}
    end = next_month(month)
    for fund, series in by_fund.items():
        series.sort()
        inside = [c for d, c in series if month <= d < end]
        before = [c for d, c in series if d < month]
        if inside:
            out[fund] = inside[-1] - (before[-1] if before else inside[0])
    return out


def _quota_counts(conn: psycopg.Connection, month: dt.date) -> list[tuple[str, dt.date, Decimal]]:
    if conn.execute("select to_regclass('landing.fund_quotas')").fetchone() == (None,):
        return []
    start = month - dt.timedelta(days=31)
    return [(r[0], r[1], r[2]) for r in conn.execute(trusted(_QUOTAS_SQL), [start, next_month(month)])]


def lake_figures(dsn: str, month: dt.date) -> dict[str, LakeFigures]:
    """Every fund of `marts.mart_fund_monthly` for `month`, by CNPJ."""
    pv_columns = ", ".join(f"pv_{b}" for b in OVERDUE_BUCKETS)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(trusted(_LAKE_SQL.format(pv_columns=pv_columns)), [month]).fetchall()
        nominal: dict[tuple[str, str], Decimal] = {
            (r[0], r[1]): r[2] for r in conn.execute(trusted(_NOMINAL_SQL), [month, month, next_month(month)])
        }
        quota_change = quota_count_changes(_quota_counts(conn, month), month)
    out = {}
    for r in rows:
        cnpj = r[0]
        out[cnpj] = LakeFigures(
            cnpj, r[1], bool(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9],
            tuple(r[10 : 10 + len(OVERDUE_BUCKETS)]),
            tuple(nominal.get((cnpj, b), Decimal("0.00")) for b in OVERDUE_BUCKETS),
            r[10 + len(OVERDUE_BUCKETS)], r[11 + len(OVERDUE_BUCKETS)], quota_change.get(cnpj),
        )  # fmt: skip
    return out
