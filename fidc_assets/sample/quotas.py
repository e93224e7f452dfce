"""Fund net assets (PL) and quotas per class, derived from the simulated stock.

Model (per fund, business day D):

* stock value = sum of the present values of D's whole stock (every receivable, whatever a file says);
* cash = the stock value x r, r drawn per fund-day uniformly in 3.00 % .. 8.00 % (whole basis points) from
  ``Random("<seed>|quotas|<fund cnpj>|<D>")``, rounded to centavos;
* PL = stock value + cash;
* class PL: senior = PL x 70 %, mezanino = PL x 10 % (each rounded to centavos, ROUND_HALF_EVEN),
  subordinada = PL - senior - mezanino (takes the rounding remainder), so the classes add up to PL exactly;
* quota counts are fixed per fund and class on the first simulated business day: class PL on that day /
  an initial quota value drawn per fund (senior R$ 1,000-1,500, mezanino R$ 1,000-1,800, subordinada
  R$ 800-3,000), rounded to 8 decimals; from then on
  quota value = class PL / count, rounded to 8 decimals (ROUND_HALF_EVEN).

Classes and series: senior ``1``, mezanino ``1``, subordinada ``unica``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from fidc_assets.sample.records import MONEY_CONTEXT, ZERO, StockPosition, money

QUOTA_PLACES = Decimal("0.00000001")
CASH_BP_RANGE = (300, 800)
#: (class, series, share of PL or None for the remainder, initial quota value range in centavos)
QUOTA_CLASSES: tuple[tuple[str, str, Decimal | None, tuple[int, int]], ...] = (
    ("senior", "1", Decimal("0.70"), (100_000, 150_000)),
    ("mezanino", "1", Decimal("0.10"), (100_000, 180_000)),
    ("subordinada", "unica", None, (80_000, 300_000)),
)


@dataclass(frozen=True, slots=True)
class QuotaRow:
    fund_cnpj: str
    reference_date: dt.date
    quota_class: str
    series: str
    quota_count: Decimal  # 8 decimals
    quota_value: Decimal  # 8 decimals
    net_assets: Decimal  # centavos


@dataclass(frozen=True, slots=True)
class FundDayQuotas:
    fund_cnpj: str
    reference_date: dt.date
    stock_value: Decimal
    cash: Decimal
    net_assets: Decimal
    rows: tuple[QuotaRow, ...]  # senior, mezanino, subordinada


class QuotaModel:
    """One fund's quotas; feed it the simulated days in order, starting with the first one."""

    def __init__(self, seed: int, fund_cnpj: str) -> None:
        self.seed = seed
        self.fund_cnpj = fund_cnpj
        rng = random.Random(f"{seed}|quotas|{fund_cnpj}")
        self.initial_values = tuple(Decimal(rng.randint(lo, hi)).scaleb(-2) for *_, (lo, hi) in QUOTA_CLASSES)
        self.counts: tuple[Decimal, ...] | None = None

    def cash_rate_bp(self, day: dt.date) -> int:
        return random.Random(f"{self.seed}|quotas|{self.fund_cnpj}|{day.isoformat()}").randint(*CASH_BP_RANGE)

    def on(self, day: dt.date, positions: Sequence[StockPosition]) -> FundDayQuotas:
        with localcontext(MONEY_CONTEXT):
            stock = sum((p.present_value for p in positions), ZERO)
            cash = money(stock * self.cash_rate_bp(day) / 10_000)
            pl = stock + cash
            class_pl: list[Decimal] = []
            for _, _, share, _ in QUOTA_CLASSES:
                class_pl.append(money(pl * share) if share is not None else pl - sum(class_pl, ZERO))
            if self.counts is None:
                self.counts = tuple(
                    (c / v).quantize(QUOTA_PLACES, ROUND_HALF_EVEN) if c > 0 else Decimal(1000).quantize(QUOTA_PLACES)
                    for c, v in zip(class_pl, self.initial_values, strict=True)
                )
            rows = tuple(
                QuotaRow(
                    self.fund_cnpj, day, name, series, count, (c / count).quantize(QUOTA_PLACES, ROUND_HALF_EVEN), c
                )
                for (name, series, _, _), c, count in zip(QUOTA_CLASSES, class_pl, self.counts, strict=True)
            )
        return FundDayQuotas(self.fund_cnpj, day, stock, cash, pl, rows)
