"""The CVM Informe Mensal read through its shipped spec: the real published header line of every tab (the
domain note's, tests/data/cvm_inf_mensal_headers.txt) in both identity prefixes, the real published rows,
and the published data's duplicates."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from fidc_assets.lib.core.shipped import SHIPPED
from fidc_assets.lib.regulatory.reader import read_report
from fidc_assets.lib.regulatory.spec import load_cvm_spec, zip_period

HEADERS = Path(__file__).resolve().parents[1] / "data" / "cvm_inf_mensal_headers.txt"
NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
#: tab I's columns the layout gained at the 2020-11 switch (the domain note)
GAINED_IN_2020_11 = ("CLASSE_UNICA", "CLASSE", "CNPJ_CLASSE", "TAB_I2C5_VL_COTA_FIF")


def published_headers() -> dict[str, list[str]]:
    headers, tab = {}, None
    for line in HEADERS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"## inf_mensal_fidc_tab_(\S+)_YYYYMM\.csv", line)
        if m:
            tab = m.group(1)
        elif tab and line.startswith("TP_FUNDO_CLASSE;"):
            headers[tab] = line.split(";")
            tab = None
    return headers


@pytest.fixture(scope="module")
def spec():
    return load_cvm_spec(SHIPPED.root / "cvm" / "inf_mensal.yaml")


def zipped(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text.encode("latin-1"))
    return buffer.getvalue()


def test_every_tab_of_the_domain_note_is_declared(spec):
    headers = published_headers()
    assert len(headers) == 18
    for tab, names in headers.items():
        assert tab in spec.tabs, tab
        assert list(spec.tabs[tab].columns) == names[4:], tab


@pytest.mark.parametrize("tab", sorted(published_headers()))
def test_a_real_header_line_parses_in_both_prefixes(spec, tab):
    names = published_headers()[tab]
    values = names[4:]
    current = (
        ";".join(names)
        + "\n"
        + ";".join(["Classe", "14.166.140/0001-49", "FIDC SIFRA STAR", "2024-12-31"] + [""] * len(values))
    )
    old_values = [v for v in values if not (tab == "I" and v in GAINED_IN_2020_11)]
    old_names = ["CNPJ_FUNDO", "DENOM_SOCIAL", "DT_COMPTC", *old_values]
    previous = (
        ";".join(old_names) + "\n" + ";".join(["07.727.002/0001-26", "FIDC PCG", "2019-11-30"] + [""] * len(old_values))
    )
    data = zipped({f"inf_mensal_fidc_tab_{tab}_202412.csv": current, f"inf_mensal_fidc_tab_{tab}_201911.csv": previous})
    report = read_report(data, "inf_mensal_fidc_2019.zip", "0" * 64, spec, NOW)
    by_period = {t.period: t for t in report.tabs}
    new, old = by_period[dt.date(2024, 12, 1)], by_period[dt.date(2019, 11, 1)]
    assert (new.layout, old.layout) == ("current", "previous")
    assert new.rows.to_pylist()[0]["cnpj_fundo_classe"] == "14166140000149"
    assert old.rows.to_pylist()[0]["tp_fundo_classe"] == "Fundo"
    assert old.rows.to_pylist()[0]["dt_comptc"] == dt.date(2019, 11, 30)
    assert new.rejected == [] and old.rejected == []
    assert new.missing_columns == () and new.ignored_columns == ()
    assert old.missing_columns == tuple(v for v in values if v not in old_values)  # null in the older layout


def test_real_published_rows_of_tab_x_7(spec):
    """The domain note's real rows: old and new prefix, a Fundo/Classe pair for the same CNPJ and month."""
    text = HEADERS.read_text(encoding="utf-8").split("# Real rows (public regulatory data), tab X_7, as published:\n")[
        1
    ]
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    old = "\n".join(lines[:2]) + "\n"
    new = "\n".join(lines[2:]) + "\n"
    data = zipped(
        {
            "inf_mensal_fidc_tab_X_7_201911.csv": old,
            "inf_mensal_fidc_tab_X_7_202412.csv": new.replace("2022-01-31", "2024-12-31").replace(
                "2026-08-31", "2024-12-31"
            ),
        }
    )
    report = read_report(data, "inf_mensal_fidc_2024.zip", "0" * 64, spec, NOW)
    by_period = {t.period: t for t in report.tabs}
    assert by_period[dt.date(2019, 11, 1)].rows.to_pylist()[0]["tab_x_vl_garantia_dircred"] == Decimal("450108929.97")
    current = by_period[dt.date(2024, 12, 1)]
    rows = current.rows.to_pylist()
    assert [(r["tp_fundo_classe"], r["cnpj_fundo_classe"]) for r in rows] == [
        ("Fundo", "37087653000160"),
        ("Classe", "14166140000149"),
        ("Classe", "13733804000141"),
    ]
    assert current.kind_duplicates == 1  # SIFRA STAR as Fundo and as Classe: the Classe row is kept
    assert rows[0]["tab_x_vl_garantia_dircred"] is None  # an empty field is null
    assert rows[1]["denom_social"] == "FUNDO DE INVESTIMENTO EM DIREITOS CREDITÓRIOS SIFRA STAR"  # latin-1


def test_identical_rows_and_rejected_values(spec):
    head = "TP_FUNDO_CLASSE;CNPJ_FUNDO_CLASSE;DENOM_SOCIAL;DT_COMPTC;TAB_IV_A_VL_PL;TAB_IV_B_VL_PL_MEDIO\n"
    row = "Classe;14.166.140/0001-49;F;2024-07-31;1000.25;990.10\n"
    bad = "Classe;13.733.804/0001-41;G;2024-07-31;1.000,25;\nClasse;37.087.653/0001-60;H;2024-08-31;5.00;\n"
    report = read_report(
        zipped({"inf_mensal_fidc_tab_IV_202407.csv": head + row + row + bad}),
        "inf_mensal_fidc_202407.zip",
        "0" * 64,
        spec,
        NOW,
    )
    tab = report.tabs[0]
    assert tab.identical_rows == 1
    assert [r["tab_iv_a_vl_pl"] for r in tab.rows.to_pylist()] == [Decimal("1000.25")]
    assert [(r.line_number, r.field, r.reason_code) for r in tab.rejected] == [
        (4, "TAB_IV_A_VL_PL", "unparseable_number"),
        (5, "DT_COMPTC", "date_mismatch"),
    ]


def test_zip_names(spec):
    assert zip_period(spec, "inf_mensal_fidc_202407.zip") == (dt.date(2024, 7, 1), dt.date(2024, 7, 1))
    assert zip_period(spec, "inf_mensal_fidc_2019.zip") == (dt.date(2019, 1, 1), dt.date(2019, 12, 1))
    assert zip_period(spec, "inf_diario_fi_202407.zip") is None
