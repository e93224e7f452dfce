"""The spec-driven engine on small custodia_alfa files: one test per row reason code and per file failure.

Files are built in the custodia_alfa layout (latin-1, `;`, comma decimals, dd/mm/yyyy) with the header read
from the shipped YAML. Line numbers are 1-based physical lines: the header is line 1, and blank lines are
skipped but still counted.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
import yaml

from fidc_assets.lib.core.canonical import RECEIVABLE_POSITIONS, arrow_schema
from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits, format_cnpj, format_cpf
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.adapters import ROW_REASONS, FileRejected, ParseResult, parse_bytes
from fidc_assets.lib.ingest.specs import CustodianSpec, DelimitedFormat, FileMatch, load_spec, match_file

SPEC_PATH = CUSTODIANS_DIR / "custodia_alfa.yaml"
SPEC = load_spec(SPEC_PATH)


def _source_columns() -> list[str]:
    raw = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    (file_spec,) = raw["files"]
    return [v if isinstance(v, str) else v["column"] for v in file_spec["columns"].values()]


COLUMNS = _source_columns()
HEADER = ";".join(COLUMNS)


def _cnpj(base12: str) -> str:
    return base12 + cnpj_check_digits(base12)


def _cpf(base9: str) -> str:
    return base9 + cpf_check_digits(base9)


def matched(name: str, specs: dict[str, CustodianSpec]) -> FileMatch:
    """The spec `name` matches (the test's files are named to match one)."""
    match = match_file(name, specs)
    assert match is not None, f"{name} matches no custodian spec"
    return match


FUND = _cnpj("112223330001")
OTHER_FUND = _cnpj("123456780001")
CEDENTE = _cnpj("330001670001")
ORIGINATOR = _cnpj("607469480001")
SACADO = _cpf("529982247")
DAY = dt.date(2024, 3, 15)
NAME = f"ESTOQUE_{FUND}_{DAY:%Y%m%d}.csv"
SHA = "ab" * 32
NOW = dt.datetime(2024, 3, 16, 9, 30, tzinfo=dt.UTC)
MATCH = matched(NAME, {SPEC.id: SPEC})


def _wrong_check_digit(doc: str) -> str:
    return doc[:-1] + str((int(doc[-1]) + 1) % 10)


def row(receivable_id: str = "R1", **overrides: str) -> str:
    """One data line in the custodia_alfa layout; every field valid unless overridden."""
    values = {
        "DOC_FUNDO": format_cnpj(FUND),
        "DATA_REFERENCIA": "15/03/2024",
        "SEU_NUMERO": receivable_id,
        "NU_DOCUMENTO": f"NF-{receivable_id}",
        "TIPO_RECEBIVEL": "DM",
        "DOC_ORIGINADOR": format_cnpj(ORIGINATOR),
        "NOME_ORIGINADOR": "Originadora São João",
        "DOC_CEDENTE": format_cnpj(CEDENTE),
        "NOME_CEDENTE": "Cedente Açúcar Ltda",
        "DOC_SACADO": format_cpf(SACADO),
        "NOME_SACADO": "José Simões",
        "DATA_EMISSAO": "01/03/2024",
        "DATA_AQUISICAO": "05/03/2024",
        "DATA_VENCIMENTO_ORIGINAL": "13/04/2024",
        "DATA_VENCIMENTO_AJUSTADA": "15/04/2024",
        "VALOR_NOMINAL": "1000,00",
        "VALOR_AQUISICAO": "950,25",
        "VALOR_PRESENTE": "975,10",
        "VALOR_PDD": "0,00",
        "FAIXA_PDD": "A",
        "SITUACAO_RECEBIVEL": "A VENCER",
        "COOBRIGACAO": "SIM",
        "TAXA_CESSAO": "1,75",
        "TX_RECEBIVEL": "2,1",
        "PRAZO_ATUAL": "31",
    }
    unknown = set(overrides) - set(values)
    assert not unknown, f"not a custodia_alfa column: {unknown}"
    values.update(overrides)
    assert set(values) == set(COLUMNS), "the spec's columns changed: update row()"
    return ";".join(values[c] for c in COLUMNS)


def csv(*lines: str, header: str = HEADER, newline: str = "\n", encoding: str = "latin-1") -> bytes:
    return (newline.join([header, *lines]) + newline).encode(encoding)


def parse(data: bytes, match: FileMatch = MATCH, name: str = NAME) -> ParseResult:
    return parse_bytes(data, name, match, SHA, NOW)


def rejected_file(data: bytes, match: FileMatch = MATCH) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        parse(data, match)
    return info.value


def with_encoding(match: FileMatch, encoding: str) -> FileMatch:
    fmt = match.file_spec.format.model_copy(update={"encoding": encoding})
    return match.model_copy(update={"file_spec": match.file_spec.model_copy(update={"format": fmt})})


def test_the_layout_comes_from_the_shipped_spec():
    assert MATCH is not None
    assert (MATCH.fund_cnpj, MATCH.reference_date) == (FUND, DAY)
    assert COLUMNS[:3] == ["DOC_FUNDO", "DATA_REFERENCIA", "SEU_NUMERO"]
    assert "COOBRIGACAO" in COLUMNS
    assert len(COLUMNS) == len(set(COLUMNS))


# --- accepted rows ---------------------------------------------------------------------------------------------


def test_accepted_rows_are_canonical():
    result = parse(csv(row("R1"), row("R2", COOBRIGACAO="n", VALOR_NOMINAL="1234,56", DOC_CEDENTE=CEDENTE)))
    assert result.rejected == []
    assert result.entity is RECEIVABLE_POSITIONS
    table = result.rows
    assert table.schema.equals(arrow_schema(RECEIVABLE_POSITIONS), check_metadata=False)
    assert table.schema.field("nominal_value").type == pa.decimal128(18, 2)
    assert table.schema.field("cession_rate").type == pa.decimal128(18, 6)
    first, second = table.to_pylist()
    assert first == {
        "fund_cnpj": FUND,
        "custodian_id": "custodia_alfa",
        "reference_date": DAY,
        "receivable_id": "R1",
        "document_number": "NF-R1",
        "asset_type": "DM",
        "originator_doc": ORIGINATOR,
        "originator_name": "Originadora São João",
        "cedente_doc": CEDENTE,
        "cedente_name": "Cedente Açúcar Ltda",
        "sacado_doc": SACADO,
        "sacado_name": "José Simões",
        "issue_date": dt.date(2024, 3, 1),
        "acquisition_date": dt.date(2024, 3, 5),
        "due_date": dt.date(2024, 4, 13),
        "adjusted_due_date": dt.date(2024, 4, 15),
        "nominal_value": Decimal("1000.00"),
        "acquisition_value": Decimal("950.25"),
        "present_value": Decimal("975.10"),
        "pdd_value": Decimal("0.00"),
        "currency": "BRL",
        "risk_rating": None,
        "custodian_pdd_bucket": "A",
        "status": "A VENCER",
        "coobligation": True,
        "cession_rate": Decimal("1.750000"),
        "receivable_rate": Decimal("2.100000"),
        "term_days": 31,
        "file_date": DAY,
        "source": "custodian_file",
        "source_file_sha256": SHA,
        "source_line": 2,
        "ingested_at": NOW,
    }
    assert second["receivable_id"] == "R2"
    assert second["cedente_doc"] == CEDENTE  # punctuated or not, documents land as digits
    assert second["coobligation"] is False  # codes are case-insensitive
    assert second["nominal_value"] == Decimal("1234.56")
    assert second["source_line"] == 3
    assert result.control_totals == {
        "rows_accepted": 2,
        "rows_rejected": 0,
        "trailer_checked": False,
        "sum_nominal_value": "2234.56",
        "sum_present_value": "1950.20",
        "sum_acquisition_value": "1900.50",
    }


def test_optional_fields_may_be_blank():
    line = row(
        "R1",
        NU_DOCUMENTO="",
        DOC_SACADO="",
        DATA_EMISSAO="",
        VALOR_PDD="",
        COOBRIGACAO="",
        TAXA_CESSAO="",
        PRAZO_ATUAL="  ",
    )
    (accepted,) = parse(csv(line)).rows.to_pylist()
    assert accepted["document_number"] is None
    assert accepted["sacado_doc"] is None
    assert accepted["issue_date"] is None
    assert accepted["pdd_value"] is None
    assert accepted["coobligation"] is None
    assert accepted["cession_rate"] is None
    assert accepted["term_days"] is None


def test_parse_bytes_dispatches_delimited_files():
    result = parse_bytes(csv(row("R1")), NAME, MATCH, SHA, NOW)
    assert result.rows.num_rows == 1


# --- one rejected row per reason code --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, field, bad_value, reason",
    [
        ({"VALOR_NOMINAL": "12x4,50"}, "VALOR_NOMINAL", "12x4,50", "unparseable_number"),
        ({"VALOR_PRESENTE": "1,2,3"}, "VALOR_PRESENTE", "1,2,3", "unparseable_number"),
        ({"VALOR_NOMINAL": "1.000,00"}, "VALOR_NOMINAL", "1.000,00", "unparseable_number"),  # no thousands in spec
        ({"TAXA_CESSAO": "1.75%"}, "TAXA_CESSAO", "1.75%", "unparseable_number"),
        ({"PRAZO_ATUAL": "trinta"}, "PRAZO_ATUAL", "trinta", "unparseable_number"),
        ({"DATA_VENCIMENTO_ORIGINAL": "31/02/2024"}, "DATA_VENCIMENTO_ORIGINAL", "31/02/2024", "unparseable_date"),
        ({"DATA_EMISSAO": "2024-03-01"}, "DATA_EMISSAO", "2024-03-01", "unparseable_date"),
        ({"SEU_NUMERO": ""}, "SEU_NUMERO", "", "missing_required"),
        ({"VALOR_PRESENTE": "   "}, "VALOR_PRESENTE", "   ", "missing_required"),
        ({"DATA_VENCIMENTO_ORIGINAL": ""}, "DATA_VENCIMENTO_ORIGINAL", "", "missing_required"),
        (
            {"DOC_CEDENTE": format_cnpj(_wrong_check_digit(CEDENTE))},
            "DOC_CEDENTE",
            format_cnpj(_wrong_check_digit(CEDENTE)),
            "invalid_document",
        ),
        ({"DOC_SACADO": SACADO[:-1]}, "DOC_SACADO", SACADO[:-1], "invalid_document"),
        ({"VALOR_PRESENTE": "-10,00"}, "VALOR_PRESENTE", "-10,00", "negative_value"),
        ({"VALOR_PDD": "-0,01"}, "VALOR_PDD", "-0,01", "negative_value"),
        ({"COOBRIGACAO": "TALVEZ"}, "COOBRIGACAO", "TALVEZ", "unknown_code"),
        ({"DOC_FUNDO": format_cnpj(OTHER_FUND)}, "DOC_FUNDO", format_cnpj(OTHER_FUND), "fund_mismatch"),
        ({"DATA_REFERENCIA": "14/03/2024"}, "DATA_REFERENCIA", "14/03/2024", "date_mismatch"),
    ],
)
def test_rejected_row(overrides, field, bad_value, reason):
    bad_line = row("R2", **overrides)
    # line 1 header, 2 good, 3 blank, 4 bad, 5 good, 6 blank, 7 good, then blank lines at the end
    data = csv(row("R1"), "", bad_line, row("R3"), "", row("R4"), "", "")
    result = parse(data)

    (rejected,) = result.rejected
    assert rejected.reason_code == reason
    assert rejected.line_number == 4
    assert rejected.field == field
    assert field in rejected.message
    assert repr(bad_value) in rejected.message
    assert ROW_REASONS[reason] in rejected.message
    assert rejected.raw_text == bad_line  # decoded from latin-1: accents intact

    assert result.rows.column("receivable_id").to_pylist() == ["R1", "R3", "R4"]
    assert result.rows.column("source_line").to_pylist() == [2, 5, 7]
    assert result.control_totals["rows_rejected"] == 1


def test_unparseable_date_message_shows_the_expected_format():
    (rejected,) = parse(csv(row("R1", DATA_VENCIMENTO_ORIGINAL="31/02/2024"))).rejected
    assert "dd/mm/yyyy" in rejected.message


def test_unparseable_number_message_shows_the_file_decimal_separator():
    (rejected,) = parse(csv(row("R1", VALOR_NOMINAL="12x4,50"))).rejected
    assert "1234,56" in rejected.message


def test_wrong_column_count():
    short = "foo;bar;baz"
    long = row("R9") + ";extra"
    data = csv(row("R1"), "", short, row("R3"), long, row("R4"), "")
    result = parse(data)
    assert [(r.line_number, r.reason_code, r.field) for r in result.rejected] == [
        (4, "wrong_column_count", None),
        (6, "wrong_column_count", None),
    ]
    first, second = result.rejected
    assert first.raw_text == short
    assert second.raw_text == long
    assert "3 columns" in first.message and str(len(COLUMNS)) in first.message
    assert f"{len(COLUMNS) + 1} columns" in second.message
    assert result.rows.column("receivable_id").to_pylist() == ["R1", "R3", "R4"]
    assert result.rows.column("source_line").to_pylist() == [2, 5, 7]


def test_duplicate_key_keeps_the_first_row():
    first = row("R1", VALOR_NOMINAL="100,00")
    again = row("R1", VALOR_NOMINAL="200,00", DOC_CEDENTE=CEDENTE)  # same key, cedente not punctuated
    other_cedente = row("R1", DOC_CEDENTE=format_cnpj(OTHER_FUND))  # same seu número, other cedente: fine
    data = csv(first, "", again, row("R3"), other_cedente)
    result = parse(data)

    (rejected,) = result.rejected
    assert rejected.reason_code == "duplicate_key"
    assert rejected.line_number == 4
    assert rejected.field == "SEU_NUMERO"
    assert "SEU_NUMERO" in rejected.message and "'R1'" in rejected.message
    assert rejected.raw_text == again

    rows = result.rows.to_pylist()
    assert [(r["receivable_id"], r["source_line"]) for r in rows] == [("R1", 2), ("R3", 5), ("R1", 6)]
    assert rows[0]["nominal_value"] == Decimal("100.00")  # the first one was kept
    assert rows[2]["cedente_doc"] == OTHER_FUND


def test_a_rejected_row_does_not_block_a_later_row_with_the_same_key():
    bad_first = row("R1", VALOR_NOMINAL="x")
    data = csv(bad_first, row("R1"))
    result = parse(data)
    assert [(r.line_number, r.reason_code) for r in result.rejected] == [(2, "unparseable_number")]
    assert result.rows.column("source_line").to_pylist() == [3]


def test_first_problem_of_a_row_wins_and_rejections_are_in_line_order():
    data = csv(
        row("R1", COOBRIGACAO="TALVEZ"),
        # due date comes before nominal value in the canonical model: its problem is reported
        row("R2", DATA_VENCIMENTO_ORIGINAL="30/02/2024", VALOR_NOMINAL="abc"),
        "x;y",
        row("R4"),
        row("R5", DOC_FUNDO=format_cnpj(OTHER_FUND), DATA_REFERENCIA="14/03/2024"),
    )
    result = parse(data)
    assert [(r.line_number, r.reason_code, r.field) for r in result.rejected] == [
        (2, "unknown_code", "COOBRIGACAO"),
        (3, "unparseable_date", "DATA_VENCIMENTO_ORIGINAL"),
        (4, "wrong_column_count", None),
        (6, "fund_mismatch", "DOC_FUNDO"),
    ]
    assert result.rows.column("source_line").to_pylist() == [5]
    assert result.control_totals["rows_accepted"] == 1
    assert result.control_totals["rows_rejected"] == 4


def test_all_rows_rejected_gives_an_empty_table():
    result = parse(csv(row("R1", VALOR_NOMINAL="x"), row("R2", COOBRIGACAO="?")))
    assert result.rows.num_rows == 0
    assert result.rows.schema.equals(arrow_schema(RECEIVABLE_POSITIONS), check_metadata=False)
    assert [r.line_number for r in result.rejected] == [2, 3]
    assert result.control_totals["sum_nominal_value"] == "0.00"


def test_only_wrong_column_count_rows():
    result = parse(csv("a;b", "c;d"))
    assert result.rows.num_rows == 0
    assert [(r.line_number, r.reason_code) for r in result.rejected] == [
        (2, "wrong_column_count"),
        (3, "wrong_column_count"),
    ]


def test_crlf_line_endings_keep_line_numbers_and_raw_text():
    bad = row("R2", VALOR_NOMINAL="x")
    result = parse(csv(row("R1"), "", bad, row("R3"), newline="\r\n"))
    (rejected,) = result.rejected
    assert rejected.line_number == 4
    assert rejected.raw_text == bad
    assert result.rows.column("source_line").to_pylist() == [2, 5]
    assert result.rows.column("receivable_id").to_pylist() == ["R1", "R3"]


def test_lines_with_only_separators_are_skipped_but_counted():
    empty_fields = ";" * (len(COLUMNS) - 1)
    bad = row("R3", VALOR_NOMINAL="x")
    result = parse(csv(row("R1"), empty_fields, "   ", bad, row("R4"), empty_fields))
    assert [(r.line_number, r.raw_text) for r in result.rejected] == [(5, bad)]
    assert result.rows.column("source_line").to_pylist() == [2, 6]


def test_quoted_field_with_a_line_break_keeps_physical_line_numbers():
    two_line_name = row("R1", NOME_CEDENTE='"Cedente\nLtda"')
    bad = row("R2", VALOR_NOMINAL="x")
    result = parse(csv(two_line_name, bad, row("R3")))
    assert result.rows.column("cedente_name").to_pylist() == ["Cedente\nLtda", "Cedente Açúcar Ltda"]
    (rejected,) = result.rejected
    assert rejected.line_number == 4
    assert rejected.raw_text == bad
    assert result.rows.column("source_line").to_pylist() == [2, 5]


def test_a_long_rate_does_not_reject_the_whole_file():
    result = parse(csv(row("R1", TAXA_CESSAO="1,12345678901"), row("R2")))
    assert result.rows.column("cession_rate").to_pylist() == [Decimal("1.123457"), Decimal("1.750000")]


def test_a_plus_sign_in_an_integer_does_not_reject_the_whole_file():
    result = parse(csv(row("R1", PRAZO_ATUAL="+30"), row("R2")))
    assert result.rows.column("term_days").to_pylist() == [30, 31]


# --- whole-file failures ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n \n"])
def test_empty_file(data):
    error = rejected_file(data)
    assert error.reason_code == "empty_file"
    assert NAME in error.message


@pytest.mark.parametrize("data", [csv(), csv("", "", ""), csv(newline="\r\n")])
def test_header_only(data):
    error = rejected_file(data)
    assert error.reason_code == "no_rows"
    assert NAME in error.message


def test_header_only_without_trailing_newline():
    error = rejected_file(HEADER.encode("latin-1"))
    assert error.reason_code == "no_rows"


def test_last_line_without_trailing_newline():
    bad = row("R2", VALOR_NOMINAL="x")
    result = parse((HEADER + "\n" + row("R1") + "\n" + bad).encode("latin-1"))
    assert [(r.line_number, r.raw_text) for r in result.rejected] == [(3, bad)]
    assert result.rows.column("source_line").to_pylist() == [2]


def test_missing_columns():
    kept = [c for c in COLUMNS if c not in ("VALOR_PRESENTE", "COOBRIGACAO")]
    values = dict(zip(COLUMNS, row("R1").split(";"), strict=True))
    data = csv(";".join(values[c] for c in kept), header=";".join(kept))
    error = rejected_file(data)
    assert error.reason_code == "missing_columns"
    assert NAME in error.message
    assert "VALOR_PRESENTE" in error.message
    assert "COOBRIGACAO" in error.message
    assert "Alfa Serviços Fiduciários DTVM" in error.message  # whose layout it is


def test_header_with_another_delimiter_is_missing_columns():
    data = csv(row("R1").replace(";", ","), header=HEADER.replace(";", ","))
    error = rejected_file(data)
    assert error.reason_code == "missing_columns"
    assert "DOC_FUNDO" in error.message


def test_wrong_encoding_for_utf8_layout():
    utf8 = with_encoding(MATCH, "utf-8")
    assert isinstance(utf8.file_spec.format, DelimitedFormat) and isinstance(MATCH.file_spec.format, DelimitedFormat)
    assert utf8.file_spec.format.encoding == "utf-8"
    assert MATCH.file_spec.format.encoding == "latin-1"  # the shipped spec is untouched
    data = csv(row("R1", NOME_CEDENTE="Cedente Ltda", NOME_SACADO="Jose", NOME_ORIGINADOR="Orig"), row("R2"))
    error = rejected_file(data, utf8)
    assert error.reason_code == "wrong_encoding"
    assert NAME in error.message
    assert "utf-8" in error.message
    assert "line 3" in error.message  # R1 is plain ASCII; R2's accents are the first bad bytes


def test_the_same_file_in_utf8_is_read_by_a_utf8_layout():
    utf8 = with_encoding(MATCH, "utf-8")
    result = parse(csv(row("R1"), row("R2"), encoding="utf-8"), utf8)
    assert result.rejected == []
    assert result.rows.column("cedente_name").to_pylist() == ["Cedente Açúcar Ltda"] * 2


def test_utf8_bom_in_a_latin1_file():
    data = b"\xef\xbb\xbf" + csv(row("R1"))
    error = rejected_file(data)
    assert error.reason_code == "wrong_encoding"
    assert "byte order mark" in error.message
    assert "latin-1" in error.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])  # with and without a byte order mark
def test_a_utf16_file_is_named_utf16_not_missing_columns(encoding):
    """Issue 13, defect 8: Excel's "Unicode text" was reported as missing columns."""
    error = rejected_file(csv(row("R1"), row("R2"), encoding=encoding))
    assert error.reason_code == "wrong_encoding"
    assert "UTF-16" in error.message and "latin-1" in error.message


def test_a_binary_file_is_named_not_a_text_file():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    error = rejected_file(png)
    assert error.reason_code == "wrong_encoding"
    assert "not a text file" in error.message and "binary" in error.message


def test_file_rejected_carries_code_and_message():
    error = rejected_file(b"")
    assert str(error).startswith("empty_file: ")
    assert error.message in str(error)


def test_the_key_index_finds_repeats_across_runs_it_never_merges_past_its_cap(monkeypatch):
    """Keys seen many batches ago are still found once the runs stop merging (bounded memory: no run grows
    past MAX_RUN_HASHES), a key repeated within a batch is caught, and keys never seen are not flagged."""
    from fidc_assets.lib.ingest.adapters import duplicates

    monkeypatch.setattr(duplicates, "MAX_RUN_HASHES", 64)
    index = duplicates.KeyIndex()
    every = pa.array([True] * 20)
    for batch in range(30):  # 600 distinct keys in batches of 20
        keys = pa.array([f"R{batch:03}-{i:02}" for i in range(20)])
        assert not any(index.duplicates(keys, every).to_pylist())
    assert max(len(run) for run in index._runs) <= 64  # pyright: ignore[reportPrivateUsage]
    assert len(index._runs) >= 600 // 64  # pyright: ignore[reportPrivateUsage]
    assert index.nbytes == 600 * 8
    again = pa.array(["R000-00", "new-1", "R017-19", "new-1", "R029-05"])
    assert index.duplicates(again, pa.array([True] * 5)).to_pylist() == [True, False, True, True, True]
