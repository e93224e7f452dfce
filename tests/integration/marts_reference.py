"""An independent Python reference for `marts.mart_fund_daily`, computed from the sample generator's truth.

The generator knows, for every file it renders, which simulated records a correct parser accepts (corrupted
rows are quarantined by the pipeline). `accepted_records` renders the same files again (the generator's
`render_files`, with the same seeds) and keeps exactly those records; `fund_day_metrics` then computes
every metric of the mart with `decimal.Decimal`, from the simulation's own fields (its CMN 2682 rating and
provision, days overdue, days to due, quota classes), never from the SQL under test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fidc_assets.sample.custodians import ALL_CUSTODIANS, assign_custodians
from fidc_assets.sample.generator import render_files
from fidc_assets.sample.quotas import QuotaRow
from fidc_assets.sample.records import Movement, MovementKind, StockPosition
from fidc_assets.sample.render_common import FileKind
from fidc_assets.sample.render_stock_csv import RenderedStockFile
from fidc_assets.sample.simulation import simulate

CENT = Decimal("0.01")
RATIO_PLACES = Decimal("0.000001")
#: Stated tolerance for ratios (rounded to 6 places in the mart): half a unit of the last place, plus
#: one unit for a sum rounded differently. Money is compared exactly (to the centavo).
RATIO_TOLERANCE = Decimal("0.000001")
AGING_BOUNDS = (30, 60, 90, 120, 150, 180, 360, 720, 1080)
RATINGS = ("AA", "A", "B", "C", "D", "E", "F", "G", "H")


@dataclass
class Accepted:
    positions: dict[tuple[str, dt.date], list[StockPosition]] = field(default_factory=dict)
    quotas: list[QuotaRow] = field(default_factory=list)
    acquisitions: list[Movement] = field(default_factory=list)
    settlements: list[Movement] = field(default_factory=list)


def accepted_records(
    seed: int, funds: int, days: int, start: dt.date, receivables_per_fund: int, bad_row_rate: float = 0.002
) -> Accepted:
    """The records of every file `generate_sample` renders that a correct parser accepts (all custodians)."""
    sim = simulate(seed, funds, days, start, receivables_per_fund)
    assignment = assign_custodians(len(sim.funds), ALL_CUSTODIANS)
    out = Accepted()
    for rendered in render_files(sim, assignment, seed, bad_row_rate):
        if isinstance(rendered, RenderedStockFile):
            out.positions[(rendered.fund_cnpj, rendered.reference_date)] = list(rendered.accepted_positions)
        elif rendered.kind is FileKind.POSITIONS:
            out.positions[(rendered.fund_cnpj, rendered.day)] = list(rendered.accepted)
        elif rendered.kind is FileKind.QUOTAS:
            out.quotas.extend(rendered.accepted)
        elif rendered.kind is FileKind.ACQUISITIONS:
            out.acquisitions.extend(rendered.accepted)
        else:
            out.settlements.extend(rendered.accepted)
    return out


def aging_bucket(days_overdue: int, days_to_due: int) -> str:
    """CVM buckets: overdue 1-30, 31-60, ... over 1080 days; to mature 0-30, 31-60, ... over 1080 days."""
    if days_overdue > 0:
        low = 1
        for bound in AGING_BOUNDS:
            if days_overdue <= bound:
                return f"overdue_{low}_{bound}"
            low = bound + 1
        return "overdue_over_1080"
    low = 0
    for bound in AGING_BOUNDS:
        if days_to_due <= bound:
            return f"to_mature_{low}_{bound}"
        low = bound + 1
    return "to_mature_over_1080"


def aging_bucket_names() -> list[str]:
    names = []
    for prefix, first in (("to_mature", 0), ("overdue", 1)):
        low = first
        for bound in AGING_BOUNDS:
            names.append(f"{prefix}_{low}_{bound}")
            low = bound + 1
        names.append(f"{prefix}_over_1080")
    return names


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return None if den == 0 else (num / den).quantize(RATIO_PLACES, ROUND_HALF_UP)


def _top(exposures: dict[str, Decimal], n: int) -> Decimal:
    return sum(sorted(exposures.values(), reverse=True)[:n], Decimal(0))


def fund_day_metrics(accepted: Accepted) -> dict[tuple[str, dt.date], dict[str, Any]]:
    """Every column of mart_fund_daily (but the key) per (fund, day), from the accepted records."""
    zero = Decimal("0.00")
    keys = set(accepted.positions)
    quotas: dict[tuple[str, dt.date], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: zero))
    for q in accepted.quotas:
        quotas[(q.fund_cnpj, q.reference_date)][q.quota_class] += q.net_assets
    keys |= set(quotas)
    acquisitions: dict[tuple[str, dt.date], list[Movement]] = defaultdict(list)
    for m in accepted.acquisitions:
        acquisitions[(m.fund_cnpj, m.date)].append(m)
    settlements: dict[tuple[str, dt.date], list[Movement]] = defaultdict(list)
    for m in accepted.settlements:
        settlements[(m.fund_cnpj, m.date)].append(m)
    keys |= set(acquisitions) | set(settlements)

    out = {}
    for key in keys:
        stock = accepted.positions.get(key, [])
        row: dict[str, Any] = {}
        q = quotas.get(key)
        pl = sum(q.values(), zero) if q else None
        row["pl"] = pl
        row["pl_senior"] = q["senior"] if q else None
        row["pl_mezzanine"] = q["mezanino"] if q else None
        row["pl_junior"] = q["subordinada"] if q else None
        row["subordination_junior_ratio"] = _ratio(q["subordinada"], pl) if q and pl is not None else None
        row["subordination_junior_mezzanine_ratio"] = (
            _ratio(q["subordinada"] + q["mezanino"], pl) if q and pl is not None else None
        )

        pv = sum((p.present_value for p in stock), zero)
        pdd = sum((p.pdd_value for p in stock), zero)
        row["receivable_count"] = len(stock)
        row["nominal_value"] = sum((p.nominal_value for p in stock), zero)
        row["present_value"] = pv
        row["acquisition_value"] = sum((p.acquisition_value for p in stock), zero)
        row["pdd_value"] = pdd
        row["pdd_ratio"] = _ratio(pdd, pv) if stock else None
        row["pdd_cmn2682_value"] = sum((p.present_value * p.provision_rate for p in stock), Decimal(0)).quantize(
            CENT, ROUND_HALF_UP
        )
        for rating in RATINGS:
            row[f"pv_rating_{rating.lower()}"] = sum((p.present_value for p in stock if p.rating == rating), zero)
        for bucket in aging_bucket_names():
            row[f"pv_{bucket}"] = sum(
                (p.present_value for p in stock if aging_bucket(p.days_overdue, p.days_to_due) == bucket), zero
            )
        overdue = sum((p.present_value for p in stock if p.days_overdue > 0), zero)
        row["overdue_value"] = overdue
        for days in (30, 60, 90, 180):
            value = sum((p.present_value for p in stock if p.days_overdue > days), zero)
            row[f"overdue_over_{days}_value"] = value
            row[f"delinquency_over_{days}_ratio"] = _ratio(value, pv) if stock else None
        row["pdd_coverage_ratio"] = _ratio(pdd, overdue) if stock else None
        row["pdd_coverage_over_90_ratio"] = _ratio(pdd, row["overdue_over_90_value"]) if stock else None
        for party, doc in (("cedente", lambda p: p.receivable.cedente.document),
                           ("sacado", lambda p: p.receivable.sacado.document)):  # fmt: skip
            exposures: dict[str, Decimal] = defaultdict(lambda: zero)
            for p in stock:
                exposures[doc(p)] += p.present_value
            for n in (1, 5, 10):
                row[f"top{n}_{party}_ratio"] = _ratio(_top(exposures, n), pv) if stock else None
        weighted = sum((p.present_value * max(p.days_to_due, 0) for p in stock), Decimal(0))
        row["weighted_average_term_days"] = (weighted / pv).quantize(CENT, ROUND_HALF_UP) if pv else None

        acq = acquisitions.get(key, [])
        row["acquisitions_count"] = len(acq)
        row["acquisitions_nominal_value"] = sum((m.receivable.nominal_value for m in acq), zero)
        row["acquisitions_value"] = sum((m.paid for m in acq), zero)
        st = settlements.get(key, [])
        paid = [m for m in st if m.kind in (MovementKind.SETTLEMENT, MovementKind.PARTIAL_SETTLEMENT)]
        repurchased = [m for m in st if m.kind is MovementKind.REPURCHASE]
        row["settlements_count"] = len(paid)
        row["settlements_value"] = sum((m.paid for m in paid), zero)
        row["repurchases_count"] = len(repurchased)
        row["repurchases_value"] = sum((m.paid for m in repurchased), zero)
        row["write_offs_count"] = sum(1 for m in st if m.kind is MovementKind.WRITE_OFF)
        out[key] = row
    return out
