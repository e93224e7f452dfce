"""The reconciliation's rules (fidc_assets.lib.regulatory.compare), one per figure and status."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

from fidc_assets.lib.regulatory.compare import compare_fund_month, compare_month
from fidc_assets.lib.regulatory.figures import CvmFigures, LakeFigures, QuotaClass

MONTH = dt.date(2024, 7, 1)
CNPJ = "14166140000149"


def lake() -> LakeFigures:
    return LakeFigures(
        CNPJ, dt.date(2024, 7, 31), True, pl=D("1000.00"), pl_senior=D("700.00"), pl_mezzanine=D("100.00"),
        pl_junior=D("200.00"), subordination=D("0.300000"), present_value=D("900.00"), pdd=D("50.00"),
        overdue_pv=(D("40.00"),) + (D("0.00"),) * 9, overdue_nominal=(D("45.00"),) + (D("0.00"),) * 9,
        acquisitions_count=3, acquisitions_value=D("120.00"),
    )  # fmt: skip


def cvm() -> CvmFigures:
    return CvmFigures(
        CNPJ, dt.date(2024, 7, 31), pl=D("1000.00"), receivables_risk=D("600.00"), receivables_no_risk=D("300.00"),
        pdd_risk=D("-30.00"), pdd_no_risk=D("20.00"), overdue=[D("40.00")] + [None] * 9, acquisitions_count=3,
        acquisitions_value=D("120.00"),
        classes=[QuotaClass("Subclasse Senior Serie 1", D("7"), D("100")),
                 QuotaClass("Subclasse Subordinada Cota Mezanino | Serie 1", D("1"), D("100")),
                 QuotaClass("Subclasse Subordinada | Serie Unica", D("2"), D("100"))],
    )  # fmt: skip


def statuses(rows) -> dict[str, tuple[str, str]]:
    return {r.figure: (r.status, r.reason.split(":")[0]) for r in rows}


def test_equal_figures_all_match():
    rows = compare_fund_month(MONTH, lake(), cvm())
    assert {r.figure for r in rows} >= {"pl", "pdd", "receivables_present_value", "subordination", "overdue_1_30"}
    assert {r.status for r in rows} == {"match"}


def test_each_rule_names_its_status():
    c = cvm()
    c.pl = D("1000.01")  # a centavo off: exact means exact
    c.overdue[0] = D("45.00")  # the overdue installments at face value
    c.receivables_risk = D("550.00")  # net of the PDD
    c.classes[2] = QuotaClass("Subclasse Subordinada | Serie Unica", D("2"), D("100000"))  # x1000
    got = statuses(compare_fund_month(MONTH, lake(), c))
    assert got["pl"][0] == "unexplained"
    assert got["overdue_1_30"] == ("explained", "installments_vs_present_value")
    assert got["receivables_present_value"] == ("explained", "net_of_pdd")
    assert got["subordination"] == ("published_data_defect", "quota_value_off")
    assert got["pdd"] == ("match", "")  # |-30| + |20|


def test_fidc_quotas_added_back_and_unknown_differences():
    c = cvm()
    c.receivables_no_risk, c.fidc_quotas = D("250.00"), D("50.00")
    c.acquisitions_value = D("119.99")
    got = statuses(compare_fund_month(MONTH, lake(), c))
    assert got["receivables_present_value"] == ("explained", "fidc_quotas_outside_dircred")
    assert got["acquisitions_value"][0] == "unexplained"
    c.overdue[0] = D("41.00")  # neither the PV nor the face value
    assert statuses(compare_fund_month(MONTH, lake(), c))["overdue_1_30"][0] == "unexplained"


def test_missing_sides_and_registry():
    other = "07727002000126"
    rows = compare_month(
        MONTH,
        {CNPJ: lake()},
        {other: replace(cvm(), cnpj=other), "37087653000160": replace(cvm(), cnpj="37087653000160")},
        registry={CNPJ, other},
    )
    by_fund = {(r.fund_cnpj, r.figure): r.status for r in rows}
    assert by_fund[(CNPJ, "report")] == "published_data_defect"  # ours, absent from the publication
    assert by_fund[(other, "report")] == "unexplained"  # in the registry and the report, not in the marts
    assert not any(f == "37087653000160" for f, _ in by_fund)  # not our fund: ignored
    empty_pl = cvm()
    empty_pl.pl, empty_pl.classes = None, []
    got = statuses(compare_fund_month(MONTH, lake(), empty_pl))
    assert got["pl"][0] == "published_data_defect" and got["subordination"][0] == "published_data_defect"


def test_x_4_quota_operations_against_the_change_of_the_quota_count():
    from fidc_assets.lib.regulatory.figures import QuotaOperation

    senior = "Subclasse Senior Serie 1"
    # no X_4 row and no change of the count: nothing happened on either side
    assert statuses(compare_fund_month(MONTH, replace(lake(), quota_count_change=D("0")), cvm()))[
        "quota_count_change"
    ] == ("match", "")
    # 10 quotas issued, 4 redeemed; an amortization pays value out without changing the count
    c = cvm()
    c.quota_operations = [
        QuotaOperation("Captações no Mês", senior, D("1000.00"), D("10")),
        QuotaOperation("Resgates", senior, D("400.00"), D("4")),
        QuotaOperation("Amortizações", senior, D("250.00"), None),
    ]
    rows = {r.figure: r for r in compare_fund_month(MONTH, replace(lake(), quota_count_change=D("6")), c)}
    assert (rows["quota_count_change"].status, rows["quota_count_change"].cvm_value) == ("match", D("6"))
    # the count moved by what X_4 does not say: someone must look
    got = compare_fund_month(MONTH, replace(lake(), quota_count_change=D("10")), c)
    assert statuses(got)["quota_count_change"][0] == "unexplained"
    assert [r.difference for r in got if r.figure == "quota_count_change"] == [D("-4")]
    # X_4 reports issues, the hot window has no quota counts for the fund
    assert statuses(compare_fund_month(MONTH, lake(), c))["quota_count_change"][0] == "unexplained"
    # an amortization alone is not compared (the marts have no counterpart of its amount)
    c.quota_operations = [QuotaOperation("Amortizações", senior, D("250.00"), None)]
    assert statuses(compare_fund_month(MONTH, replace(lake(), quota_count_change=D("0")), c))["quota_count_change"] == (
        "match",
        "",
    )


def test_the_quota_count_change_runs_from_the_last_position_before_the_month():
    from fidc_assets.lib.regulatory.figures import QuotaOperation, quota_count_changes

    june, july1, july31 = dt.date(2024, 6, 28), dt.date(2024, 7, 1), dt.date(2024, 7, 31)
    counts = [("A", june, D("100")), ("A", july1, D("110")), ("A", july31, D("115")),
              ("B", july1, D("50")), ("B", july31, D("50")), ("C", june, D("7"))]  # fmt: skip
    # A: issued on the month's first day too; B: no position before the month; C: nothing in the month
    assert quota_count_changes(counts, MONTH) == {"A": D("15"), "B": D("0")}
    assert QuotaOperation("CAPTAÇÕES NO MÊS", "", None, None).kind == "issue"
    assert QuotaOperation("Amortizacoes", "", None, None).kind == "amortization"
