"""The shadow comparison read from the lake: `fidc-lake history shadow` and the Dagster check
`shadow_legacy_vs_custodian` (on the hot load of the stock) both call `shadow_report`.

Over a date range, the stock (`lake.receivable_positions`) and the quotas (`lake.fund_quotas`) of both
sources are read as they are in cold, before the cutover rule picks one of them, and compared per fund-day
where both have stock rows (`cutover.shadow_compare`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, LessThanOrEqual

from fidc_assets.lib.core.canonical import FUND_QUOTAS, RECEIVABLE_POSITIONS
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.legacy.cutover import CutoverRule, ShadowDiff, shadow_compare

STOCK_COLUMNS = ("fund_cnpj", "reference_date", "source", "nominal_value", "present_value", "pdd_value")
QUOTA_COLUMNS = ("fund_cnpj", "reference_date", "source", "net_assets")


@dataclass(frozen=True)
class ShadowReport:
    first: dt.date
    last: dt.date | None
    fund_days: list[ShadowDiff]  # every fund-day both sources hold, equal or not

    @property
    def differing(self) -> list[ShadowDiff]:
        return [d for d in self.fund_days if not d.equal]

    def summary(self) -> str:
        span = f"{self.first} .. {self.last}" if self.last else f"from {self.first}"
        return f"{span}: {len(self.fund_days)} fund-days in both sources, {len(self.differing)} differ"

    def markdown(self) -> str:
        """The differing fund-days as a table (legacy / custodian files per measure), for Dagster metadata."""
        lines = [
            "| fund | date | counted | rows | nominal | present value | PDD | PL |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for d in self.differing:
            cells = []
            for m in ("rows", "nominal", "present", "pdd", "pl"):
                lg, cu = getattr(d.legacy, m), getattr(d.custodian, m)
                cells.append(f"**{lg} / {cu}**" if m in d.differences else f"{lg}")
            lines.append(f"| {d.fund_cnpj} | {d.reference_date} | {d.counted} | " + " | ".join(cells) + " |")
        return "\n".join(lines) if self.differing else "no difference"


def _between(first: dt.date, last: dt.date | None) -> BooleanExpression:
    # pyiceberg's predicates are pydantic models with their own __init__(term, literal), which pyright's
    # pydantic support does not see
    since = GreaterThanOrEqual("reference_date", first.isoformat())  # pyright: ignore[reportCallIssue]
    if last is None:
        return since
    return And(since, LessThanOrEqual("reference_date", last.isoformat()))  # pyright: ignore[reportCallIssue]


def shadow_report(
    lake: Lake, rule: CutoverRule, first: dt.date | None = None, last: dt.date | None = None
) -> ShadowReport:
    """Legacy against custodian files for every fund-day from `first` (default: the cutover) to `last`
    (default: the latest) that both sources hold in the lake."""
    first = first or rule.cutover
    where = _between(first, last)
    stock = lake.read(RECEIVABLE_POSITIONS, where, STOCK_COLUMNS)
    quotas = lake.read(FUND_QUOTAS, where, QUOTA_COLUMNS)
    return ShadowReport(first, last, shadow_compare(stock, rule, quotas))
