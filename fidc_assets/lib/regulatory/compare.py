"""Each fund-month's figures side by side, with a status and a reason: pure, no I/O.

Statuses: `match` (equal: money to the centavo, ratios to 1e-6); `explained` (different by a named
definitional difference between what the CVM tab means and what the mart means); `published_data_defect`
(the published report itself is wrong or incomplete); `unexplained` (anything else: someone must look).
The rules, one per figure (docs/regulatory.md says the same):

* `pl`: TAB_IV_A_VL_PL vs the mart's PL (Σ of the classes' net assets). Exact. An empty PL is a defect.
* `pdd`: |TAB_I2A11| + |TAB_I2B11| (the CVM writes the provision as a reduction; both signs are seen) vs
  the mart's reported PDD. Exact.
* `receivables_present_value`: TAB_I2A + TAB_I2B (direitos creditórios with and without substantial
  acquisition of risks) vs the mart's stock at present value. Classification rule: every receivable the lake
  holds, whatever its asset type, is a direito creditório; FIDC quotas (TAB_I2H) and "other" securities
  (TAB_I2C6) are not. Equal → match; equal once I2H and I2C6 are added back → `explained`
  (fidc_quotas_outside_dircred); equal to the mart's present value less PDD → `explained` (net_of_pdd).
* `overdue_<bucket>` (1-30 ... over 1080 days): tabs V + VI B1..B10 vs the mart's present value in that
  bucket. The CVM buckets hold the **overdue installments**, the mart the receivables' present value: equal
  → match; equal to the lake's open face value in the bucket (a single-installment receivable's overdue
  installment) → `explained` (installments_vs_present_value).
* `subordination`: Σ(junior and mezzanine classes) / Σ(all classes) of X_2 (class PL = quantity × value;
  the denominator is X_2's own total so that a PL difference is flagged once, on `pl`) vs the mart's junior +
  mezzanine subordination. A class whose X_2 net assets differ from the lake's by a factor of 10^k (k ≠ 0)
  → `published_data_defect` (quota value off by orders of magnitude); no X_2 rows → `published_data_defect`.
* `acquisitions_value`, `acquisitions_count`: tab VII A1 + A2 (acquisitions with and without risk) vs the
  month's cessões in the mart. Exact.
* `quota_count_change`: tab X_4, the month's quota operations: Σ TAB_X_QT_COTA of `Captações no Mês` (quotas
  issued) minus that of redemptions (`Resgate…`) vs the change of the fund's total quota count over the month
  in the hot copy of the quotas (landing.fund_quotas: the last position of the month minus the last one
  before it, or the month's first when the hot window holds none). Exact; no X_4 row is no operation. The
  marts have no counterpart of the amounts (TAB_X_VL_TOTAL: what was raised, amortized or redeemed) nor of
  `Amortizações`, which pay quota value out without changing the count: these are not compared.
* `report`: a fund of the marts absent from the month's publication → `published_data_defect`; a registry
  fund in the publication without lake figures → `unexplained`.

Settlements are not compared: tab VII has no settlement field (repurchases D and prepaid C are not the same
thing). Neither are X_4's amounts (see `quota_count_change`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from fidc_assets.lib.regulatory.figures import OVERDUE_BUCKETS, CvmFigures, LakeFigures

STATUSES = ("match", "explained", "published_data_defect", "unexplained")
RATIO_TOLERANCE = Decimal("0.000001")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ReconRow:
    fund_cnpj: str
    reference_month: dt.date
    figure: str
    lake_value: Decimal | None
    cvm_value: Decimal | None
    status: str
    reason: str
    position_date: dt.date | None
    dt_comptc: dt.date | None
    is_month_complete: bool | None

    @property
    def difference(self) -> Decimal | None:
        if self.lake_value is None or self.cvm_value is None:
            return None
        return self.cvm_value - self.lake_value

    @property
    def flagged(self) -> bool:
        """Somebody must act: the report is wrong, or nobody knows why the figures differ."""
        return self.status in ("published_data_defect", "unexplained")


def _money(v: Decimal | int | None) -> Decimal | None:
    return None if v is None else Decimal(v).quantize(CENT)


def _equal(a: Decimal | None, b: Decimal | None) -> bool:
    return (a or Decimal(0)) == (b or Decimal(0))


def _power_of_ten(published: Decimal | None, lake: Decimal | None) -> int | None:
    """k when published ≈ lake × 10^k for some k ≠ 0 (within 1 %), else None."""
    if not published or not lake:
        return None
    ratio = float(published) / float(lake)
    if ratio <= 0:
        return None
    k = round(math.log10(ratio))
    return k if k != 0 and abs(ratio / 10**k - 1) < 0.01 else None


def compare_fund_month(month: dt.date, lake: LakeFigures | None, cvm: CvmFigures | None) -> list[ReconRow]:
    """The rows of one fund-month (either side may be missing)."""
    either = lake or cvm
    cnpj = either.cnpj if either is not None else ""
    position = lake.position_date if lake else None
    complete = lake.is_month_complete if lake else None
    dt_comptc = cvm.dt_comptc if cvm else None

    def row(figure: str, lake_v, cvm_v, status: str, reason: str) -> ReconRow:
        return ReconRow(cnpj, month, figure, lake_v, cvm_v, status, reason, position, dt_comptc, complete)

    if cvm is None or not cvm.reported:
        return [row("report", None, None, "published_data_defect", "fund-month absent from the CVM publication")]
    if lake is None:
        return [row("report", None, None, "unexplained", "in the CVM publication, no figures in the marts")]
    out: list[ReconRow] = []

    def exact(figure: str, lake_v, cvm_v, what: str) -> None:
        if _equal(lake_v, cvm_v):
            out.append(row(figure, lake_v, cvm_v, "match", ""))
        else:
            out.append(row(figure, lake_v, cvm_v, "unexplained", f"{what} differs from the mart's"))

    if cvm.pl is None:
        out.append(row("pl", lake.pl, None, "published_data_defect", "TAB_IV_A_VL_PL is empty"))
    else:
        exact("pl", _money(lake.pl), _money(cvm.pl), "TAB_IV_A_VL_PL")
    pdd = (
        None if cvm.pdd_risk is None and cvm.pdd_no_risk is None else abs(cvm.pdd_risk or 0) + abs(cvm.pdd_no_risk or 0)
    )
    exact("pdd", _money(lake.pdd), _money(pdd), "|TAB_I2A11| + |TAB_I2B11|")
    out.append(_receivables(row, lake, cvm))
    for i, bucket in enumerate(OVERDUE_BUCKETS):
        lake_pv, published = _money(lake.overdue_pv[i]), _money(cvm.overdue[i])
        if _equal(lake_pv, published):
            out.append(row(bucket, lake_pv, published, "match", ""))
        elif _equal(_money(lake.overdue_nominal[i]), published):
            reason = "installments_vs_present_value: tabs V/VI B hold the overdue installments, the mart the PV"
            out.append(row(bucket, lake_pv, published, "explained", reason))
        else:
            out.append(row(bucket, lake_pv, published, "unexplained", "tabs V/VI B differ from the lake's overdue"))
    out.append(_subordination(row, lake, cvm))
    exact("acquisitions_value", _money(lake.acquisitions_value), _money(cvm.acquisitions_value), "tab VII A1_2 + A2_2")
    count_lake = None if lake.acquisitions_count is None else Decimal(lake.acquisitions_count)
    count_cvm = None if cvm.acquisitions_count is None else Decimal(cvm.acquisitions_count)
    exact("acquisitions_count", count_lake, count_cvm, "tab VII A1_1 + A2_1")
    out.append(_quota_count_change(row, lake, cvm))
    return out


def _quota_count_change(row, lake: LakeFigures, cvm: CvmFigures) -> ReconRow:
    figure = "quota_count_change"
    ops = [o for o in cvm.quota_operations if o.kind in ("issue", "redemption")]
    published = (
        sum(((o.quantity or Decimal(0)) * (1 if o.kind == "issue" else -1) for o in ops), Decimal(0)) if ops else None
    )
    if _equal(lake.quota_count_change, published):
        return row(figure, lake.quota_count_change, published, "match", "")
    if lake.quota_count_change is None:
        reason = "tab X_4 reports quota issues or redemptions; the hot window holds no quota counts for the month"
    else:
        reason = "tab X_4 Captações no Mês − resgates (TAB_X_QT_COTA) differ from the change of the quota count"
    return row(figure, lake.quota_count_change, published, "unexplained", reason)


def _receivables(row, lake: LakeFigures, cvm: CvmFigures) -> ReconRow:
    published = _money(
        None
        if cvm.receivables_risk is None and cvm.receivables_no_risk is None
        else (cvm.receivables_risk or 0) + (cvm.receivables_no_risk or 0)
    )
    pv = _money(lake.present_value)
    figure = "receivables_present_value"
    if _equal(pv, published):
        return row(figure, pv, published, "match", "")
    added_back = (published or 0) + (cvm.fidc_quotas or 0) + (cvm.other_securities or 0)
    if (cvm.fidc_quotas or cvm.other_securities) and _equal(pv, _money(added_back)):
        return row(figure, pv, published, "explained", "fidc_quotas_outside_dircred: the lake counts I2H/I2C6")
    if _equal(_money((lake.present_value or 0) - (lake.pdd or 0)), published):
        return row(figure, pv, published, "explained", "net_of_pdd: the report's direitos creditórios are net of PDD")
    return row(figure, pv, published, "unexplained", "TAB_I2A + TAB_I2B differ from the mart's present value")


def _subordination(row, lake: LakeFigures, cvm: CvmFigures) -> ReconRow:
    figure = "subordination"
    if not cvm.classes:
        return row(figure, lake.subordination, None, "published_data_defect", "no quota class rows in tab X_2")
    lake_class = {"senior": lake.pl_senior, "mezzanine": lake.pl_mezzanine, "junior": lake.pl_junior}
    for c in cvm.classes:
        k = _power_of_ten(c.net_assets, lake_class[c.kind])
        if k is not None:
            reason = f"quota_value_off: X_2 {c.label!r} is 10^{k} times the lake's class PL (TAB_X_VL_COTA)"
            return row(figure, lake.subordination, None, "published_data_defect", reason)
    total = sum((c.net_assets or Decimal(0) for c in cvm.classes), Decimal(0))
    sub = sum((c.net_assets or Decimal(0) for c in cvm.classes if c.kind != "senior"), Decimal(0))
    published = (sub / total).quantize(RATIO_TOLERANCE) if total else None
    if (
        lake.subordination is not None
        and published is not None
        and abs(published - lake.subordination) <= RATIO_TOLERANCE
    ):
        return row(figure, lake.subordination, published, "match", "")
    return row(figure, lake.subordination, published, "unexplained", "X_2 subordination differs from the mart's")


def compare_month(
    month: dt.date, lake: dict[str, LakeFigures], cvm: dict[str, CvmFigures], registry: set[str]
) -> list[ReconRow]:
    """Every fund of the marts, and every registry fund the CVM published, for one month (sorted)."""
    funds = set(lake) | (set(cvm) & registry)
    rows: list[ReconRow] = []
    for cnpj in sorted(funds):
        rows.extend(compare_fund_month(month, lake.get(cnpj), cvm.get(cnpj)))
    return rows
