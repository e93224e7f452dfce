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


#: What the shadow comparison puts side by side per fund-day, in this order (legacy minus custodian files).
SHADOW_MEASURES = ("rows", "nominal", "present", "pdd", "pl")


@dataclass(frozen=True)
class Side:
    """One source's figures for a fund-day: stock rows and the sums of nominal, present value and PDD; PL as
    the sum of its quota classes' net assets (None: that source has no quota rows for the day)."""

    rows: int = 0
    nominal: Decimal = Decimal("0.00")
    present: Decimal = Decimal("0.00")
    pdd: Decimal = Decimal("0.00")
    pl: Decimal | None = None


@dataclass(frozen=True)
class ShadowDiff:
    fund_cnpj: str
    reference_date: dt.date
    counted: str  # the source the marts take for this fund-day (the cutover rule)
    legacy: Side
    custodian: Side

    @property
    def differences(self) -> dict[str, int | Decimal]:
        """Every measure where the two sources differ, as legacy minus custodian files (PL only when both
        have quota rows: a source without them has no PL to compare)."""
        out: dict[str, int | Decimal] = {}
        for m in SHADOW_MEASURES:
            lg, cu = getattr(self.legacy, m), getattr(self.custodian, m)
            if lg is not None and cu is not None and lg != cu:
                out[m] = lg - cu
        return out

    @property
    def equal(self) -> bool:
        return not self.differences

    def describe(self) -> str:
        """One line: the fund-day, which source counts, and each difference (legacy − custodian files)."""
        diffs = ", ".join(f"{m} {v:+}" for m, v in self.differences.items()) or "equal"
        return f"{self.fund_cnpj} {self.reference_date} counted {self.counted}: {diffs}"


def _sums(rows: pa.Table, date_field: str, columns: tuple[str, ...]) -> dict[tuple[str, dt.date, str], dict]:
    if rows.num_rows == 0:
        return {}
    agg = rows.group_by(["fund_cnpj", date_field, "source"], use_threads=False).aggregate(
        [(columns[0], "count"), *((c, "sum") for c in columns)]
    )
    return {(r["fund_cnpj"], r[date_field], r["source"]): r for r in agg.to_pylist()}


def shadow_compare(
    rows: pa.Table, rule: CutoverRule, quotas: pa.Table | None = None, date_field: str = "reference_date"
) -> list[ShadowDiff]:
    """Per fund-day where both sources have stock rows: both sides' count and sums (nominal, present value,
    PDD when the rows carry it; PL from `quotas`, rows of lake.fund_quotas, when given), and which one counts."""
    if rows.num_rows == 0:
        return []
    if "pdd_value" in rows.column_names:
        rows = rows.set_column(
            rows.column_names.index("pdd_value"), "pdd_value", rows["pdd_value"].fill_null(pa.scalar(Decimal("0")))
        )
        columns: tuple[str, ...] = ("nominal_value", "present_value", "pdd_value")
    else:
        columns = ("nominal_value", "present_value")
    stock = _sums(rows, date_field, columns)
    pl = _sums(quotas, date_field, ("net_assets",)) if quotas is not None else {}
    sides: dict[tuple[str, dt.date], dict[str, Side]] = {}
    zero = Decimal("0.00")
    for (fund, day, source), r in stock.items():
        q = pl.get((fund, day, source))
        sides.setdefault((fund, day), {})[source] = Side(
            r["nominal_value_count"],
            r["nominal_value_sum"],
            r["present_value_sum"],
            r.get("pdd_value_sum", zero) if "pdd_value" in columns else zero,
            q["net_assets_sum"] if q is not None else None,
        )
    out = []
    for (fund, day), by in sorted(sides.items()):
        if LEGACY in by and CUSTODIAN in by:
            out.append(ShadowDiff(fund, day, rule.source_for(fund, day), by[LEGACY], by[CUSTODIAN]))
    return out
