"""Custodian specs: the shipped spec loads; broken specs fail with a message naming file, key and value."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml

from fidc_assets.lib.core.documents import cnpj_check_digits, format_cnpj
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.specs import (
    COLUMN_TOKENS,
    FILE_DATE_COLUMN,
    CustodianSpec,
    DelimitedFormat,
    SpecError,
    load_spec,
    load_specs,
    match_file,
)

SHIPPED = CUSTODIANS_DIR / "custodia_alfa.yaml"
FUND = "112223330001" + cnpj_check_digits("112223330001")


@pytest.fixture(scope="module")
def shipped_raw() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def specs() -> dict[str, CustodianSpec]:
    spec = load_spec(SHIPPED)
    return {spec.id: spec}


def _write(tmp_path: Path, raw: dict, name: str = "custodia_alfa") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


# --- the shipped spec ------------------------------------------------------------------------------------------


def test_shipped_spec_loads():
    spec = load_spec(SHIPPED)
    assert spec.id == "custodia_alfa" == SHIPPED.stem
    assert spec.default_currency == "BRL"
    (file_spec,) = spec.files
    assert file_spec.entity == "receivable_positions"
    fmt = file_spec.format
    assert isinstance(fmt, DelimitedFormat)
    assert (fmt.kind, fmt.encoding, fmt.delimiter, fmt.decimal, fmt.thousands) == (
        "delimited",
        "latin-1",
        ";",
        ",",
        None,
    )
    assert fmt.date_formats == ("%d/%m/%Y",)
    maps = file_spec.column_maps()
    assert maps["fund_cnpj"].column == "DOC_FUNDO"
    assert maps["coobligation"].column == "COOBRIGACAO"
    assert maps["coobligation"].map == {"SIM": True, "NAO": False, "S": True, "N": False}


def test_load_specs_reads_the_custodians_directory():
    specs = load_specs(CUSTODIANS_DIR)
    assert "custodia_alfa" in specs
    assert all(spec_id == spec.id for spec_id, spec in specs.items())


def test_a_valid_copy_of_the_shipped_spec_loads_from_any_directory(tmp_path, shipped_raw):
    assert load_spec(_write(tmp_path, shipped_raw)).id == "custodia_alfa"


# --- errors: file, key path, expected, found -------------------------------------------------------------------


def test_unknown_entity(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["entity"] = "loan_tapes"
    message = _error(_write(tmp_path, raw))
    assert "files.0.entity" in message
    assert "'loan_tapes'" in message
    assert "receivable_positions" in message  # what was expected


@pytest.mark.parametrize(
    "pattern, missing",
    [
        (r"^ESTOQUE_(?P<fundo>\d{14})_(?P<date>\d{8})\.csv$", "fund"),
        (r"^ESTOQUE_(?P<fund>\d{14})_(\d{8})\.csv$", "date"),
        (r"^ESTOQUE_(\d{14})_(\d{8})\.csv$", "date"),
    ],
)
def test_pattern_without_fund_and_date_groups(tmp_path, shipped_raw, pattern, missing):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["pattern"] = pattern
    message = _error(_write(tmp_path, raw))
    assert "files.0.pattern" in message
    assert "(?P<fund>...)" in message and "(?P<date>...)" in message
    assert f"'{missing}'" in message
    assert repr(pattern) in message


def test_pattern_that_is_not_a_regex(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["pattern"] = r"^ESTOQUE_(?P<fund>\d{14}_(?P<date>\d{8})\.csv$"
    message = _error(_write(tmp_path, raw))
    assert "files.0.pattern" in message
    assert "not a valid regular expression" in message


def test_unknown_canonical_field_in_columns(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["valor_bruto"] = "VALOR_BRUTO"
    message = _error(_write(tmp_path, raw))
    assert "files.0" in message
    assert "columns" in message
    assert "valor_bruto" in message
    assert "receivable_positions" in message


@pytest.mark.parametrize("field", ["due_date", "receivable_id", "present_value", "cedente_doc"])
def test_missing_required_field_mapping(tmp_path, shipped_raw, field):
    raw = copy.deepcopy(shipped_raw)
    del raw["files"][0]["columns"][field]
    message = _error(_write(tmp_path, raw))
    assert "files.0" in message
    assert "columns" in message and "required" in message
    assert f"'{field}'" in message


def test_column_map_without_source(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["coobligation"] = {"map": {"S": True}}
    message = _error(_write(tmp_path, raw))
    assert "files.0.columns.coobligation" in message
    assert "`column` or `default`" in message


@pytest.mark.parametrize("encoding", ["latin1", "iso-8859-1", "ascii", "UTF8"])
def test_bad_encoding_name(tmp_path, shipped_raw, encoding):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["format"]["encoding"] = encoding
    message = _error(_write(tmp_path, raw))
    assert "files.0.format.encoding" in message
    assert repr(encoding) in message
    for expected in ("utf-8", "latin-1", "cp1252"):
        assert expected in message


def test_multi_character_delimiter(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["format"]["delimiter"] = ";;"
    message = _error(_write(tmp_path, raw))
    assert "files.0.format.delimiter" in message
    assert "';;'" in message


def test_thousands_equal_to_decimal(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["format"]["thousands"] = ","
    message = _error(_write(tmp_path, raw))
    assert "files.0.format" in message
    assert "must differ" in message


def test_unknown_key_is_rejected(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["format"]["separator"] = ";"
    message = _error(_write(tmp_path, raw))
    assert "files.0.format.separator" in message
    assert "';'" in message


def test_id_differs_from_file_name(tmp_path, shipped_raw):
    message = _error(_write(tmp_path, copy.deepcopy(shipped_raw), name="custodia_beta"))
    assert "id" in message
    assert "'custodia_beta'" in message  # expected: the file name
    assert "'custodia_alfa'" in message  # found


def test_invalid_yaml(tmp_path):
    path = tmp_path / "custodia_alfa.yaml"
    path.write_text("id: custodia_alfa\nfiles: [\n  - entity: receivable_positions\n", encoding="utf-8")
    message = _error(path)
    assert "not valid YAML" in message
    assert "line 3" in message  # where the parser gave up
    assert "'-'" in message  # what it found there


@pytest.mark.parametrize("text, found", [("- a\n- b\n", "list"), ("", "NoneType"), ("just text\n", "str")])
def test_top_level_must_be_a_mapping(tmp_path, text, found):
    path = tmp_path / "custodia_alfa.yaml"
    path.write_text(text, encoding="utf-8")
    message = _error(path)
    assert "mapping" in message
    assert found in message


def test_error_for_one_bad_file_entry_does_not_claim_files_is_empty(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["entity"] = "loan_tapes"
    message = _error(_write(tmp_path, raw))
    assert "at least 1 item" not in message


def test_empty_files_list(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"] = []
    message = _error(_write(tmp_path, raw))
    assert "files" in message
    assert "at least 1" in message


# --- @tokens and $.paths: checked against the file's entity and format when the spec loads -------------------


def test_unknown_token_is_rejected_when_the_spec_loads(tmp_path, shipped_raw):
    """A misspelt `@token` was taken for a column name and only failed at ingest (missing_columns)."""
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["reference_date"] = "@file_dat"
    message = _error(_write(tmp_path, raw))
    assert "files.0.columns.reference_date: unknown token '@file_dat'" in message  # key and what was found
    assert "['@file_date']" in message  # what is expected


def test_file_date_token_only_maps_a_date_field(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["nominal_value"] = "@file_date"
    message = _error(_write(tmp_path, raw))
    assert "files.0.columns.nominal_value: '@file_date'" in message
    assert "receivable_positions.nominal_value is decimal(18, 2), not a date" in message


def test_file_date_token_maps_a_date_field(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["reference_date"] = {"column": "@file_date"}
    spec = load_spec(_write(tmp_path, raw))
    assert spec.files[0].column_maps()["reference_date"].column == FILE_DATE_COLUMN


def test_a_token_is_not_a_document_kind_column(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["sacado_doc"] = {
        "column": "DOC_SACADO",
        "document_kind": {"column": "@file_date", "map": {"01": "cpf"}},
    }
    message = _error(_write(tmp_path, raw))
    assert "files.0.columns.sacado_doc.document_kind.column: '@file_date' is a token" in message


def test_json_path_outside_a_json_file_is_rejected(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["columns"]["fund_cnpj"] = "$.fundo.cnpj"
    message = _error(_write(tmp_path, raw))
    assert "files.0.columns.fund_cnpj: '$.fundo.cnpj' is a JSON document path" in message
    assert "delimited file" in message


def test_the_engine_resolves_exactly_the_tokens_the_spec_accepts():
    from fidc_assets.lib.ingest.adapters import convert

    assert convert.FILE_DATE_COLUMN is FILE_DATE_COLUMN
    assert set(COLUMN_TOKENS) == {FILE_DATE_COLUMN}  # a new token needs its resolution in adapters too


# --- match_file ------------------------------------------------------------------------------------------------


def test_match_file_takes_fund_and_date_from_the_name(specs):
    match = match_file(f"ESTOQUE_{FUND}_20240315.csv", specs)
    assert match is not None
    assert match.custodian.id == "custodia_alfa"
    assert match.file_spec.entity == "receivable_positions"
    assert match.fund_cnpj == FUND
    assert match.reference_date == dt.date(2024, 3, 15)


def test_match_file_accepts_the_optional_suffix(specs):
    match = match_file(f"ESTOQUE_{FUND}_20240229_v2.csv", specs)
    assert match is not None
    assert (match.fund_cnpj, match.reference_date) == (FUND, dt.date(2024, 2, 29))


@pytest.mark.parametrize("day", ["20240231", "20230229", "20241301", "20240100", "20240000"])
def test_match_file_impossible_date_does_not_match(specs, day):
    assert match_file(f"ESTOQUE_{FUND}_{day}.csv", specs) is None


@pytest.mark.parametrize(
    "name",
    [
        f"estoque_{FUND}_20240315.csv",  # the pattern is case-sensitive
        f"ESTOQUE_{FUND}_20240315.txt",
        f"ESTOQUE_{format_cnpj(FUND)}_20240315.csv",
        f"ESTOQUE_{FUND[:-1]}_20240315.csv",
        f"ESTOQUE_{FUND}_2024031.csv",
        f"MOVIMENTO_{FUND}_20240315.csv",
        f"ESTOQUE_{FUND}_20240315.csv.bak",
        "",
    ],
)
def test_match_file_non_matching_name_returns_none(specs, name):
    assert match_file(name, specs) is None


def test_match_file_with_no_specs_returns_none():
    assert match_file(f"ESTOQUE_{FUND}_20240315.csv", {}) is None


def test_fund_may_come_from_the_file_name_alone(tmp_path, shipped_raw):
    """A layout without the fund's CNPJ in its records (CNAB) takes the fund from the file name."""
    shipped_raw["files"][0]["columns"].pop("fund_cnpj")
    path = tmp_path / "custodia_alfa.yaml"
    path.write_text(yaml.safe_dump(shipped_raw, allow_unicode=True), encoding="utf-8")
    spec = load_spec(path)
    assert "fund_cnpj" not in spec.files[0].columns


# --- hostile names (issue 13, defect 2) --------------------------------------------------------------------------


@pytest.mark.parametrize("tail", ["\n", "\r\n", "\x00", "\t"])
def test_a_name_ending_in_a_control_character_does_not_match(specs, tail):
    """`$` with re.match matched before a trailing newline: such a name was accepted, archived with the
    newline, and could never be read back."""
    assert match_file(f"ESTOQUE_{FUND}_20240315.csv{tail}", specs) is None


def test_a_control_character_anywhere_is_named_as_the_reason():
    from fidc_assets.lib.ingest.specs import name_problem

    assert name_problem(f"ESTOQUE_{FUND}_20240315.csv") is None
    problem = name_problem(f"ESTOQUE_{FUND}\n_20240315.csv")
    assert problem is not None and "control character" in problem and "\\n" in problem and "\n" not in problem


def test_shown_name_never_carries_a_raw_newline():
    from fidc_assets.lib.ingest.specs import shown_name

    assert shown_name("ESTOQUE.csv") == "ESTOQUE.csv"
    assert shown_name("x.csv\nFORGED LOG LINE") == repr("x.csv\nFORGED LOG LINE")


def test_fullwidth_digits_do_not_match_a_digit_pattern(specs):
    fullwidth = "".join(chr(ord("０") + int(c)) for c in FUND)
    assert match_file(f"ESTOQUE_{fullwidth}_20240315.csv", specs) is None
    assert match_file(f"ESTOQUE_{FUND}_２０２４０３１５.csv", specs) is None


def test_a_fund_group_that_is_not_fourteen_ascii_digits_does_not_match(tmp_path, shipped_raw):
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["pattern"] = r"^ESTOQUE_(?P<fund>[^_]+)_(?P<date>\d{8})\.csv$"
    spec = load_spec(_write(tmp_path, raw))
    specs = {spec.id: spec}
    assert match_file(f"ESTOQUE_{format_cnpj(FUND)}_20240315.csv", specs) is not None  # punctuation is fine
    assert match_file("ESTOQUE_12345_20240315.csv", specs) is None
    fullwidth = "".join(chr(ord("０") + int(c)) for c in FUND)
    assert match_file(f"ESTOQUE_{fullwidth}_20240315.csv", specs) is None


def test_a_pattern_matches_the_whole_name(tmp_path, shipped_raw):
    """Without `$` a pattern still has to match the whole name, not a prefix of it."""
    raw = copy.deepcopy(shipped_raw)
    raw["files"][0]["pattern"] = r"ESTOQUE_(?P<fund>\d{14})_(?P<date>\d{8})\.csv"
    spec = load_spec(_write(tmp_path, raw))
    assert match_file(f"ESTOQUE_{FUND}_20240315.csv", {spec.id: spec}) is not None
    assert match_file(f"ESTOQUE_{FUND}_20240315.csv.bak", {spec.id: spec}) is None
