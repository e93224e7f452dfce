"""Pure parts of the hot side: the window's months, and the numeric encoding of the binary COPY."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pyarrow as pa
import pytest

from fidc_assets.lib.hot.binary_copy import encode_rows
from fidc_assets.lib.hot.window import days_outside, ranges_outside, window_start

D = dt.date


@pytest.mark.parametrize(
    ("anchor", "months", "start"),
    [(D(2025, 11, 26), 13, D(2024, 11, 1)), (D(2024, 1, 31), 1, D(2024, 1, 1)), (D(2024, 1, 2), 2, D(2023, 12, 1)),
     (D(2024, 3, 31), 14, D(2023, 2, 1))],
)  # fmt: skip
def test_window_start_is_the_first_of_the_oldest_month_kept(anchor, months, start):
    assert window_start(anchor, months) == start


def test_window_needs_a_month():
    with pytest.raises(ValueError, match="at least 1 month"):
        window_start(D(2024, 1, 1), 0)


def test_only_days_and_ranges_wholly_before_the_window_are_outside():
    days = [D(2023, 10, 31), D(2023, 11, 1), D(2024, 11, 30)]
    assert days_outside(days, D(2024, 11, 30), 13) == [D(2023, 10, 31)]
    ranges = [(D(2023, 1, 1), D(2024, 1, 1)), (D(2023, 10, 1), D(2023, 11, 1)), (D(2023, 11, 1), D(2023, 12, 1))]
    assert ranges_outside(ranges, D(2024, 11, 30), 13) == [ranges[1]]  # the year 2023 reaches into the window
    assert ranges_outside([(D(2023, 1, 1), D(2024, 1, 1))], D(2024, 6, 1), 13) == []  # straddles: kept


def _numeric_field(value: Decimal | None, t: pa.DataType) -> bytes:
    body = bytes(encode_rows(pa.table({"v": pa.array([value], t)})))
    assert body[:2] == b"\x00\x01"  # one field
    return body[2:]


@pytest.mark.parametrize(
    ("value", "digits", "sign"),
    [(Decimal("1234567.89"), [0, 0, 123, 4567, 8900], 0), (Decimal("-0.05"), [0, 0, 0, 0, 500], 0x4000),
     (Decimal("0.00"), [0, 0, 0, 0, 0], 0)],
)  # fmt: skip
def test_numeric_is_base_10000_digits_with_weight_and_scale(value, digits, sign):
    field = _numeric_field(value, pa.decimal128(18, 2))
    (length,) = struct.unpack(">i", field[:4])
    ndigits, weight, got_sign, dscale, *got = struct.unpack(f">4h{len(digits)}h", field[4:])
    assert length == 8 + 2 * len(digits) and ndigits == len(digits)
    assert (weight, got_sign, dscale, got) == (3, sign, 2, digits)


def test_null_has_length_minus_one_and_no_payload():
    assert _numeric_field(None, pa.decimal128(18, 2)) == b"\xff\xff\xff\xff"


def test_unsupported_types_name_the_column():
    with pytest.raises(TypeError, match="'v'"):
        encode_rows(pa.table({"v": pa.array([Decimal(1)], pa.decimal128(38, 20))}))
