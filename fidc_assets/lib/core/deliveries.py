"""Expected deliveries: which files each fund's custodians owe for a business day, and what became of them.

Pure: the fund registry's expectations (`Fund.expected`), the ANBIMA calendar, the file registry's rows
(as `FileRecord`s, read by `fidc_assets.lib.lake.deliveries`) and a clock go in; one `DeliveryStatus` per
(fund, custodian, entity, business day) comes out. A non-business day owes nothing.

States of one expected delivery (the first that applies):

- ``accepted``: a file of the slice landed (file registry status `accepted`);
- ``received``: a file arrived and waits to be landed (status `received`, or only `superseded` ones);
- ``quarantined``: every file of the slice was quarantined whole: it came, but nothing usable did;
- ``missing``: nothing arrived and the due time has passed;
- ``pending``: nothing arrived yet and it is not due yet.

`late` is separate: the first file arrived after the due time, or nothing arrived and the due time has
passed. A late file that arrives clears `missing` (its state becomes `received`, then `accepted`) and stays
`late` so that the day's record says it came late. `received_at` is when the custodian delivered the file
(its modification time in the inbox), not when the pipeline saw it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from fidc_assets.lib.core.calendar import TIMEZONE, is_business_day, next_business_day
from fidc_assets.lib.core.funds import Expectation, FundRegistry

_SAO_PAULO = ZoneInfo(TIMEZONE)


class DeliveryState(StrEnum):
    ACCEPTED = "accepted"
    RECEIVED = "received"
    QUARANTINED = "quarantined"
    MISSING = "missing"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class FileRecord:
    """The part of a file registry row (lake.file_registry) the monitoring reads."""

    sha256: str
    custodian_id: str
    entity: str
    fund_cnpj: str
    reference_date: dt.date
    received_at: dt.datetime | None  # aware; None only for rows written before it was recorded
    status: str  # received | accepted | quarantined | superseded
    file_name: str = ""  # the name it was delivered under (lake.file_registry.original_name)


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One expected delivery of one business day."""

    fund_cnpj: str
    custodian_id: str
    entity: str
    reference_date: dt.date
    due_at: dt.datetime  # aware, São Paulo time
    state: DeliveryState
    late: bool
    first_received_at: dt.datetime | None
    files: int  # file registry rows for the slice (versions received)

    @property
    def arrived(self) -> bool:
        return self.state in (DeliveryState.ACCEPTED, DeliveryState.RECEIVED, DeliveryState.QUARANTINED)

    @property
    def flagged(self) -> bool:
        """What the late-delivery check fails on: due and absent, or present but unusable."""
        return self.state in (DeliveryState.MISSING, DeliveryState.QUARANTINED)


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts over a group of expected deliveries (a fund-day, or a fund and custodian)."""

    expected: int = 0
    received: int = 0  # arrived (accepted, waiting to land, or quarantined)
    accepted: int = 0
    quarantined: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0

    @property
    def complete(self) -> bool:
        """Every expected file landed (a day with no expectation is not complete: nothing says it is)."""
        return self.expected > 0 and self.accepted == self.expected

    @classmethod
    def of(cls, statuses: Iterable[DeliveryStatus]) -> Tally:
        s = list(statuses)
        return cls(
            expected=len(s),
            received=sum(d.arrived for d in s),
            accepted=sum(d.state is DeliveryState.ACCEPTED for d in s),
            quarantined=sum(d.state is DeliveryState.QUARANTINED for d in s),
            late=sum(d.late for d in s),
            missing=sum(d.state is DeliveryState.MISSING for d in s),
            pending=sum(d.state is DeliveryState.PENDING for d in s),
        )


def due_at(day: dt.date, expectation: Expectation) -> dt.datetime:
    """When the file for business day `day` is due: `due` (São Paulo) on `day` or N business days after."""
    due_day = day
    for _ in range(expectation.business_days_after):
        due_day = next_business_day(due_day)
    return dt.datetime.combine(due_day, expectation.due_time, tzinfo=_SAO_PAULO)


def _state(records: Sequence[FileRecord]) -> DeliveryState | None:
    statuses = {r.status for r in records}
    if "accepted" in statuses:
        return DeliveryState.ACCEPTED
    if "received" in statuses or "superseded" in statuses:
        return DeliveryState.RECEIVED
    if "quarantined" in statuses:
        return DeliveryState.QUARANTINED
    return None


def evaluate(
    registry: FundRegistry, days: Iterable[dt.date], files: Iterable[FileRecord], now: dt.datetime
) -> list[DeliveryStatus]:
    """Every expected delivery of `days` (non-business days skipped), in day, registry, expectation order.

    `now` must be aware (a naive clock would make every due time ambiguous)."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    by_slice: dict[tuple[str, str, str, dt.date], list[FileRecord]] = {}
    for f in files:
        by_slice.setdefault((f.fund_cnpj, f.custodian_id, f.entity, f.reference_date), []).append(f)
    out: list[DeliveryStatus] = []
    for day in sorted(set(days)):
        if not is_business_day(day):
            continue
        for fund in registry.funds:
            for e in fund.expected:
                records = by_slice.get((fund.cnpj, e.custodian, e.entity, day), [])
                due = due_at(day, e)
                times = [r.received_at for r in records if r.received_at is not None]
                first = min(times) if times else None
                state = _state(records)
                if state is None:
                    state = DeliveryState.MISSING if now > due else DeliveryState.PENDING
                late = (first > due) if first is not None else (state is DeliveryState.MISSING)
                out.append(DeliveryStatus(fund.cnpj, e.custodian, e.entity, day, due, state, late, first, len(records)))
    return out


def by_fund_day(statuses: Iterable[DeliveryStatus]) -> dict[tuple[str, dt.date], list[DeliveryStatus]]:
    """Statuses grouped by (fund, day), in first-seen order."""
    groups: dict[tuple[str, dt.date], list[DeliveryStatus]] = {}
    for s in statuses:
        groups.setdefault((s.fund_cnpj, s.reference_date), []).append(s)
    return groups


def by_fund_custodian(statuses: Iterable[DeliveryStatus]) -> dict[tuple[str, str], list[DeliveryStatus]]:
    """Statuses grouped by (fund, custodian), in first-seen order."""
    groups: dict[tuple[str, str], list[DeliveryStatus]] = {}
    for s in statuses:
        groups.setdefault((s.fund_cnpj, s.custodian_id), []).append(s)
    return groups
