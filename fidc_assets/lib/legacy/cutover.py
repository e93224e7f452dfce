"""The cutover rule: which source counts for a fund-day, and the shadow comparison where both exist.

Before the cutover date the legacy is the source of a fund's figures; from it on, the custodian files. In the
overlap (the legacy still ran in parallel: shadow mode) both are in the lake, side by side with their
`source`; readers keep only the authoritative rows (`authoritative`), so nothing is counted twice, and
`shadow_compare` reports, per fund-day where both exist, how the non-authoritative source differs.

The date is configuration: the mapping's `cutover_date`, or an override (the settings read FIDC_LEGACY_CUTOVER,
an ISO date, and pass it here); a fund may have its own (`per_fund`), e.g. when funds move in waves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

LEGACY = "legacy"
CUSTODIAN = "custodian_file"


@dataclass(frozen=True)
class CutoverRule:
    cutover: dt.date
    per_fund: Mapping[str, dt.date] = field(default_factory=dict)

    def cutover_for(self, fund_cnpj: str) -> dt.date:
        return self.per_fund.get(fund_cnpj, self.cutover)

    def source_for(self, fund_cnpj: str, day: dt.date) -> str:
        """The source whose rows count for this fund-day."""
        return LEGACY if day < self.cutover_for(fund_cnpj) else CUSTODIAN

    def _cutover_column(self, funds: pa.ChunkedArray | pa.Array) -> pa.Array:
        if not self.per_fund:
            return pa.array([self.cutover] * len(funds), pa.date32())
        return pa.array([self.per_fund.get(str(f), self.cutover) for f in funds.to_pylist()], pa.date32())

    def authoritative(self, rows: pa.Table, date_field: str = "reference_date") -> pa.Table:
        """Only the rows of the source that counts for their fund-day (vectorized; for cold reads)."""
        if rows.num_rows == 0:
            return rows
        cut = self._cutover_column(rows["fund_cnpj"])
        before = pc.less(rows[date_field], cut)
        is_legacy = pc.equal(rows["source"], pa.scalar(LEGACY))
        keep = pc.or_(pc.and_(before, is_legacy), pc.and_(pc.invert(before), pc.invert(is_legacy)))
        return rows.filter(keep)

    def resolve(self, rows: pa.Table, date_field: str = "reference_date") -> pa.Table:
        """Where a fund-day has rows from both sources, only the authoritative ones; a fund-day only one source
        has keeps them (a fund the legacy never held, custodian files before a cutover, history the files do
        not reach). Nothing is counted twice, and nothing is lost for want of the other source."""
        if rows.num_rows == 0 or len(pc.unique(rows["source"])) < 2:  # the usual case: one source, no rival
            return rows
        sources = rows.group_by([date_field, "fund_cnpj"]).aggregate([("source", "count_distinct")])
        both = sources.filter(pc.greater(sources["source_count_distinct"], pa.scalar(1)))
        if both.num_rows == 0:
            return rows
        key = [date_field, "fund_cnpj"]
        marked = rows.append_column("_row", pa.array(range(rows.num_rows), pa.int64()))
        overlap = marked.select([*key, "_row", "source"]).join(both.select(key), key, join_type="inner")
        decided = self.authoritative(overlap, date_field)
        drop = pc.is_in(marked["_row"], value_set=pc.unique(overlap["_row"]))
        keep = pc.or_(pc.invert(drop), pc.is_in(marked["_row"], value_set=decided["_row"]))
        return rows.filter(keep)


def rule_from(spec_cutover: dt.date, override: dt.date | None = None) -> CutoverRule:
    """The mapping's date, or the override when there is one (FIDC_LEGACY_CUTOVER, read by the settings)."""
    return CutoverRule(override or spec_cutover)


@dataclass(frozen=True)
class ShadowDiff:
    fund_cnpj: str
    reference_date: dt.date
    counted: str
    legacy_rows: int
    custodian_rows: int
    legacy_nominal: Decimal
    custodian_nominal: Decimal
    legacy_present: Decimal
    custodian_present: Decimal

    @property
    def equal(self) -> bool:
        return (
            self.legacy_rows == self.custodian_rows
            and self.legacy_nominal == self.custodian_nominal
            and self.legacy_present == self.custodian_present
        )


def shadow_compare(rows: pa.Table, rule: CutoverRule, date_field: str = "reference_date") -> list[ShadowDiff]:
    """Per fund-day where both sources have stock rows: both sides' count and sums, and which one counts."""
    if rows.num_rows == 0:
        return []
    agg = rows.group_by(["fund_cnpj", date_field, "source"], use_threads=False).aggregate(
        [("nominal_value", "count"), ("nominal_value", "sum"), ("present_value", "sum")]
    )
    sides: dict[tuple[str, dt.date], dict[str, tuple[int, Decimal, Decimal]]] = {}
    for r in agg.to_pylist():
        sides.setdefault((r["fund_cnpj"], r[date_field]), {})[r["source"]] = (
            r["nominal_value_count"],
            r["nominal_value_sum"],
            r["present_value_sum"],
        )
    out = []
    for (fund, day), by in sorted(sides.items()):
        if LEGACY in by and CUSTODIAN in by:
            lg, cu = by[LEGACY], by[CUSTODIAN]
            out.append(ShadowDiff(fund, day, rule.source_for(fund, day), lg[0], cu[0], lg[1], cu[1], lg[2], cu[2]))
    return out
