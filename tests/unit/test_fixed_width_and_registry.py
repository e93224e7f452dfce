"""Fixed-width row reasons (CNAB 444) and the asset type registry's currencies."""

from __future__ import annotations

import datetime as dt

from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.adapters import parse_bytes
from fidc_assets.lib.ingest.specs import CustodianSpec, FileMatch, load_specs, match_file

FUND = "223344550001" + cnpj_check_digits("223344550001")
CEDENTE = "667788990001" + cnpj_check_digits("667788990001")
CPF = "012345678" + cpf_check_digits("012345678")
NOW = dt.datetime(2024, 7, 2, 12, tzinfo=dt.UTC)


def matched(name: str, specs: dict[str, CustodianSpec]) -> FileMatch:
    """The spec `name` matches (the test's files are named to match one)."""
    match = match_file(name, specs)
    assert match is not None, f"{name} matches no custodian spec"
    return match


def _line(kind: str, seq: int, fields: dict[tuple[int, int], str]) -> str:
    line = [" "] * 444
    line[0] = kind
    for (start, end), text in fields.items():
        width = end - start + 1
        line[start - 1 : end] = list(text.rjust(width, "0") if text.isdigit() else text.ljust(width)[:width])
    line[438:444] = list(f"{seq:06d}")
    return "".join(line)


def _detail(seq: int, rid: str, **over: str) -> str:
    fields = {(38, 62): rid, (109, 110): "01", (121, 126): "010824", (127, 139): "100000", (148, 149): "01",
              (151, 156): "010624", (193, 205): "95000", (219, 220): "01", (221, 234): CPF.zfill(14),
              (381, 394): CEDENTE, (21, 22): "02"}  # fmt: skip
    for key, value in over.items():
        fields[{"occurrence": (109, 110), "doc_type": (219, 220), "due": (121, 126)}[key]] = value
    return _line("1", seq, fields)


def _parse(lines: list[str]):
    specs = load_specs(CUSTODIANS_DIR)
    name = f"CNAB444_{FUND}_20240702.REM"
    data = ("\r\n".join(lines) + "\r\n").encode("latin-1")
    return parse_bytes(data, name, matched(name, specs), "f" * 64, NOW)


def test_cnab_detail_lands_with_implied_decimals_and_a_zero_padded_cpf():
    result = _parse([_line("0", 1, {(95, 100): "020724"}), _detail(2, "R1"), _line("9", 3, {})])
    assert result.rejected == []
    row = result.rows.to_pylist()[0]
    assert row["nominal_value"] == 1000 and str(row["nominal_value"]) == "1000.00"
    assert str(row["acquisition_value"]) == "950.00"
    assert row["sacado_doc"] == CPF  # 14 digits on the line, a CPF by its type 01
    assert row["event_date"] == dt.date(2024, 7, 2)  # @file_date
    assert row["due_date"] == dt.date(2024, 8, 1)
    assert (row["asset_type"], row["coobligation"], row["fund_cnpj"]) == ("DM", False, FUND)


def test_cnab_row_reasons_keep_physical_lines():
    lines = [
        _line("0", 1, {(95, 100): "020724"}),
        _detail(2, "R1"),
        _detail(3, "R2")[:400],  # cut short
        _line("5", 4, {}),  # a record type the layout does not have
        _detail(5, "R3", occurrence="99"),  # not an acquisition
        _detail(6, "R4", doc_type="02"),  # a CPF declared as CNPJ
        _detail(7, "R5", due="300224"),  # 30 February
        _line("9", 8, {}),
    ]
    result = _parse(lines)
    got = [(r.line_number, r.reason_code) for r in result.rejected]
    assert got == [
        (3, "wrong_line_length"), (4, "unknown_record_type"), (5, "unknown_code"), (6, "invalid_document"),
        (7, "unparseable_date"),
    ]  # fmt: skip
    assert [r["receivable_id"] for r in result.rows.to_pylist()] == ["R1"]
    assert result.rejected[0].raw_text == lines[2]


def test_asset_type_registry_sets_foreign_currency():
    specs = load_specs(CUSTODIANS_DIR)
    header = (
        "fundo_cnpj,data_posicao,seu_numero,numero_documento,tipo_ativo,cedente_cpf_cnpj,cedente_nome,"
        "sacado_cpf_cnpj,sacado_nome,data_emissao,data_aquisicao,data_vencimento,data_vencimento_ajustada,"
        "valor_face,valor_aquisicao,valor_presente,valor_pdd,faixa_pdd,situacao,coobrigacao,taxa_cessao,moeda"
    )
    rows = [
        f"{FUND},2024-07-02,E1,D1,EXP,{CEDENTE},C,{CPF},S,2024-06-01,2024-06-02,2024-09-01,2024-09-01,"
        "5000.00,4800.00,4900.00,0.00,a,A VENCER,false,1.0,",
        f"{FUND},2024-07-02,E2,D2,DM,{CEDENTE},C,{CPF},S,2024-06-01,2024-06-02,2024-09-01,2024-09-01,"
        "100.00,90.00,95.00,0.00,a,A VENCER,false,1.0,",
        f"{FUND},2024-07-02,E3,D3,EXP,{CEDENTE},C,{CPF},S,2024-06-01,2024-06-02,2024-09-01,2024-09-01,"
        "100.00,90.00,95.00,0.00,a,A VENCER,false,1.0,EUR",
        f"{FUND},2024-07-02,E4,D4,DM,{CEDENTE},C,{CPF},S,2024-06-01,2024-06-02,2024-09-01,2024-09-01,"
        "100.00,90.00,95.00,0.00,a,A VENCER,false,1.0,reais",
    ]
    data = "\n".join([header, *rows, "TRAILER,4,5300.00"]).encode()
    name = f"posicao_{FUND}_20240702.csv"
    result = parse_bytes(data, name, matched(name, specs), "e" * 64, NOW)
    currencies = {r["receivable_id"]: r["currency"] for r in result.rows.to_pylist()}
    assert currencies == {"E1": "USD", "E2": "BRL", "E3": "EUR"}
    assert [(r.line_number, r.reason_code, r.field) for r in result.rejected] == [(5, "unknown_code", "moeda")]
