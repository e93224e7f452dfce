"""Deterministic simulation of FIDC receivable books over ANBIMA business days.

This module knows nothing about files: it produces canonical records (`Fund`, `Party`, `Receivable`,
`StockPosition`, `Movement`) that renderers turn into custodian files (daily stock CSV, XLSX, CNAB 444,
JSON events). Every renderer of one `Simulation` therefore describes the same economic reality.

Determinism
    Only `random.Random` instances seeded from `seed` are used (no global `random`, no clock, no numpy);
    money is `decimal.Decimal` computed in a private context; no float transcendental functions are used
    (their last bit may differ between C libraries). Fund *i* has its own generator, seeded by the *i*-th
    draw of the master generator, and every receivable's fate is drawn when it is acquired, so fund *i*
    and the first *k* days do not change when more funds or more days are simulated.

Book dynamics (per fund)
    * initial book: `receivables_per_fund` receivables still open on the first business day, acquired on
      business days of the previous `WARMUP_CALENDAR_DAYS` calendar days (survivors of a uniform flow, so
      the older ones are mostly late or defaulted: some of the book is already overdue);
    * each business day: new acquisitions (about 2.5 % of the target book, with a feedback term that keeps
      the book near its target size); each receivable's fate is drawn at acquisition: paid on its (adjusted)
      due date, paid a few business days early, paid late, partially paid on the due date (the rest later or
      never), repurchased by the cedente, or defaulted (never paid: written off on the first business day
      more than `WRITE_OFF_DAYS` calendar days after the due date).

Conventions
    * Stock on business day D: every receivable acquired on or before D whose exit (settlement, repurchase,
      write-off) has not happened by the end of D. A receivable leaving on D is not in D's stock.
    * Present value on D: calendar-day convention with monthly compounding,
      ``PV = nominal / (1 + taxa_cessao/100) ** (dc / 30)``, dc = calendar days from D to the adjusted due
      date. On or after the due date PV = nominal. The acquisition value is the same formula on the
      acquisition date, so acquisition value <= PV <= nominal.
    * Days overdue: calendar days after the adjusted due date (0 on the due date itself).
    * PDD = PV x the CMN 2682 provision for the days overdue (1-14 A 0.5 %, 15-30 B 1 %, 31-60 C 3 %,
      61-90 D 10 %, 91-120 E 30 %, 121-150 F 50 %, 151-180 G 70 %, > 180 H 100 %). Not overdue: AA 0 % when
      the cedente is co-obligated (coobrigação), A 0.5 % otherwise. Since write-off happens after 180 days,
      H never appears in a stock.
    * Fund bucket scale (faixa_pdd): `a` not overdue, `b` 1-30, `c` 31-60, `d` 61-120, `wop` > 120 days.
    * Partial payment: on its date the open nominal is reduced by the amount paid, and the acquisition value
      shown is reduced in the same proportion (rounded to centavos).
    * prazo = calendar days from acquisition to the adjusted due date; prazo_atual = calendar days from D to
      the adjusted due date (negative when overdue).
    * All money has exactly two decimal places, rounded ROUND_HALF_EVEN.

Modules: `records` (what is produced), `parties` (who), `receivables` (terms, fates, numbering),
`valuation` (present value, rating, PDD), `business_days`; this module runs the books day by day.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, localcontext

from fidc_assets.lib.core.calendar import business_days_from, first_business_day_on_or_after
from fidc_assets.sample.business_days import BusinessDays
from fidc_assets.sample.parties import draw_parties, zipf_cum_weights
from fidc_assets.sample.receivables import (
    SACADO_COMPANY_SHARE,
    Book,
    CedenteProfile,
    Fate,
    append_receivable,
    draw_fate,
    draw_profiles,
    draw_terms,
)
from fidc_assets.sample.records import (
    MONEY_CONTEXT,
    ZERO,
    Fund,
    Movement,
    MovementKind,
    Receivable,
    StockPosition,
    money,
)
from fidc_assets.sample.valuation import Valuation

WARMUP_CALENDAR_DAYS = 90
DAILY_ACQUISITION_SHARE = 0.025  # of the target book size
BOOK_FEEDBACK = 0.15  # share of the gap to the target book size closed by each day's acquisitions


@dataclass(frozen=True, slots=True)
class SimulationParams:
    seed: int = 42
    funds: int = 3
    days: int = 22
    start: dt.date = dt.date(2024, 7, 1)
    receivables_per_fund: int = 800


class Simulation:
    """The simulated funds over `business_days`; build it with `simulate(...)`."""

    def __init__(self, params: SimulationParams) -> None:
        if params.funds < 0 or params.days < 0 or params.receivables_per_fund < 0:
            raise ValueError(f"funds, days and receivables_per_fund must be >= 0: {params}")
        self.params = params
        self.business_days: tuple[dt.date, ...] = tuple(business_days_from(params.start, params.days))
        first_day = first_business_day_on_or_after(params.start)
        self._first_day = first_day
        last_day = self.business_days[-1] if self.business_days else first_day
        self._last_day = last_day
        self._bdays = BusinessDays(
            first_day - dt.timedelta(days=WARMUP_CALENDAR_DAYS + 30), last_day + dt.timedelta(days=400)
        )
        self._valuation = Valuation()
        master = random.Random(params.seed)
        fund_seeds = [master.getrandbits(64) for _ in range(params.funds)]
        used_fund_cnpjs: set[str] = set()
        self._books: dict[str, Book] = {}
        with localcontext(MONEY_CONTEXT):
            for i, fund_seed in enumerate(fund_seeds):
                book = self._simulate_fund(i, random.Random(fund_seed), used_fund_cnpjs)
                self._books[book.fund.cnpj] = book
        self.funds: tuple[Fund, ...] = tuple(b.fund for b in self._books.values())

    # -- public API -------------------------------------------------------------------------------------

    def fund(self, fund_cnpj: str) -> Fund:
        return self._books[fund_cnpj].fund

    def receivables(self, fund_cnpj: str) -> list[Receivable]:
        """Every receivable the fund held at some point of the simulated days (or acquired in warm-up)."""
        return list(self._books[fund_cnpj].receivables)

    def stock(self, fund_cnpj: str, day: dt.date) -> list[StockPosition]:
        """The fund's stock at the end of business day `day`, sorted by (cedente document, seu_numero)."""
        if day not in self.business_days:
            raise ValueError(f"{day} is not a simulated business day")
        book = self._books[fund_cnpj]
        live = [
            (rec, fate)
            for rec, fate in zip(book.receivables, book.fates, strict=True)
            if rec.acquisition_date <= day < fate.exit_date
        ]
        return self._valuation.positions(live, day)

    def iter_stock(self, fund_cnpj: str) -> Iterator[tuple[dt.date, list[StockPosition]]]:
        """(day, stock) for every simulated business day, in order (cheaper than calling `stock` per day)."""
        book = self._books[fund_cnpj]
        pairs = list(zip(book.receivables, book.fates, strict=True))  # acquisition order
        live: dict[int, tuple[Receivable, Fate]] = {}
        nxt = 0
        for day in self.business_days:
            while nxt < len(pairs) and pairs[nxt][0].acquisition_date <= day:
                live[nxt] = pairs[nxt]
                nxt += 1
            for i in [i for i, (_, fate) in live.items() if fate.exit_date <= day]:
                del live[i]
            yield day, self._valuation.positions(live.values(), day)

    def movements(self, fund_cnpj: str, day: dt.date | None = None) -> list[Movement]:
        """Acquisitions, settlements, partial settlements, repurchases and write-offs on the simulated days
        (or on `day`), ordered by (date, kind, cedente document, seu_numero)."""
        book = self._books[fund_cnpj]
        days = set(self.business_days) if day is None else {day}
        out: list[Movement] = []
        for rec, fate in zip(book.receivables, book.fates, strict=True):
            if rec.acquisition_date in days:
                out.append(Movement(rec.fund_cnpj, rec.acquisition_date, MovementKind.ACQUISITION, rec,
                                    rec.acquisition_value, rec.nominal_value, rec.acquisition_value))  # fmt: skip
            if fate.partial_date is not None and fate.partial_date in days:
                out.append(Movement(rec.fund_cnpj, fate.partial_date, MovementKind.PARTIAL_SETTLEMENT, rec,
                                    fate.partial_amount, rec.nominal_value, fate.partial_amount))  # fmt: skip
            if fate.exit_date in days:
                open_nominal = MONEY_CONTEXT.subtract(rec.nominal_value, fate.partial_amount)
                if fate.exit_kind is MovementKind.REPURCHASE:
                    due, rate = rec.adjusted_due_date, rec.cession_rate
                    amount = self._valuation.present_value(open_nominal, rate, due, fate.exit_date)
                else:
                    amount = open_nominal
                paid, adjustment = self.settlement_cash(rec, fate.exit_kind, fate.exit_date, open_nominal)
                out.append(Movement(rec.fund_cnpj, fate.exit_date, fate.exit_kind, rec, amount, open_nominal,
                                    paid, adjustment))  # fmt: skip
        order = list(MovementKind)
        out.sort(key=lambda m: (m.date, order.index(m.kind), m.receivable.key))
        return out

    def settlement_cash(
        self, rec: Receivable, kind: MovementKind, day: dt.date, open_nominal: Decimal
    ) -> tuple[Decimal, Decimal]:
        """(paid, adjustment = paid - open nominal) when `rec` leaves the book on `day` by `kind`.

        * settlement on the adjusted due date: the open nominal, adjustment 0;
        * settlement before it: the open nominal discounted at the cession rate to `day` (adjustment < 0);
        * settlement after it: the open nominal plus late charges of 2 % + 1 % per month pro rata die
          (calendar days late / 30): adjustment = open x (60 + days late) / 3000, rounded to centavos;
        * repurchase: the open nominal discounted at the cession rate to `day` (= open when overdue);
        * write-off: nothing is paid, adjustment = -open nominal.
        """
        due = rec.adjusted_due_date
        if kind is MovementKind.WRITE_OFF:
            return ZERO, MONEY_CONTEXT.minus(open_nominal)
        if kind is MovementKind.SETTLEMENT and day > due:
            late = (day - due).days
            adjustment = money(MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(open_nominal, 60 + late), 3000))
            return MONEY_CONTEXT.add(open_nominal, adjustment), adjustment
        if kind in (MovementKind.SETTLEMENT, MovementKind.REPURCHASE):
            with localcontext(MONEY_CONTEXT):
                paid = self._valuation.present_value(open_nominal, rec.cession_rate, due, day)
            return paid, MONEY_CONTEXT.subtract(paid, open_nominal)
        raise ValueError(f"{kind} is not an exit")

    # -- generation -------------------------------------------------------------------------------------

    def _simulate_fund(self, index: int, rng: random.Random, used_fund_cnpjs: set[str]) -> Book:
        n_target = self.params.receivables_per_fund
        parties = draw_parties(index, rng, used_fund_cnpjs, n_target)
        sacado_pj, sacado_pf = parties.sacado_pj, parties.sacado_pf
        profiles = draw_profiles(rng, parties.fund.cedentes, parties.sector_assets)
        cedente_cum = zipf_cum_weights(len(profiles), offset=0)
        pj_cum = zipf_cum_weights(len(sacado_pj), offset=5)
        pf_cum = zipf_cum_weights(len(sacado_pf), offset=20)

        book = Book(parties.fund)
        bdays, valuation = self._bdays, self._valuation

        def draft(acq_day: dt.date) -> tuple[CedenteProfile, dict, Fate]:
            prof = profiles[bisect.bisect_right(cedente_cum, rng.random() * cedente_cum[-1])]
            asset = rng.choices(prof.asset_types, weights=prof.asset_weights)[0]
            if rng.random() < SACADO_COMPANY_SHARE[asset]:
                sacado = sacado_pj[bisect.bisect_right(pj_cum, rng.random() * pj_cum[-1])]
            else:
                sacado = sacado_pf[bisect.bisect_right(pf_cum, rng.random() * pf_cum[-1])]
            d = draw_terms(rng, prof, asset, acq_day, bdays)
            d["sacado"] = sacado
            d["asset"] = asset
            fate = draw_fate(rng, prof, asset, d, bdays)
            return prof, d, fate

        # Initial book: survivors, on the first business day, of a uniform acquisition flow over the warm-up.
        warmup = self._bdays.between(self._first_day - dt.timedelta(days=WARMUP_CALENDAR_DAYS),
                                     self._first_day - dt.timedelta(days=1))  # fmt: skip
        initial: list[tuple[dt.date, int, CedenteProfile, dict, Fate]] = []
        attempts = 0
        while warmup and len(initial) < n_target and attempts < 50 * n_target:
            attempts += 1
            acq_day = warmup[rng.randrange(len(warmup))]
            prof, d, fate = draft(acq_day)
            if fate.exit_date >= self._first_day:
                initial.append((acq_day, attempts, prof, d, fate))
        initial.sort(key=lambda t: (t[0], t[1]))  # number documents in acquisition order
        exits: dict[dt.date, int] = {}
        for _, _, prof, d, fate in initial:
            append_receivable(book, prof, d, fate, valuation)
            exits[fate.exit_date] = exits.get(fate.exit_date, 0) + 1

        live = len(initial)
        for day in self.business_days:
            gap = n_target - live
            base = n_target * DAILY_ACQUISITION_SHARE * (0.7 + 0.6 * rng.random())
            count = round(base + BOOK_FEEDBACK * gap)
            for _ in range(max(0, count)):
                prof, d, fate = draft(day)
                append_receivable(book, prof, d, fate, valuation)
                exits[fate.exit_date] = exits.get(fate.exit_date, 0) + 1
                live += 1
            live -= exits.pop(day, 0)
        return book


def simulate(
    seed: int = 42,
    funds: int = 3,
    days: int = 22,
    start: dt.date = dt.date(2024, 7, 1),
    receivables_per_fund: int = 800,
) -> Simulation:
    """Simulate `funds` funds over `days` ANBIMA business days from `start` (or the next business day)."""
    return Simulation(SimulationParams(seed, funds, days, start, receivables_per_fund))
