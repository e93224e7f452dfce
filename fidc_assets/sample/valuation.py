"""Valuing a stock: present value (calendar days / 30, monthly compounding at the cession rate), the CMN 2682
rating and provision (PDD) by days overdue, and the fund's own bucket scale (see the conventions in
`fidc_assets.sample.simulation`). `Valuation` keeps the discount factors it computed, so striking a stock of
millions of positions computes each (rate, days) factor once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from operator import attrgetter
from typing import Protocol

from fidc_assets.sample.records import (
    CENT,
    MONEY_CONTEXT,
    STATUS_OVERDUE,
    STATUS_PERFORMING,
    WRITE_OFF_DAYS,
    ZERO,
    Receivable,
    StockPosition,
)


class PartialPayment(Protocol):
    """What a stock position needs of a receivable's fate (`receivables.Fate`): its partial payment, if any."""

    @property
    def partial_date(self) -> dt.date | None: ...

    @property
    def partial_amount(self) -> Decimal: ...


_FACTOR_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)

#: CMN 2682 scale: (max days overdue, rating, provision rate). Not overdue is handled separately.
CMN2682_SCALE: tuple[tuple[int, str, Decimal], ...] = (
    (14, "A", Decimal("0.005")),
    (30, "B", Decimal("0.01")),
    (60, "C", Decimal("0.03")),
    (90, "D", Decimal("0.10")),
    (120, "E", Decimal("0.30")),
    (150, "F", Decimal("0.50")),
    (180, "G", Decimal("0.70")),
)
CMN2682_H = ("H", Decimal("1.00"))
CMN2682_AA = ("AA", Decimal("0"))
CMN2682_A = ("A", Decimal("0.005"))

#: The fund's own bucket scale: (max days overdue, bucket); beyond the last one: `wop`.
FUND_BUCKETS: tuple[tuple[int, str], ...] = ((0, "a"), (30, "b"), (60, "c"), (120, "d"))
FUND_BUCKET_BEYOND = "wop"


def cmn2682_rating(days_overdue: int, coobrigacao: bool) -> tuple[str, Decimal]:
    """(rating, provision rate) for a receivable `days_overdue` calendar days late (0: not overdue)."""
    if days_overdue <= 0:
        return CMN2682_AA if coobrigacao else CMN2682_A
    for max_days, rating, rate in CMN2682_SCALE:
        if days_overdue <= max_days:
            return rating, rate
    return CMN2682_H


def fund_bucket(days_overdue: int) -> str:
    for max_days, bucket in FUND_BUCKETS:
        if days_overdue <= max_days:
            return bucket
    return FUND_BUCKET_BEYOND


def _overdue_row(days_overdue: int, coobrigacao: bool = False) -> tuple[str, Decimal, str, str]:
    rating, provision = cmn2682_rating(days_overdue, coobrigacao)
    status = STATUS_OVERDUE if days_overdue > 0 else STATUS_PERFORMING
    return rating, provision, fund_bucket(days_overdue), status


#: (rating, provision, fund bucket, status) by days overdue; the last row holds for every later day.
_OVERDUE_TABLE = tuple(_overdue_row(d) for d in range(0, 2 * WRITE_OFF_DAYS))
#: The same for receivables not overdue, by coobrigação.
_PERFORMING = {flag: _overdue_row(0, flag) for flag in (False, True)}
_POSITION_ORDER = attrgetter("receivable.cedente.document", "receivable.seu_numero")


class Valuation:
    """Present values and stock positions, with the discount factors computed so far."""

    def __init__(self) -> None:
        self._factor_cache: dict[tuple[Decimal, int], Decimal] = {}
        self._daily_factor: dict[Decimal, Decimal] = {}

    def discount_factor(self, rate: Decimal, calendar_days: int) -> Decimal:
        """(1 + rate/100) ** (calendar_days / 30), as the integer power of the daily factor computed with
        12 extra digits (integer powers are 30x faster than fractional ones), rounded to 28 digits."""
        key = (rate, calendar_days)
        factor = self._factor_cache.get(key)
        if factor is None:
            ctx = _FACTOR_CONTEXT
            daily = self._daily_factor.get(rate)
            if daily is None:
                base = ctx.add(Decimal(1), ctx.divide(rate, Decimal(100)))
                daily = self._daily_factor[rate] = ctx.power(base, ctx.divide(Decimal(1), Decimal(30)))
            factor = MONEY_CONTEXT.plus(ctx.power(daily, calendar_days))
            self._factor_cache[key] = factor
        return factor

    def present_value(self, nominal: Decimal, rate: Decimal, due: dt.date, day: dt.date) -> Decimal:
        """`nominal` due on `due`, discounted to `day` at `rate` % per month (calendar days / 30)."""
        dc = (due - day).days
        if dc <= 0:
            return nominal
        return MONEY_CONTEXT.divide(nominal, self.discount_factor(rate, dc)).quantize(
            CENT, rounding=ROUND_HALF_EVEN, context=MONEY_CONTEXT
        )

    def positions(self, live: Iterable[tuple[Receivable, PartialPayment]], day: dt.date) -> list[StockPosition]:
        # The hot loop of the generator: lookups are hoisted, ratings come from a table by days overdue.
        out: list[StockPosition] = []
        append = out.append
        cache_get = self._factor_cache.get
        compute = self.discount_factor
        overdue_table = _OVERDUE_TABLE
        beyond = len(overdue_table)
        with localcontext(MONEY_CONTEXT):
            for rec, fate in live:
                nominal = rec.nominal_value
                acquisition = rec.acquisition_value
                if fate.partial_date is not None and fate.partial_date <= day:
                    open_nominal = nominal - fate.partial_amount
                    acquisition = (acquisition * open_nominal / nominal).quantize(CENT, ROUND_HALF_EVEN)
                    nominal = open_nominal
                dc = (rec.adjusted_due_date - day).days
                if dc > 0:
                    rate_key = (rec.cession_rate, dc)
                    factor = cache_get(rate_key) or compute(rec.cession_rate, dc)
                    pv = (nominal / factor).quantize(CENT, ROUND_HALF_EVEN)
                    overdue = 0
                    rating, provision, bucket, status = _PERFORMING[rec.coobrigacao]
                else:
                    pv = nominal
                    overdue = -dc
                    if overdue == 0:
                        rating, provision, bucket, status = _PERFORMING[rec.coobrigacao]
                    else:
                        rating, provision, bucket, status = overdue_table[min(overdue, beyond - 1)]
                pdd = (pv * provision).quantize(CENT, ROUND_HALF_EVEN) if provision else ZERO
                append(
                    StockPosition(
                        rec,
                        day,
                        nominal,
                        acquisition,
                        pv,
                        pdd,
                        overdue,
                        dc,
                        rating,
                        provision,
                        bucket,
                        status,
                    )
                )
        out.sort(key=_POSITION_ORDER)
        return out
