from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Context, Decimal

import pytest

from fidc_assets.lib.core.calendar import first_business_day_on_or_after, is_business_day
from fidc_assets.lib.core.documents import is_valid_cnpj, is_valid_document
from fidc_assets.sample.records import AssetType, MovementKind, StockPosition
from fidc_assets.sample.simulation import Simulation, simulate

CENT = Decimal("0.01")
EXITS = {MovementKind.SETTLEMENT, MovementKind.REPURCHASE, MovementKind.WRITE_OFF}


def expected_provision(days_overdue: int, coobrigacao: bool) -> tuple[str, Decimal]:
    """CMN 2682 table, written out independently of the module under test."""
    if days_overdue == 0:
        return ("AA", Decimal("0")) if coobrigacao else ("A", Decimal("0.005"))
    table = [
        (14, "A", "0.005"), (30, "B", "0.01"), (60, "C", "0.03"), (90, "D", "0.10"), (120, "E", "0.30"),
        (150, "F", "0.50"), (180, "G", "0.70"),
    ]  # fmt: skip
    for limit, rating, pct in table:
        if days_overdue <= limit:
            return rating, Decimal(pct)
    return "H", Decimal("1")


def expected_bucket(days_overdue: int) -> str:
    if days_overdue == 0:
        return "a"
    if days_overdue <= 30:
        return "b"
    if days_overdue <= 60:
        return "c"
    if days_overdue <= 120:
        return "d"
    return "wop"


def direct_pv(nominal: Decimal, rate: Decimal, days: int) -> Decimal:
    """nominal / (1 + rate/100) ** (days/30) straight from the definition, at high precision."""
    ctx = Context(prec=60)
    factor = ctx.power(ctx.add(1, ctx.divide(rate, 100)), ctx.divide(Decimal(days), 30))
    return ctx.divide(nominal, factor).quantize(CENT, rounding=ROUND_HALF_EVEN)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(seed=7, funds=2, days=30, receivables_per_fund=300)


@pytest.fixture(scope="module")
def stocks(sim) -> dict[str, list[tuple[dt.date, list[StockPosition]]]]:
    return {f.cnpj: list(sim.iter_stock(f.cnpj)) for f in sim.funds}


@pytest.fixture(scope="module")
def long_sim() -> Simulation:
    """Long enough for defaults to reach the 180-day write-off."""
    return simulate(seed=3, funds=1, days=160, receivables_per_fund=150)


def _snapshot(sim: Simulation) -> list:
    return [(f, [(d, s) for d, s in sim.iter_stock(f.cnpj)], sim.movements(f.cnpj)) for f in sim.funds]


def test_deterministic_and_seed_dependent():
    a = simulate(seed=11, funds=2, days=6, receivables_per_fund=120)
    b = simulate(seed=11, funds=2, days=6, receivables_per_fund=120)
    c = simulate(seed=12, funds=2, days=6, receivables_per_fund=120)
    assert _snapshot(a) == _snapshot(b)
    assert [f.cnpj for f in a.funds] != [f.cnpj for f in c.funds]


def test_funds_and_days_are_prefix_stable():
    small = simulate(seed=5, funds=1, days=4, receivables_per_fund=100)
    big = simulate(seed=5, funds=3, days=9, receivables_per_fund=100)
    fund = small.funds[0]
    assert big.funds[0] == fund
    assert list(small.iter_stock(fund.cnpj)) == list(big.iter_stock(fund.cnpj))[:4]


def test_business_days(sim):
    days = sim.business_days
    assert len(days) == 30
    assert days[0] == dt.date(2024, 7, 1)
    assert all(is_business_day(d) for d in days)
    assert list(days) == sorted(set(days))
    # consecutive: no business day skipped between two simulated days
    for a, b in zip(days, days[1:], strict=False):
        assert not any(is_business_day(a + dt.timedelta(days=k)) for k in range(1, (b - a).days))


def test_parties(sim):
    for fund in sim.funds:
        assert is_valid_cnpj(fund.cnpj) and fund.cnpj[8:12] == "0001"
        assert fund.name.startswith("FIDC ")
        parties = [fund.administrator, fund.originator, *fund.cedentes, *fund.sacados]
        for party in parties:
            assert is_valid_document(party.document), party
            party.name.encode("latin-1")
            assert not set(party.name) & set(';"\r\n\t'), party.name
        assert all(c.is_company for c in fund.cedentes)
        kinds = Counter(s.is_company for s in fund.sacados)
        assert kinds[True] > 0 and kinds[False] > 0
        assert len({c.document for c in fund.cedentes}) == len(fund.cedentes)
    names = [p.name for f in sim.funds for p in (*f.cedentes, *f.sacados)]
    assert any(not n.isascii() for n in names)  # accents (ã, ç, é, ...) are present
    assert len({f.cnpj for f in sim.funds}) == len(sim.funds)


def test_receivables(sim):
    for fund in sim.funds:
        recs = sim.receivables(fund.cnpj)
        assert len({r.key for r in recs}) == len(recs)  # key = (cedente, seu_numero)
        by_number = defaultdict(set)
        for r in recs:
            by_number[r.seu_numero].add(r.cedente.document)
            assert r.fund_cnpj == fund.cnpj
            assert r.issue_date <= r.acquisition_date < r.original_due_date <= r.adjusted_due_date
            assert is_business_day(r.acquisition_date)
            assert r.adjusted_due_date == first_business_day_on_or_after(r.original_due_date)
            for v in (r.nominal_value, r.acquisition_value):
                assert isinstance(v, Decimal) and v.as_tuple().exponent == -2
            assert Decimal("0") < r.acquisition_value < r.nominal_value
            assert Decimal("1.20") <= r.cession_rate <= Decimal("4.50")
            assert r.cession_rate.as_tuple().exponent == -2
            assert r.receivable_rate.as_tuple().exponent >= -4
            assert r.acquisition_value == direct_pv(r.nominal_value, r.cession_rate, r.term_days)
            assert r.seu_numero and r.numero_documento
        # seu_numero repeats across cedentes: the cedente is part of the key
        assert any(len(cedentes) > 1 for cedentes in by_number.values())
        assert {r.asset_type for r in recs} <= set(AssetType)


def test_positions_follow_conventions(stocks):
    seen_overdue = seen_performing = 0
    for fund_stocks in stocks.values():
        for n, (day, stock) in enumerate(fund_stocks):
            check_pv = n % 5 == 0  # the high-precision reference is slow: every fifth day
            keys = [p.receivable.key for p in stock]
            assert keys == sorted(keys) and len(set(keys)) == len(keys)
            for p in stock:
                r = p.receivable
                assert p.reference_date == day
                assert r.acquisition_date <= day
                for v in (p.nominal_value, p.acquisition_value, p.present_value, p.pdd_value):
                    assert isinstance(v, Decimal) and v.as_tuple().exponent == -2
                assert p.days_to_due == (r.adjusted_due_date - day).days
                assert p.days_overdue == max(0, -p.days_to_due)
                assert Decimal(0) < p.acquisition_value <= p.present_value <= p.nominal_value
                assert p.nominal_value <= r.nominal_value
                if p.days_overdue == 0:
                    seen_performing += 1
                    assert p.status == "A VENCER"
                    if check_pv:
                        assert p.present_value == direct_pv(p.nominal_value, r.cession_rate, p.days_to_due)
                else:
                    seen_overdue += 1
                    assert p.status == "VENCIDO"
                    assert p.present_value == p.nominal_value
                rating, pct = expected_provision(p.days_overdue, r.coobrigacao)
                assert (p.rating, p.provision_rate) == (rating, pct)
                assert p.pdd_value == (p.present_value * pct).quantize(CENT, rounding=ROUND_HALF_EVEN)
                assert p.pdd_bucket == expected_bucket(p.days_overdue)
    assert seen_overdue > 0 and seen_performing > 0


def test_book_size_and_concentration(sim, stocks):
    target = sim.params.receivables_per_fund
    for fund_stocks in stocks.values():
        sizes = [len(s) for _, s in fund_stocks]
        assert all(0.8 * target <= n <= 1.25 * target for n in sizes), sizes
        _, last = fund_stocks[-1]
        by_cedente = Counter()
        for p in last:
            by_cedente[p.receivable.cedente.document] += p.present_value
        total = sum(by_cedente.values())
        top1 = by_cedente.most_common(1)[0][1] / total
        assert Decimal("0.08") < top1 < Decimal("0.7"), top1
        ratings = Counter(p.rating for _, s in fund_stocks for p in s)
        assert {"AA", "A", "B", "C"} <= set(ratings)


def test_stock_matches_iter_stock(sim, stocks):
    fund = sim.funds[1]
    for day, stock in stocks[fund.cnpj][::7]:
        assert sim.stock(fund.cnpj, day) == stock
    with pytest.raises(ValueError):
        sim.stock(fund.cnpj, dt.date(2024, 7, 6))  # a Saturday


def test_dynamics_match_movements(sim, stocks):
    settled_before_due = overdue_settled = partial_seen = 0
    for fund in sim.funds:
        moves = defaultdict(list)
        for m in sim.movements(fund.cnpj):
            assert m.date in sim.business_days and m.amount.as_tuple().exponent == -2
            moves[m.date].append(m)
        fund_stocks = stocks[fund.cnpj]
        for (_, prev), (day, cur) in zip(fund_stocks, fund_stocks[1:], strict=False):
            prev_by_key = {p.receivable.key: p for p in prev}
            cur_by_key = {p.receivable.key: p for p in cur}
            gone = set(prev_by_key) - set(cur_by_key)
            new = set(cur_by_key) - set(prev_by_key)
            assert gone == {m.receivable.key for m in moves[day] if m.kind in EXITS}
            assert new == {m.receivable.key for m in moves[day] if m.kind is MovementKind.ACQUISITION}
            assert all(cur_by_key[k].receivable.acquisition_date == day for k in new)
            for k in gone:
                due = prev_by_key[k].receivable.adjusted_due_date
                if day <= due:
                    settled_before_due += 1
                else:
                    overdue_settled += 1
            for m in moves[day]:
                if m.kind is MovementKind.PARTIAL_SETTLEMENT:
                    partial_seen += 1
                    k = m.receivable.key
                    assert cur_by_key[k].nominal_value == prev_by_key[k].nominal_value - m.amount
    assert settled_before_due > 0  # present on D, gone on D+1 at or before the due date
    assert overdue_settled > 0  # late payments, repurchases
    assert partial_seen > 0


def test_write_off_after_180_days(long_sim):
    fund = long_sim.funds[0]
    stocks = list(long_sim.iter_stock(fund.cnpj))
    assert max(p.days_overdue for _, s in stocks for p in s) <= 180
    write_offs = [m for m in long_sim.movements(fund.cnpj) if m.kind is MovementKind.WRITE_OFF]
    assert write_offs
    days = long_sim.business_days
    by_day = dict(stocks)
    for m in write_offs:
        overdue = (m.date - m.receivable.adjusted_due_date).days
        assert overdue > 180
        prev_day = days[days.index(m.date) - 1]
        prev = {p.receivable.key: p for p in by_day[prev_day]}
        assert prev[m.receivable.key].days_overdue <= 180
        assert prev[m.receivable.key].rating == "G"
    kinds = Counter(m.kind for m in long_sim.movements(fund.cnpj))
    assert set(kinds) == set(MovementKind)


def test_parameter_validation():
    with pytest.raises(ValueError):
        simulate(funds=-1)
    empty = simulate(funds=1, days=0, receivables_per_fund=10)
    assert empty.business_days == () and list(empty.iter_stock(empty.funds[0].cnpj)) == []


def test_start_on_a_holiday_moves_to_the_next_business_day():
    # 20 November 2024 (Consciência Negra) is an ANBIMA holiday since 2024.
    holiday_start = simulate(seed=2, funds=1, days=3, start=dt.date(2024, 11, 20), receivables_per_fund=50)
    expected = tuple(dt.date(2024, 11, d) for d in (21, 22, 25))
    assert holiday_start.business_days == expected
    fund = holiday_start.funds[0]
    for r in holiday_start.receivables(fund.cnpj):
        assert r.acquisition_date != dt.date(2024, 11, 20) and r.adjusted_due_date != dt.date(2024, 11, 20)


def test_settlement_cash(sim):
    """paid / adjustment of each movement (the JSON `valorPago` / `ajuste` and the CNAB amount paid)."""
    signs = Counter()
    for fund in sim.funds:
        for m in sim.movements(fund.cnpj):
            rec = m.receivable
            for v in (m.paid, m.adjustment, m.open_nominal):
                assert v.as_tuple().exponent == -2
            if m.kind is MovementKind.ACQUISITION:
                assert (m.paid, m.adjustment, m.open_nominal) == (rec.acquisition_value, 0, rec.nominal_value)
                continue
            if m.kind is MovementKind.PARTIAL_SETTLEMENT:
                assert m.paid == m.amount and m.adjustment == 0 and m.open_nominal == rec.nominal_value
                continue
            assert m.adjustment == m.paid - m.open_nominal
            due = rec.adjusted_due_date
            days = (due - m.date).days
            if m.kind is MovementKind.WRITE_OFF:
                assert m.paid == 0 and m.amount == m.open_nominal
            elif m.kind is MovementKind.REPURCHASE or days > 0:
                assert m.paid == (direct_pv(m.open_nominal, rec.cession_rate, days) if days > 0 else m.open_nominal)
            elif days == 0:
                assert m.paid == m.open_nominal
            else:
                late = -days
                charge = (m.open_nominal * (Decimal("0.02") + Decimal("0.01") * late / 30)).quantize(
                    CENT, rounding=ROUND_HALF_EVEN
                )
                assert m.adjustment == charge > 0
            signs[(m.kind, (m.adjustment > 0) - (m.adjustment < 0))] += 1
    assert {(MovementKind.SETTLEMENT, s) for s in (-1, 0, 1)} <= set(signs)
    assert (MovementKind.REPURCHASE, -1) in signs
