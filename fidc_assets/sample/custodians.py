"""The sample's custodians: who they are (ids, names, file encodings, from each renderer), which of them
deliver what for which fund (`assign_custodians`: no fund-day is reported twice), and the fund registry of the
simulated administrator (`sample_fund_registry`, the ``funds.yaml`` of a sample).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from fidc_assets.lib.core.funds import Expectation, FundRegistry, Manager
from fidc_assets.lib.core.funds import Fund as RegistryFund
from fidc_assets.sample import (
    render_cnab444,
    render_events_json,
    render_stock_beta,
    render_stock_csv,
    render_stock_delta,
    render_stock_gama,
)

ALFA = render_stock_csv.CUSTODIAN_ID
BETA = render_stock_beta.CUSTODIAN_ID
GAMA = render_stock_gama.CUSTODIAN_ID
DELTA = render_stock_delta.CUSTODIAN_ID
EPSILON = render_cnab444.CUSTODIAN_ID
ZETA = render_events_json.CUSTODIAN_ID
#: Positions custodians in assignment order (fund i → the i-th, mod n, of those requested).
POSITIONS_CUSTODIANS: tuple[str, ...] = (ALFA, BETA, GAMA, DELTA)
#: Events (acquisitions + settlements) custodians in assignment order.
EVENTS_CUSTODIANS: tuple[str, ...] = (EPSILON, ZETA)
#: Renders every fund's quotas when requested.
QUOTAS_CUSTODIAN = DELTA
ALL_CUSTODIANS: tuple[str, ...] = (*POSITIONS_CUSTODIANS, *EVENTS_CUSTODIANS)
CUSTODIAN_NAMES = {
    ALFA: render_stock_csv.CUSTODIAN_NAME,
    BETA: render_stock_beta.CUSTODIAN_NAME,
    GAMA: render_stock_gama.CUSTODIAN_NAME,
    DELTA: render_stock_delta.CUSTODIAN_NAME,
    EPSILON: render_cnab444.CUSTODIAN_NAME,
    ZETA: render_events_json.CUSTODIAN_NAME,
}
CUSTODIAN_ENCODINGS = {
    ALFA: render_stock_csv.ENCODING,
    BETA: render_stock_beta.ENCODING,
    GAMA: render_stock_gama.ENCODING,
    DELTA: render_stock_delta.ENCODING,
    EPSILON: render_cnab444.ENCODING,
    ZETA: render_events_json.ENCODING,
}
# Kept for callers of the single-custodian generator.
CUSTODIAN_ID = ALFA
CUSTODIAN_NAME = CUSTODIAN_NAMES[ALFA]
ENCODING = CUSTODIAN_ENCODINGS[ALFA]


@dataclass(frozen=True, slots=True)
class FundCustodians:
    """Which custodian reports what for one fund (None: nobody)."""

    positions: str | None
    events: str | None
    quotas: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"positions": self.positions, "events": self.events, "quotas": self.quotas}


def resolve_custodians(custodians: Sequence[str] | str | None) -> tuple[str, ...]:
    """The requested custodians in `ALL_CUSTODIANS` order (None: all of them)."""
    if custodians is None:
        return ALL_CUSTODIANS
    wanted = {custodians} if isinstance(custodians, str) else set(custodians)
    unknown = sorted(wanted - set(ALL_CUSTODIANS))
    if unknown:
        raise ValueError(f"unknown custodians {unknown}; known: {list(ALL_CUSTODIANS)}")
    if not wanted:
        raise ValueError("at least one custodian is needed")
    return tuple(c for c in ALL_CUSTODIANS if c in wanted)


#: The simulated administrator's clients: fund i is managed by manager i mod 3 (the BI tenants).
SAMPLE_MANAGERS = (
    Manager(id="aurora", name="Aurora Gestão de Recursos Ltda"),
    Manager(id="boreal", name="Boreal Capital Gestora Ltda"),
    Manager(id="cerrado", name="Cerrado Investimentos Ltda"),
)


#: When the sample's files are due (São Paulo time): the day's stock and quotas by 19:00 on the day, the
#: day's events (remittances, settlements) by 10:00 on the next business day.
SAMPLE_DUE: dict[str, tuple[str, int]] = {
    "receivable_positions": ("19:00", 0),
    "fund_quotas": ("19:00", 0),
    "acquisitions": ("10:00", 1),
    "settlements": ("10:00", 1),
}
#: (fund CNPJ, custodian id, entity, day) of one rendered file.
Delivered = tuple[str, str, str, dt.date]


def sample_expectations(
    cnpj: str, custodians: Sequence[str], days: Sequence[dt.date], delivered: Collection[Delivered]
) -> tuple[Expectation, ...]:
    """What the sample really delivers for a fund every day: a (custodian, entity) that has a file on each of
    `days` (event files exist only on days with events, so a fund with a quiet day owes no event file)."""
    out = []
    for custodian in custodians:
        for entity, (due, after) in SAMPLE_DUE.items():
            if days and all((cnpj, custodian, entity, d) in delivered for d in days):
                out.append(Expectation(custodian=custodian, entity=entity, due=due, business_days_after=after))
    return tuple(out)


def sample_fund_registry(
    funds: Sequence,
    fund_custodians: dict[str, FundCustodians],
    days: Sequence[dt.date] = (),
    delivered: Collection[Delivered] = (),
) -> FundRegistry:
    """The fund registry (funds.yaml) of a sample: every simulated fund, its manager and custodians, and the
    files it delivers every one of `days` (`delivered`: every rendered file) as its expectations."""
    entries = []
    for i, f in enumerate(funds):
        fc = fund_custodians[f.cnpj]
        custodians = tuple(dict.fromkeys(c for c in (fc.positions, fc.events, fc.quotas) if c is not None))
        manager = SAMPLE_MANAGERS[i % len(SAMPLE_MANAGERS)].id
        expected = sample_expectations(f.cnpj, custodians, days, delivered)
        entries.append(
            RegistryFund(cnpj=f.cnpj, name=f.name, manager=manager, custodians=custodians, expected=expected)
        )
    used = {e.manager for e in entries}
    return FundRegistry(managers=tuple(m for m in SAMPLE_MANAGERS if m.id in used), funds=tuple(entries))


def assign_custodians(fund_count: int, custodians: Sequence[str]) -> list[FundCustodians]:
    """Fund i's custodians: the i-th (mod n) requested positions and events custodians; quotas: delta."""
    positions = [c for c in POSITIONS_CUSTODIANS if c in custodians]
    events = [c for c in EVENTS_CUSTODIANS if c in custodians]
    quotas = QUOTAS_CUSTODIAN if QUOTAS_CUSTODIAN in custodians else None
    return [
        FundCustodians(
            positions[i % len(positions)] if positions else None,
            events[i % len(events)] if events else None,
            quotas,
        )
        for i in range(fund_count)
    ]
