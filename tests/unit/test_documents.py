from __future__ import annotations

import pytest

from fidc_assets.lib.core.documents import (
    cnpj_check_digits,
    cpf_check_digits,
    format_cnpj,
    format_cpf,
    format_document,
    is_valid_cnpj,
    is_valid_cpf,
    is_valid_document,
    normalize_document,
    only_digits,
)

# Published examples and well-known public registrations (Banco do Brasil, Petrobras, Bradesco, Caixa).
VALID_CNPJS = [
    "11222333000181",
    "12345678000195",
    "00000000000191",
    "33000167000101",
    "60746948000112",
    "00360305000104",
]
VALID_CPFS = ["12345678909", "52998224725", "11144477735", "00000000191"]


def test_only_digits():
    assert only_digits("12.345.678/0001-95") == "12345678000195"
    assert only_digits(" 123.456.789-09 ") == "12345678909"
    assert only_digits("") == ""
    assert only_digits(None) == ""
    assert only_digits("abc") == ""
    # Non-ASCII digits (Arabic-Indic, fullwidth) are not document digits.
    assert only_digits("١٢٣４5") == "5"


@pytest.mark.parametrize("cnpj", VALID_CNPJS)
def test_valid_cnpjs(cnpj):
    assert is_valid_cnpj(cnpj)
    assert cnpj_check_digits(cnpj[:12]) == cnpj[12:]
    assert is_valid_document(cnpj)


@pytest.mark.parametrize("cpf", VALID_CPFS)
def test_valid_cpfs(cpf):
    assert is_valid_cpf(cpf)
    assert cpf_check_digits(cpf[:9]) == cpf[9:]
    assert is_valid_document(cpf)


@pytest.mark.parametrize(
    "cnpj",
    [
        "11222333000182",  # wrong second check digit
        "11222333000191",  # wrong first check digit
        "12345678000159",  # check digits swapped
        "1122233300018",  # 13 digits
        "112223330001811",  # 15 digits
        "11.222.333/0001-81",  # punctuated: callers must strip first
        "",
        "1122233300018a",
    ],
)
def test_invalid_cnpjs(cnpj):
    assert not is_valid_cnpj(cnpj)


@pytest.mark.parametrize(
    "cpf",
    ["12345678908", "12345678919", "52998224752", "1234567890", "123456789090", "123.456.789-09", ""],
)
def test_invalid_cpfs(cpf):
    assert not is_valid_cpf(cpf)


@pytest.mark.parametrize("d", "0123456789")
def test_repeated_digit_numbers_are_rejected(d):
    # All of these satisfy the mod-11 rule but are not real documents.
    assert cpf_check_digits(d * 9) == d * 2
    assert not is_valid_cpf(d * 11)
    assert not is_valid_cnpj(d * 14)


def test_every_wrong_check_digit_is_rejected():
    for valid in VALID_CNPJS:
        for pos in (12, 13):
            for repl in "0123456789":
                if repl != valid[pos]:
                    assert not is_valid_cnpj(valid[:pos] + repl + valid[pos + 1 :])
    for valid in VALID_CPFS:
        for pos in (9, 10):
            for repl in "0123456789":
                if repl != valid[pos]:
                    assert not is_valid_cpf(valid[:pos] + repl + valid[pos + 1 :])


def test_check_digit_helpers_reject_bad_bases():
    with pytest.raises(ValueError):
        cpf_check_digits("12345678")
    with pytest.raises(ValueError):
        cnpj_check_digits("12345678000")
    with pytest.raises(ValueError):
        cnpj_check_digits("12345678000x")


def test_format():
    assert format_cnpj("12345678000195") == "12.345.678/0001-95"
    assert format_cnpj("12.345.678/0001-95") == "12.345.678/0001-95"
    assert format_cpf("12345678909") == "123.456.789-09"
    assert format_document("00000000191") == "000.000.001-91"
    assert format_document("00000000000191") == "00.000.000/0001-91"
    with pytest.raises(ValueError):
        format_cnpj("123")
    with pytest.raises(ValueError):
        format_cpf("123")
    with pytest.raises(ValueError):
        format_document("123456789012")


def test_normalize_document_restores_leading_zeros():
    assert normalize_document("191") == "00000000191"
    assert normalize_document("191", kind="cnpj") == "00000000000191"
    assert normalize_document("360305000104") == "00360305000104"
    assert normalize_document("00.360.305/0001-04") == "00360305000104"
    assert normalize_document(None) == ""
    assert is_valid_cnpj(normalize_document("360305000104"))
