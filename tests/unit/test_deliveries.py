"""Expected deliveries (lib.core.deliveries): on time, late, missing, quarantined, non-business days, and a
late file that arrives and clears the flag."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from fidc_assets.lib.core.deliveries import DeliveryState, FileRecord, Tally, by_fund_day, due_at, evaluate
from fidc_assets.lib.core.funds import Expectation, Fund, FundRegistry, Manager

SP = ZoneInfo("America/Sao_Paulo")
FUND = "17556821000101"
DAY = dt.date(2024, 7, 31)  # a Wednesday
REGISTRY = FundRegistry(
    managers=(Manager(id="aurora", name="Aurora"),),
    funds=(
        Fund(
            cnpj=FUND,
            name="FIDC A",
            manager="aurora",
            custodians=("custodia_alfa", "custodia_epsilon"),
            expected=(
                Expectation(custodian="custodia_alfa", entity="receivable_positions", due="18:00"),
                Expectation(custodian="custodia_epsilon", entity="acquisitions", due="10:00", business_days_after=1),
            ),
        ),
    ),
)


def _at(day: dt.date, hh_mm: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hh_mm), tzinfo=SP)


def _file(
    entity: str, status: str, received: dt.datetime, custodian: str = "custodia_alfa", sha: str = "a"
) -> FileRecord:
    return FileRecord(sha, custodian, entity, FUND, DAY, received, status)


def _stock(statuses):
    [stock] = [s for s in statuses if s.entity == "receivable_positions"]
    return stock


def test_on_time_file_is_accepted_and_not_late():
    files = [_file("receivable_positions", "accepted", _at(DAY, "17:59"))]
    stock = _stock(evaluate(REGISTRY, [DAY], files, _at(DAY, "20:00")))
    assert (stock.state, stock.late, stock.files) == (DeliveryState.ACCEPTED, False, 1)
    assert stock.due_at == _at(DAY, "18:00") and not stock.flagged


def test_before_the_due_time_nothing_is_missing_yet():
    stock = _stock(evaluate(REGISTRY, [DAY], [], _at(DAY, "17:00")))
    assert (stock.state, stock.late, stock.flagged) == (DeliveryState.PENDING, False, False)


def test_after_the_due_time_an_absent_file_is_missing_and_late():
    stock = _stock(evaluate(REGISTRY, [DAY], [], _at(DAY, "18:01")))
    assert (stock.state, stock.late, stock.flagged) == (DeliveryState.MISSING, True, True)


def test_a_late_file_clears_missing_but_stays_late():
    now = _at(DAY, "21:00")
    before = _stock(evaluate(REGISTRY, [DAY], [], now))
    files = [_file("receivable_positions", "received", _at(DAY, "20:30"))]
    arrived = _stock(evaluate(REGISTRY, [DAY], files, now))
    assert before.flagged and not arrived.flagged
    assert (arrived.state, arrived.late, arrived.first_received_at) == (DeliveryState.RECEIVED, True, _at(DAY, "20:30"))


def test_a_file_quarantined_whole_is_flagged_until_a_good_version_lands():
    bad = _file("receivable_positions", "quarantined", _at(DAY, "17:00"))
    stock = _stock(evaluate(REGISTRY, [DAY], [bad], _at(DAY, "20:00")))
    assert (stock.state, stock.late, stock.flagged) == (DeliveryState.QUARANTINED, False, True)
    fixed = _file("receivable_positions", "accepted", _at(DAY, "19:00"), sha="b")
    stock = _stock(evaluate(REGISTRY, [DAY], [bad, fixed], _at(DAY, "20:00")))
    # the first version came on time: the delivery is on time, and now usable
    assert (stock.state, stock.late, stock.files) == (DeliveryState.ACCEPTED, False, 2)


def test_non_business_days_owe_nothing():
    saturday, christmas = dt.date(2024, 8, 3), dt.date(2024, 12, 25)
    assert evaluate(REGISTRY, [saturday, christmas], [], _at(dt.date(2025, 1, 10), "12:00")) == []


def test_due_on_a_later_business_day_skips_weekends_and_holidays():
    friday = dt.date(2024, 8, 2)
    [_, events] = evaluate(REGISTRY, [friday], [], _at(friday, "23:00"))
    assert events.due_at == _at(dt.date(2024, 8, 5), "10:00") and events.state is DeliveryState.PENDING
    before_christmas = Expectation(custodian="custodia_alfa", entity="settlements", due="10:00", business_days_after=1)
    assert due_at(dt.date(2024, 12, 24), before_christmas) == _at(dt.date(2024, 12, 26), "10:00")


def test_files_of_other_slices_do_not_count():
    other_day = FileRecord(
        "x", "custodia_alfa", "receivable_positions", FUND, DAY - dt.timedelta(days=1), None, "accepted"
    )
    other_fund = FileRecord("y", "custodia_alfa", "receivable_positions", "11222333000181", DAY, None, "accepted")
    other_custodian = _file("receivable_positions", "accepted", _at(DAY, "12:00"), custodian="custodia_beta")
    stock = _stock(evaluate(REGISTRY, [DAY], [other_day, other_fund, other_custodian], _at(DAY, "20:00")))
    assert stock.state is DeliveryState.MISSING


def test_a_fund_day_tally():
    files = [_file("receivable_positions", "accepted", _at(DAY, "19:00"))]
    [(key, statuses)] = by_fund_day(evaluate(REGISTRY, [DAY], files, _at(DAY + dt.timedelta(days=1), "11:00"))).items()
    tally = Tally.of(statuses)
    assert key == (FUND, DAY)
    assert (tally.expected, tally.received, tally.accepted, tally.late, tally.missing, tally.complete) == (
        2, 1, 1, 2, 1, False,
    )  # fmt: skip
    assert not Tally().complete  # a day nobody owes anything for is not "complete"


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(REGISTRY, [DAY], [], dt.datetime(2024, 7, 31, 20))
