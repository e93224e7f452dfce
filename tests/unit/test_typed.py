"""Vectorized text → typed converters: every converter returns (values, bad_mask); blanks are null, never bad."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits, format_cnpj
from fidc_assets.lib.ingest.typed import (
    blank_to_null,
    map_values,
    normalize_documents,
    parse_dates,
    parse_decimals,
    parse_integers,
)

DMY = ("%d/%m/%Y",)


def _strings(*values: str | None) -> pa.Array:
    return pa.array(list(values), pa.string())


def _dates(values: list[str | None], formats: tuple[str, ...] = DMY) -> tuple[list, list]:
    dates, bad = parse_dates(_strings(*values), formats)
    assert dates.type == pa.date32()
    return dates.to_pylist(), bad.to_pylist()


def _decimals(values: list[str | None], decimal: str = ",", thousands: str | None = ".", scale: int = 2):
    result, bad = parse_decimals(_strings(*values), decimal, thousands, scale)
    return result, result.to_pylist(), bad.to_pylist()


# --- blank_to_null ---------------------------------------------------------------------------------------------


def test_blank_to_null_strips_and_nulls_empty_text():
    assert blank_to_null(_strings(" a ", "", "   ", None, "b")).to_pylist() == ["a", None, None, None, "b"]


# --- parse_dates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2024",  # February never has 31 days (Arrow's strptime would roll it over to 02/03)
        "30/02/2024",
        "29/02/2023",  # 2023 is not a leap year
        "29/02/1900",  # divisible by 100 and not by 400: not a leap year
        "31/04/2024",  # April has 30 days
        "00/01/2024",  # day zero
        "01/13/2024",  # month 13
        "01/00/2024",  # month zero
        "32/01/2024",
        "00/00/0000",  # a common "no date" placeholder in custodian exports
        "2024-03-15",  # another format than the declared one
        "15/03/24",  # two-digit year where four are declared
        "15/03/2024x",
        "hoje",
        "123/01/2024",
    ],
)
def test_parse_dates_rejects_impossible_or_malformed_dates(text):
    values, bad = _dates([text])
    assert values == [None]
    assert bad == [True]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("29/02/2024", dt.date(2024, 2, 29)),
        ("29/02/2000", dt.date(2000, 2, 29)),
        ("31/12/2024", dt.date(2024, 12, 31)),
        ("01/01/1970", dt.date(1970, 1, 1)),
        ("31/12/1969", dt.date(1969, 12, 31)),
        ("1/2/2024", dt.date(2024, 2, 1)),  # single-digit day and month with separators
        ("5/11/2024", dt.date(2024, 11, 5)),
        ("15/3/2024", dt.date(2024, 3, 15)),
        ("  15/03/2024  ", dt.date(2024, 3, 15)),  # surrounding whitespace is not part of the value
        ("01/03/2100", dt.date(2100, 3, 1)),
    ],
)
def test_parse_dates_accepts_valid_dates(text, expected):
    values, bad = _dates([text])
    assert values == [expected]
    assert bad == [False]


def test_parse_dates_blanks_are_null_and_not_bad():
    values, bad = _dates(["", "   ", None, "15/03/2024"])
    assert values == [None, None, None, dt.date(2024, 3, 15)]
    assert bad == [False, False, False, False]


def test_parse_dates_mixed_column_keeps_row_alignment():
    values, bad = _dates(["31/02/2024", "15/03/2024", "", "29/02/2023", "29/02/2024"])
    assert values == [None, dt.date(2024, 3, 15), None, None, dt.date(2024, 2, 29)]
    assert bad == [True, False, False, True, False]


def test_parse_dates_tries_formats_in_order():
    # "01/02/2024" matches both formats: the first declared wins.
    assert _dates(["01/02/2024"], ("%d/%m/%Y", "%m/%d/%Y"))[0] == [dt.date(2024, 2, 1)]
    assert _dates(["01/02/2024"], ("%m/%d/%Y", "%d/%m/%Y"))[0] == [dt.date(2024, 1, 2)]
    # An impossible date in the first format falls through to the next one.
    assert _dates(["13/02/2024"], ("%m/%d/%Y", "%d/%m/%Y")) == ([dt.date(2024, 2, 13)], [False])


def test_parse_dates_accepts_any_declared_format_in_one_column():
    values, bad = _dates(["15/03/2024", "2024-03-16", "17.03.2024", "2024/03/18"], ("%d/%m/%Y", "%Y-%m-%d"))
    assert values == [dt.date(2024, 3, 15), dt.date(2024, 3, 16), None, None]
    assert bad == [False, False, True, True]


def test_parse_dates_ddmmaa_uses_the_two_digit_year_pivot():
    values, bad = _dates(["010169", "010170", "311299", "010100", "290224", "150324"], ("%d%m%y",))
    assert values == [
        dt.date(2069, 1, 1),  # below 70 → 20yy
        dt.date(1970, 1, 1),  # 70 and above → 19yy
        dt.date(1999, 12, 31),
        dt.date(2000, 1, 1),
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 15),
    ]
    assert bad == [False] * 6


@pytest.mark.parametrize("text", ["290223", "310424", "1012024", "10124", "0101700", "00012024", "ab0124"])
def test_parse_dates_ddmmaa_is_fixed_width_and_calendar_checked(text):
    assert _dates([text], ("%d%m%y",)) == ([None], [True])


def test_parse_dates_ddmmyyyy_without_separators():
    assert _dates(["15032024", "31022024"], ("%d%m%Y",)) == ([dt.date(2024, 3, 15), None], [False, True])


def test_parse_dates_rejects_an_unsupported_format_token():
    with pytest.raises(ValueError, match="%b"):
        parse_dates(_strings("15/Mar/2024"), ("%d/%b/%Y",))


def test_parse_dates_year_zero_is_not_a_valid_date():
    values, bad = _dates(["01/01/0000"])
    assert bad == [True]
    assert values == [None]


# --- parse_decimals --------------------------------------------------------------------------------------------


def test_parse_decimals_comma_decimal_and_dot_thousands():
    result, values, bad = _decimals(["1.234,56", "1234,56", "12.345.678,90", "0,01", "7", "1.000", " 3,5 "])
    assert result.type == pa.decimal128(18, 2)
    assert values == [
        Decimal("1234.56"),
        Decimal("1234.56"),
        Decimal("12345678.90"),
        Decimal("0.01"),
        Decimal("7.00"),
        Decimal("1000.00"),
        Decimal("3.50"),
    ]
    assert bad == [False] * 7


def test_parse_decimals_without_thousands_separator():
    _, values, bad = _decimals(["1234,56", "1.234,56", "0,5"], thousands=None)
    assert values == [Decimal("1234.56"), None, Decimal("0.50")]
    assert bad == [False, True, False]


def test_parse_decimals_dot_decimal_and_comma_thousands():
    _, values, bad = _decimals(["1,234.56", "1234.56", "1.234,56"], decimal=".", thousands=",")
    assert values == [Decimal("1234.56"), Decimal("1234.56"), None]
    assert bad == [False, False, True]


def test_parse_decimals_rounds_half_even_to_the_scale():
    _, values, bad = _decimals(["1234,565", "1234,575", "0,005", "0,015", "1234,5649", "-1234,565", "2,675"])
    assert values == [
        Decimal("1234.56"),
        Decimal("1234.58"),
        Decimal("0.00"),
        Decimal("0.02"),
        Decimal("1234.56"),
        Decimal("-1234.56"),
        Decimal("2.68"),  # exact decimal arithmetic: no binary-float 2.67499999...
    ]
    assert bad == [False] * 7


def test_parse_decimals_negative_and_signed_numbers():
    _, values, bad = _decimals(["-1.234,56", "-0,01", "+10,00", "-5"])
    assert values == [Decimal("-1234.56"), Decimal("-0.01"), Decimal("10.00"), Decimal("-5.00")]
    assert bad == [False] * 4


@pytest.mark.parametrize(
    "text",
    [
        "12x4,50",
        "1,2,3",
        "1.23,45",  # a thousands group must have three digits
        "1.2345,67",
        "1,",
        ",5",
        "R$ 10,00",
        "10,00-",
        "--1",
        "1 234,56",
        "abc",
        "1e3",
        "NaN",
    ],
)
def test_parse_decimals_rejects_malformed_numbers(text):
    _, values, bad = _decimals([text])
    assert values == [None]
    assert bad == [True]


def test_parse_decimals_too_many_integer_digits_is_bad_not_an_exception():
    sixteen = "1234567890123456"  # decimal(18,2) holds 16 integer digits
    _, values, bad = _decimals(
        [
            f"{sixteen},99",
            f"{sixteen}7,00",
            "12.345.678.901.234.567,00",  # 17 digits once the thousands separators are gone
            "1.234.567.890.123.456,00",  # 16 digits: fits
            "99999999999999999",
        ]
    )
    assert values == [Decimal("1234567890123456.99"), None, None, Decimal("1234567890123456.00"), None]
    assert bad == [False, True, True, False, True]


def test_parse_decimals_blanks_are_null_and_not_bad():
    _, values, bad = _decimals(["", "  ", None])
    assert values == [None, None, None]
    assert bad == [False, False, False]


def test_parse_decimals_rate_scale():
    result, bad = parse_decimals(_strings("1,2345675", "0,5"), ",", None, 6)
    assert result.type == pa.decimal128(18, 6)
    assert result.to_pylist() == [Decimal("1.234568"), Decimal("0.500000")]
    assert bad.to_pylist() == [False, False]


def test_parse_decimals_many_fractional_digits_are_rounded_not_an_exception():
    _, values, bad = _decimals(["1,12345678901", "0,00000000001"])
    assert values == [Decimal("1.12"), Decimal("0.00")]
    assert bad == [False, False]


# --- parse_integers --------------------------------------------------------------------------------------------


def test_parse_integers():
    result, bad = parse_integers(_strings("31", "-5", " 42 ", "0", "007", "", None, "1.0", "3,0", "abc", "1e3", "- 1"))
    assert result.type == pa.int32()
    assert result.to_pylist() == [31, -5, 42, 0, 7, None, None, None, None, None, None, None]
    assert bad.to_pylist() == [False, False, False, False, False, False, False, True, True, True, True, True]


def test_parse_integers_accepts_an_explicit_plus_sign():
    result, bad = parse_integers(_strings("+7", "31"))
    assert result.to_pylist() == [7, 31]
    assert bad.to_pylist() == [False, False]


def test_parse_integers_out_of_range_is_bad_not_an_exception():
    result, bad = parse_integers(_strings("999999999", "99999999999"))
    assert result.to_pylist() == [999999999, None]
    assert bad.to_pylist() == [False, True]


# --- map_values ------------------------------------------------------------------------------------------------

YES_NO = {"SIM": True, "NAO": False, "S": True, "N": False}


def test_map_values_is_case_insensitive_and_flags_unknown_codes():
    mapped, bad = map_values(_strings("SIM", "sim", "Nao", " n ", "TALVEZ", "", None, "SIMM"), YES_NO, pa.bool_())
    assert mapped.type == pa.bool_()
    assert mapped.to_pylist() == [True, True, False, False, None, None, None, None]
    assert bad.to_pylist() == [False, False, False, False, True, False, False, True]


def test_map_values_lowercase_keys_and_string_targets():
    mapped, bad = map_values(_strings("A", "b", "c"), {"a": "ativo", "B": "baixado"}, pa.string())
    assert mapped.to_pylist() == ["ativo", "baixado", None]
    assert bad.to_pylist() == [False, False, True]


# --- normalize_documents ---------------------------------------------------------------------------------------

CNPJ = "112223330001" + cnpj_check_digits("112223330001")
CPF = "529982247" + cpf_check_digits("529982247")


def _wrong_check_digit(doc: str) -> str:
    return doc[:-1] + str((int(doc[-1]) + 1) % 10)


def test_normalize_documents_strips_punctuation():
    values, bad = normalize_documents(
        _strings(
            format_cnpj(CNPJ), CNPJ, f"{CPF[:3]}.{CPF[3:6]}.{CPF[6:9]}-{CPF[9:]}", f" {CPF} ", "12 345 678/0001-95"
        )
    )
    assert values.to_pylist() == [CNPJ, CNPJ, CPF, CPF, "12345678000195"]
    assert bad.to_pylist() == [False] * 5


@pytest.mark.parametrize(
    "text",
    [
        _wrong_check_digit(CNPJ),
        format_cnpj(_wrong_check_digit(CNPJ)),
        _wrong_check_digit(CPF),
        CNPJ[:-1],  # 13 digits
        CNPJ + "0",  # 15 digits
        CPF[:-1],  # 10 digits
        "12345",
        "111.111.111-11",  # repeated digit: passes mod 11 but is not a document
        "00000000000000",
        "ABC.DEF.GHI-JK",
        "11222333000181X",
    ],
)
def test_normalize_documents_flags_wrong_check_digits_and_lengths(text):
    values, bad = normalize_documents(_strings(text))
    assert values.to_pylist() == [None]
    assert bad.to_pylist() == [True]


def test_normalize_documents_blanks_are_null_not_bad_and_repeats_are_consistent():
    wrong = _wrong_check_digit(CNPJ)
    values, bad = normalize_documents(_strings(CNPJ, "", wrong, None, format_cnpj(CNPJ), wrong, CNPJ))
    assert values.to_pylist() == [CNPJ, None, None, None, CNPJ, None, CNPJ]
    assert bad.to_pylist() == [False, False, True, False, False, True, False]
