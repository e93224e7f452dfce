"""reference.delivery_status rows (lib.hot.delivery_status.status_rows): one per expected delivery, naming the
accepted file of the slice, with the evaluation's states and clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from fidc_assets.lib.core.deliveries import FileRecord, evaluate
from fidc_assets.lib.core.funds import Expectation, Fund, FundRegistry, Manager
from fidc_assets.lib.hot.delivery_status import COLUMNS, DDL, status_rows

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
            custodians=("custodia_alfa",),
            expected=(
                Expectation(custodian="custodia_alfa", entity="receivable_positions", due="18:00"),
                Expectation(custodian="custodia_alfa", entity="fund_quotas", due="18:00"),
                Expectation(custodian="custodia_alfa", entity="settlements", due="18:00"),
            ),
        ),
    ),
)
NOW = dt.datetime.combine(DAY, dt.time(20), tzinfo=SP)


def _file(entity: str, sha: str, status: str, hh: int, name: str = "") -> FileRecord:
    received = dt.datetime.combine(DAY, dt.time(hh), tzinfo=SP)
    return FileRecord(sha, "custodia_alfa", entity, FUND, DAY, received, status, name or f"{entity}_{sha}.csv")


def test_one_row_per_expected_delivery_naming_the_accepted_file():
    files = [
        _file("receivable_positions", "old", "superseded", 9),
        _file("receivable_positions", "new", "accepted", 19, "estoque_corrigido.csv"),
        _file("fund_quotas", "bad", "quarantined", 10),
    ]
    rows = {r.entity: r for r in status_rows(evaluate(REGISTRY, [DAY], files, NOW), files, NOW)}
    assert set(rows) == {"receivable_positions", "fund_quotas", "settlements"}
    stock = rows["receivable_positions"]
    assert (stock.state, stock.is_late, stock.files) == ("accepted", False, 2)  # first came at 09:00
    assert (stock.accepted_sha256, stock.accepted_file_name) == ("new", "estoque_corrigido.csv")
    assert stock.first_received_at == dt.datetime.combine(DAY, dt.time(9), tzinfo=SP)
    assert stock.due_at == dt.datetime.combine(DAY, dt.time(18), tzinfo=SP) and stock.evaluated_at == NOW
    quotas = rows["fund_quotas"]
    assert (quotas.state, quotas.accepted_sha256, quotas.accepted_file_name) == ("quarantined", None, None)
    missing = rows["settlements"]
    assert (missing.state, missing.is_late, missing.files, missing.first_received_at) == ("missing", True, 0, None)


def test_two_accepted_versions_name_the_one_received_last_whatever_the_order():
    files = [_file("receivable_positions", "a", "accepted", 9), _file("receivable_positions", "b", "accepted", 11)]
    for order in (files, files[::-1]):
        rows = status_rows(evaluate(REGISTRY, [DAY], order, NOW), order, NOW)
        assert [r.accepted_sha256 for r in rows if r.entity == "receivable_positions"] == ["b"]


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        status_rows([], [], dt.datetime(2024, 7, 31, 20))


def test_every_row_field_is_a_column_of_the_table():
    assert all(f"{c} " in DDL for c in COLUMNS)
