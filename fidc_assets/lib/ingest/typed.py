"""Vectorized conversion of raw text columns to typed Arrow arrays, with a per-row error mask.

Every converter takes a string array and returns `(typed_array, bad_mask)`: `bad_mask[i]` is true where the
text was present but is not a valid value. Absent text (null or blank) is null and never "bad": whether it is
allowed is the caller's business (required fields). Converters are strict on purpose: Arrow's `strptime`
rolls 31/02 over to 02/03, so dates are parsed from their digits and checked against the calendar.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fidc_assets.lib.core.documents import is_valid_document

_DATE_TOKENS = {"%d": r"(?P<d>\d{1,2})", "%m": r"(?P<m>\d{1,2})", "%Y": r"(?P<Y>\d{4})", "%y": r"(?P<y>\d{2})"}
_DATE_TOKENS_FIXED = {"%d": r"(?P<d>\d{2})", "%m": r"(?P<m>\d{2})", "%Y": r"(?P<Y>\d{4})", "%y": r"(?P<y>\d{2})"}
#: Digits after the decimal separator a number may have before it is rejected (it is rounded to the scale).
MAX_FRACTION_DIGITS = 20
#: Two-digit years below this are 20yy, others 19yy (DDMMAA fields in CNAB files).
TWO_DIGIT_YEAR_PIVOT = 70


#: Arrays blank_to_null already returned (by id, with a weak reference so a reused id is not mistaken):
#: the converters clean their input again, and the engine hands them cleaned columns.
_CLEANED: dict[int, weakref.ref] = {}


def no_problems(n: int) -> pa.BooleanArray:
    """An all-false bad mask of n rows, built from a numpy buffer (not a Python list of n items)."""
    return cast(pa.BooleanArray, pa.array(np.zeros(n, dtype=bool)))


# pyarrow-stubs types some kernels more loosely than Arrow behaves; these three say what Arrow returns.
_ArrayT = TypeVar("_ArrayT", bound=pa.Array)


def _fill_null(values: _ArrayT, value: pa.Scalar) -> _ArrayT:
    """`values` with its nulls replaced by `value`: an array of the same type. (The stubs type fill_null as
    coalesce, whose answer is "array or scalar".)"""
    return cast(_ArrayT, pc.fill_null(values, value))


def _choose(cond: pa.BooleanArray, left: pa.Array | pa.Scalar, right: pa.Array | pa.Scalar) -> pa.Array:
    """`pc.if_else`, which on an array condition gives an array (the stubs say "array or scalar")."""
    return cast(pa.Array, pc.if_else(cond, left, right))


def _text(values: pa.Array) -> pa.StringArray:
    """The converters' input, a column of text: the readers hand over string arrays, typed as pa.Array."""
    return cast(pa.StringArray, values)


_NULL_TEXT = pa.scalar(None, pa.string())
_FALSE = pa.scalar(False)
_NULL_DAYS = pa.scalar(None, pa.int64())


@dataclass(frozen=True)
class _Strings:
    """A string array's bytes seen through numpy, without a copy: `data` its value bytes, `starts`/`lengths`
    per value (int64), `valid` per value (None: no nulls). For the byte-level checks below, which replace a
    handful of string kernels each by one or two gathers."""

    data: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    valid: np.ndarray | None

    def present(self, mask: np.ndarray) -> np.ndarray:
        """`mask` restricted to the non-null values."""
        return mask if self.valid is None else mask & self.valid

    def byte_at(self, i: int) -> np.ndarray:
        """Byte `i` of every value (from its start; negative: from its end), 0 where the value is shorter."""
        if not len(self.data):
            return np.zeros(len(self.starts), dtype=np.uint8)
        pos = self.starts + i if i >= 0 else self.starts + self.lengths + i
        inside = self.lengths > i if i >= 0 else self.lengths >= -i
        return np.take(self.data, pos, mode="clip") * inside.view(np.uint8)


def _strings(values: pa.Array) -> _Strings | None:
    """`values` as `_Strings`, or None when it is not a plain (non-chunked) string array."""
    if not isinstance(values, pa.StringArray):
        return None
    n = len(values)
    buffers = values.buffers()
    if buffers[1] is None:
        return None
    offsets = np.frombuffer(memoryview(buffers[1]), dtype=np.int32)[values.offset : values.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(memoryview(buffers[2]), dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    valid = None
    if values.null_count:
        valid = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    return _Strings(data, offsets[:-1], np.diff(offsets), valid)


_SPACE, _TAB = ord(" "), ord("\t")


def blank_to_null(values: pa.Array) -> pa.StringArray:
    """Strip surrounding whitespace; empty strings become null. (Most columns have neither: then the array
    is returned as it is, without copying its strings.)"""
    text = _text(values)
    seen = _CLEANED.get(id(text))
    if seen is not None and seen() is text:
        return text
    raw = _strings(text)
    if raw is not None:  # the same decisions from the bytes: a value's first and last byte, its length
        first, last = raw.byte_at(0), raw.byte_at(-1)
        edge = (first == _SPACE) | (first == _TAB) | (last == _SPACE) | (last == _TAB)
        padded = bool(raw.present(edge).any())
        empty = bool(raw.present(raw.lengths == 0).any())
    else:
        edges = [pc.or_(pc.starts_with(text, ws), pc.ends_with(text, ws)) for ws in (" ", "\t")]
        padded = bool(pc.any(pc.or_(*edges)).as_py())
        empty = None
    stripped = pc.utf8_trim_whitespace(text) if padded else text
    if padded or empty is None:
        empty = bool(pc.any(pc.equal(stripped, pa.scalar(""))).as_py())
    result = _text(_choose(pc.equal(stripped, pa.scalar("")), _NULL_TEXT, stripped)) if empty else stripped
    if len(_CLEANED) > 4096:
        _CLEANED.clear()
    _CLEANED[id(result)] = weakref.ref(result)
    return result


def _date_regex(fmt: str) -> str:
    # Separator-less formats (DDMMAA) need fixed-width tokens, or the digits are ambiguous.
    has_separators = bool(re.sub(r"%[dmYy]", "", fmt))
    tokens = _DATE_TOKENS if has_separators else _DATE_TOKENS_FIXED
    out, i = [], 0
    while i < len(fmt):
        tok = fmt[i : i + 2]
        if tok in tokens:
            out.append(tokens[tok])
            i += 2
        elif fmt[i] == "%":
            raise ValueError(f"unsupported date format token {tok!r} in {fmt!r}; use %d %m %Y %y")
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "^" + "".join(out) + "$"


def _days_from_civil(y: pa.Array, m: pa.Array, d: pa.Array) -> pa.Array:
    """Days since 1970-01-01 for a proleptic Gregorian (y, m, d); H. Hinnant's algorithm, vectorized."""
    y = pc.subtract(y, pc.cast(pc.less_equal(m, pa.scalar(2)), pa.int64()))
    era = pc.divide(y, 400)  # years are positive here: integer division truncates correctly
    yoe = pc.subtract(y, pc.multiply(era, 400))
    mp = _choose(pc.greater(m, pa.scalar(2)), pc.subtract(m, 3), pc.add(m, 9))
    doy = pc.add(pc.divide(pc.add(pc.multiply(mp, 153), 2), 5), pc.subtract(d, 1))
    doe = pc.add(pc.subtract(pc.add(pc.multiply(yoe, 365), pc.divide(yoe, 4)), pc.divide(yoe, 100)), doy)
    return pc.subtract(pc.add(pc.multiply(era, 146097), doe), 719468)


_MONTH_DAYS = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())


def _calendar_days(y: pa.Array, m: pa.Array, d: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """(days since epoch or null, valid mask) for integer year/month/day arrays, checked against the calendar."""
    zero = pa.scalar(0, pa.int64())
    month_ok = pc.and_(pc.greater_equal(m, pa.scalar(1)), pc.less_equal(m, pa.scalar(12)))
    leap = pc.or_(
        pc.and_(
            pc.equal(pc.bit_wise_and(y, 3), zero),
            pc.not_equal(pc.subtract(y, pc.multiply(pc.divide(y, 100), 100)), zero),
        ),
        pc.equal(pc.subtract(y, pc.multiply(pc.divide(y, 400), 400)), zero),
    )
    dim = pc.take(_MONTH_DAYS, _fill_null(_choose(month_ok, m, zero), zero))
    dim = pc.add(dim, pc.cast(pc.and_(leap, pc.equal(m, pa.scalar(2))), pa.int64()))
    day_ok = pc.and_(pc.greater_equal(d, pa.scalar(1)), pc.less_equal(d, dim))
    # year 0 does not exist (Python, PostgreSQL and the civil algorithm below all start at year 1)
    valid = _fill_null(pc.and_(pc.and_(month_ok, day_ok), pc.greater_equal(y, pa.scalar(1))), _FALSE)
    days = _days_from_civil(y, m, d)
    return _choose(valid, days, _NULL_DAYS), valid


def _year(parts: dict[str, pa.Array]) -> pa.Array:
    if "Y" in parts:
        return parts["Y"]
    yy = parts["y"]
    return pc.add(yy, _choose(pc.less(yy, pa.scalar(TWO_DIGIT_YEAR_PIVOT)), pa.scalar(2000), pa.scalar(1900)))


def _fixed_layout(fmt: str) -> tuple[list[tuple[str, int, int]], list[tuple[int, str]], int]:
    """Token and separator positions of a format written with zero-padded fields (dd/mm/yyyy)."""
    tokens, seps, pos, i = [], [], 0, 0
    while i < len(fmt):
        tok = fmt[i : i + 2]
        if tok in ("%d", "%m", "%y", "%Y"):
            width = 4 if tok == "%Y" else 2
            tokens.append((tok[1], pos, pos + width))
            pos += width
            i += 2
        else:
            seps.append((pos, fmt[i]))
            pos += 1
            i += 1
    return tokens, seps, pos


def _parse_fixed(text: pa.StringArray, fmt: str) -> tuple[pa.Array, pa.BooleanArray] | None:
    """The fast path: every value zero-padded at fixed positions, checked with plain kernels (no regex).
    None when some present value is not written that way (then the regex path decides)."""
    tokens, seps, length = _fixed_layout(fmt)
    shaped = pc.equal(pc.utf8_length(text), pa.scalar(length))
    for pos, sep in seps:
        shaped = pc.and_(shaped, pc.equal(pc.utf8_slice_codeunits(text, pos, pos + 1), pa.scalar(sep)))
    parts: dict[str, pa.StringArray] = {}
    for name, start, end in tokens:
        piece = pc.utf8_slice_codeunits(text, start, end)
        shaped = pc.and_(shaped, pc.utf8_is_digit(piece))
        parts[name] = piece
    shaped = _fill_null(shaped, pa.scalar(True))  # nulls are absent values, not bad ones
    if not pc.all(shaped).as_py():
        return None
    ints: dict[str, pa.Array] = {k: pc.cast(v, pa.int64()) for k, v in parts.items()}
    return _calendar_days(_year(ints), ints["m"], ints["d"])


def _parse_strptime(text: pa.StringArray, fmt: str) -> tuple[pa.Array, pa.BooleanArray] | None:
    """The fastest path, for four-digit-year formats whose values are all zero-padded: Arrow's strptime, then
    a check that it did not roll an impossible day over (31/02 → 02/03): the day it parsed must be the day
    written. None when some parsed value is not zero-padded (then the other paths decide)."""
    tokens, _, length = _fixed_layout(fmt)
    if "Y" not in {t[0] for t in tokens}:
        return None  # two-digit years follow our pivot, not strptime's
    ts = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    parsed = pc.is_valid(ts)
    fixed = _fill_null(pc.equal(pc.utf8_length(text), pa.scalar(length)), _FALSE)
    if pc.any(pc.and_(parsed, pc.invert(fixed))).as_py():
        return None
    start, end = next((s, e) for name, s, e in tokens if name == "d")
    day_text = pc.utf8_slice_codeunits(text, start, end)
    written = pc.cast(_choose(pc.utf8_is_digit(day_text), day_text, _NULL_TEXT), pa.int64())
    ok = _fill_null(pc.and_(pc.equal(pc.day(ts), written), pc.greater_equal(pc.year(ts), pa.scalar(1))), _FALSE)
    days = pc.cast(pc.cast(pc.cast(ts, pa.date32()), pa.int32()), pa.int64())
    return _choose(ok, days, _NULL_DAYS), ok


_MONTH_DAYS_NP = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _parse_fixed_bytes(text: pa.StringArray, fmt: str) -> tuple[pa.Array, pa.BooleanArray] | None:
    """`_parse_fixed` from the bytes, in numpy: every present value exactly as long as the format, with its
    separators in place and ASCII digits in its fields, read as integers and checked against the calendar as
    `_calendar_days` does. None when some present value is written otherwise (then the kernels decide), or
    the format lacks a day, a month or a year. On such input `_parse_strptime` and `_parse_fixed` give the
    same answer: a date is valid exactly when it exists in the calendar, from year 1."""
    tokens, seps, length = _fixed_layout(fmt)
    names = {name for name, _, _ in tokens}
    raw = _strings(text)
    if raw is None or not {"d", "m"} <= names or not names & {"Y", "y"}:
        return None
    n = len(raw.starts)
    rows = np.arange(n) if raw.valid is None else np.flatnonzero(raw.valid)
    if (raw.lengths[rows] != length).any():
        return None
    chars = raw.data[raw.starts[rows][:, None] + np.arange(length)] if len(rows) else np.zeros((0, length), np.uint8)
    for pos, sep in seps:
        if len(sep.encode()) != 1 or (chars[:, pos] != ord(sep)).any():
            return None
    fields = [p for _, start, end in tokens for p in range(start, end)]
    digits = chars[:, fields] - np.uint8(ord("0"))  # a byte below "0" wraps around past 9
    if (digits > 9).any():
        return None
    column = dict(zip(fields, digits.T.astype(np.int32), strict=True))
    parts: dict[str, np.ndarray] = {}
    for name, start, end in tokens:
        value = column[start]
        for p in range(start + 1, end):
            value = value * 10 + column[p]
        parts[name] = value
    if "Y" in parts:
        y = parts["Y"]
    else:
        y = parts["y"] + np.where(parts["y"] < TWO_DIGIT_YEAR_PIVOT, 2000, 1900)
    m, d = parts["m"], parts["d"]
    month_ok = (m >= 1) & (m <= 12)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = _MONTH_DAYS_NP[np.where(month_ok, m, 0)] + (leap & (m == 2))
    ok = month_ok & (d >= 1) & (d <= dim) & (y >= 1)
    # days since 1970-01-01 (H. Hinnant's days_from_civil, as _days_from_civil), for the valid rows
    yy = y - (m <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    days[rows] = np.where(ok, era * 146097 + doe - 719468, 0)
    valid[rows] = ok
    return pa.array(days, pa.int64(), mask=~valid), cast(pa.BooleanArray, pa.array(valid, pa.bool_()))


def _parse_date_format(text: pa.StringArray, fmt: str) -> tuple[pa.Array, pa.BooleanArray]:
    """(days since epoch or null, matched-and-valid mask) for one format."""
    fast = _parse_fixed_bytes(text, fmt) or _parse_strptime(text, fmt) or _parse_fixed(text, fmt)
    if fast is not None:
        return fast
    regex = _date_regex(fmt)
    matched = _fill_null(pc.match_substring_regex(text, regex), _FALSE)
    safe = _choose(matched, text, _NULL_TEXT)
    extracted = pc.extract_regex(_text(safe), regex)
    parts: dict[str, pa.Array] = {
        f.name: pc.cast(pc.struct_field(extracted, f.name), pa.int64()) for f in extracted.type
    }
    return _calendar_days(_year(parts), parts["m"], parts["d"])


#: Excel's day 0 is 1899-12-30 (its 1900 leap-year bug included): serial 25569 is 1970-01-01.
EXCEL_EPOCH_OFFSET = 25569


def _parse_excel_serial(text: pa.StringArray) -> tuple[pa.Array, pa.BooleanArray]:
    ok = _fill_null(pc.match_substring_regex(text, r"^\d{2,6}(\.0+)?$"), _FALSE)
    whole = pc.replace_substring_regex(_text(_choose(ok, text, _NULL_TEXT)), r"\.0+$", "")
    serial = pc.cast(whole, pa.int64())
    ok = pc.and_(ok, _fill_null(pc.greater_equal(serial, pa.scalar(61)), _FALSE))  # before 1900-03-01 Excel is wrong
    days = pc.subtract(serial, EXCEL_EPOCH_OFFSET)
    return _choose(ok, days, _NULL_DAYS), ok


def parse_dates(values: pa.Array, formats: tuple[str, ...]) -> tuple[pa.Array, pa.BooleanArray]:
    """Text → date32, trying each format in order; impossible dates (31/02) are bad, not rolled over.

    Formats use %d %m %Y %y, or `excel_serial` for a spreadsheet's day number."""
    text = blank_to_null(values)
    days: pa.Array = pa.nulls(len(text), pa.int64())
    for fmt in formats:
        parsed, ok = _parse_excel_serial(text) if fmt == "excel_serial" else _parse_date_format(text, fmt)
        days = _choose(pc.is_null(days), parsed, days)
        if days.null_count == text.null_count:
            break  # every present value has its date: the later formats would change nothing
    dates = pc.cast(pc.cast(days, pa.int32()), pa.date32())
    bad = pc.and_(pc.is_valid(text), pc.is_null(days))
    return dates, bad


def parse_decimals(
    values: pa.Array, decimal: str, thousands: str | None, scale: int, precision: int = 18
) -> tuple[pa.Array, pa.BooleanArray]:
    """Locale-formatted text (`1.234,56`) → decimal128(precision, scale), rounded half-even to the scale.

    `decimal="auto"` is for sources that mix both (JSON with floats and Brazilian strings, XLSX numeric and
    text cells): a value with a comma is read as `1.234,56`, any other as `1234.56`."""
    if decimal == "auto":
        text = blank_to_null(values)
        comma = _fill_null(pc.match_substring(text, ","), _FALSE)
        br, br_bad = parse_decimals(values, ",", ".", scale, precision)
        plain, plain_bad = parse_decimals(values, ".", None, scale, precision)
        return _choose(comma, br, plain), cast(pa.BooleanArray, _choose(comma, br_bad, plain_bad))
    text = blank_to_null(values)
    fast = _parse_plain_decimals(text, decimal, scale, precision) if thousands is None else None
    if fast is not None:
        return fast
    d, t = re.escape(decimal), re.escape(thousands) if thousands else None
    int_digits = precision - scale
    frac = rf"(?:{d}\d{{1,{MAX_FRACTION_DIGITS}}})?"
    plain = rf"[+-]?\d{{1,{int_digits}}}{frac}"
    pattern = plain if t is None else rf"(?:{plain}|[+-]?\d{{1,3}}(?:{t}\d{{3}})+{frac})"
    ok = _fill_null(pc.match_substring_regex(text, f"^{pattern}$"), _FALSE)
    normalized = _text(_choose(ok, text, _NULL_TEXT))
    if thousands:
        normalized = pc.replace_substring(normalized, thousands, "")
    if decimal != ".":
        normalized = pc.replace_substring(normalized, decimal, ".")
    # too many integer digits after removing thousands separators → bad, not an overflow exception
    int_part = pc.utf8_length(pc.replace_substring_regex(normalized, r"^[+-]?(\d*)(?:\.\d*)?$", r"\1"))
    ok = pc.and_(ok, _fill_null(pc.less_equal(int_part, pa.scalar(int_digits)), _FALSE))
    normalized = _choose(ok, normalized, _NULL_TEXT)
    wide = pc.cast(normalized, pa.decimal256(int_digits + MAX_FRACTION_DIGITS, MAX_FRACTION_DIGITS))
    rounded = pc.round(wide, scale, round_mode="half_to_even")
    result = pc.cast(rounded, pa.decimal128(precision, scale))
    bad = pc.and_(pc.is_valid(text), pc.invert(ok))
    return result, bad


def _odd_numbers(text: pa.StringArray, decimal: str) -> bool | None:
    """Whether some value, its `decimal` read as a point, has an exponent or a bare leading or trailing point
    (`1e5`, `.5`, `-.5`, `+.5`, `5.`), from its bytes; None when the bytes cannot tell (then the kernels do)."""
    raw = _strings(text)
    if raw is None or len(decimal.encode()) != 1:
        return None
    end = int(raw.starts[-1] + raw.lengths[-1]) if len(raw.starts) else 0
    span = raw.data[int(raw.starts[0]) if len(raw.starts) else 0 : end]
    if ((span == ord("e")) | (span == ord("E"))).any():
        return None  # an exponent somewhere (perhaps in a null slot's bytes): the kernels decide
    point, sep = ord("."), ord(decimal)
    first, second, last = raw.byte_at(0), raw.byte_at(1), raw.byte_at(-1)
    odd = (first == point) | (first == sep) | (last == point) | (last == sep)
    odd |= ((first == ord("-")) | (first == ord("+"))) & ((second == point) | (second == sep))
    return bool(raw.present(odd).any())


def _parse_plain_decimals(
    text: pa.StringArray, decimal: str, scale: int, precision: int
) -> tuple[pa.Array, pa.BooleanArray] | None:
    """The fast path for numbers without thousands separators: Arrow's own cast, in one pass, after ruling
    out the forms it accepts and this engine does not (exponents, a bare leading or trailing point). None when
    any value needs more care (bad text, more decimals than the scale): the validating path decides."""
    normalized = pc.replace_substring(text, decimal, ".") if decimal != "." else text
    odd = _odd_numbers(text, decimal)
    if odd is None:
        odd_mask = pc.or_(
            pc.or_(pc.match_substring(normalized, "e"), pc.match_substring(normalized, "E")),
            pc.ends_with(normalized, "."),
        )
        for prefix in (".", "-.", "+."):
            odd_mask = pc.or_(odd_mask, pc.starts_with(normalized, prefix))
        odd = bool(pc.any(_fill_null(odd_mask, _FALSE)).as_py())
    if odd:
        return None
    try:
        result = pc.cast(normalized, pa.decimal128(precision, scale))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return result, no_problems(len(text))


def _plain_integers(text: pa.StringArray) -> tuple[bool, bool] | None:
    """(every present value is an optional sign and 1 to 9 ASCII digits, some has a `+`), from the bytes; None
    when they cannot tell (some value is not written so, or a null slot holds bytes): then the kernels decide."""
    raw = _strings(text)
    if raw is None:
        return None
    first = raw.byte_at(0)
    plus, signed = first == ord("+"), (first == ord("+")) | (first == ord("-"))
    digits = raw.lengths - signed
    if raw.present((digits < 1) | (digits > 9)).any():
        return None
    begin = int(raw.starts[0]) if len(raw.starts) else 0
    end = int(raw.starts[-1] + raw.lengths[-1]) if len(raw.starts) else 0
    other = np.flatnonzero(raw.data[begin:end] - np.uint8(ord("0")) > 9) + begin
    if not np.array_equal(other, raw.starts[raw.present(signed)]):
        return None  # a byte other than a digit where no sign may be
    return True, bool(raw.present(plus).any())


def parse_integers(values: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    text = blank_to_null(values)
    plain = _plain_integers(text)
    if plain is not None:
        unsigned = pc.replace_substring_regex(text, r"^\+", "") if plain[1] else text
        return pc.cast(unsigned, pa.int32()), no_problems(len(text))
    ok = _fill_null(pc.match_substring_regex(text, r"^[+-]?\d{1,9}$"), _FALSE)
    unsigned = pc.replace_substring_regex(_text(_choose(ok, text, _NULL_TEXT)), r"^\+", "")
    result = pc.cast(unsigned, pa.int32())
    return result, pc.and_(pc.is_valid(text), pc.invert(ok))


def map_values(
    values: pa.Array, mapping: Mapping[str, object], target: pa.DataType
) -> tuple[pa.Array, pa.BooleanArray]:
    """Code → canonical value through a value map (case-insensitive); an unmapped code is bad."""
    text = blank_to_null(values)
    keys = [k.upper() for k in mapping]
    upper = pc.utf8_upper(text)
    index = pc.index_in(upper, value_set=pa.array(keys, pa.string()))
    mapped = pc.take(pa.array(list(mapping.values()), target), index)
    bad = pc.and_(pc.is_valid(text), pc.is_null(index))
    return mapped, bad


@lru_cache(maxsize=1 << 17)
def _normalize_one(raw: str, restore_leading_zeros: bool) -> tuple[str | None, bool]:
    """(digits or None, bad) for one distinct document text."""
    text = raw.strip()
    if not text:
        return None, False
    digits = text.replace(".", "").replace("-", "").replace("/", "").replace(" ", "")
    if restore_leading_zeros and digits.isdigit():
        digits = digits.zfill(11) if len(digits) <= 11 else digits.zfill(14)
    return (digits, False) if is_valid_document(digits) else (None, True)


def _dictionary_encode(values: pa.Array) -> pa.DictionaryArray:
    """`pc.dictionary_encode` as one DictionaryArray (the stubs say it returns its input's type)."""
    encoded = cast(pa.DictionaryArray | pa.ChunkedArray, pc.dictionary_encode(values))
    if isinstance(encoded, pa.ChunkedArray):
        return cast(pa.DictionaryArray, encoded.combine_chunks())
    return encoded


def _normalize_documents_by_value(values: pa.Array, restore_leading_zeros: bool) -> tuple[pa.Array, pa.BooleanArray]:
    # Encode first, then normalize and check each distinct text once: a file repeats the same parties.
    encoded = _dictionary_encode(values)
    results = [_normalize_one(u, restore_leading_zeros) for u in encoded.dictionary.to_pylist()]
    digits = pa.array([r[0] for r in results], pa.string())
    bad = pa.array([r[1] for r in results], pa.bool_())
    return pc.take(digits, encoded.indices), _fill_null(pc.take(bad, encoded.indices), _FALSE)


@lru_cache(maxsize=1 << 16)
def _document_ok(digits: str) -> bool:
    # the same cedentes and sacados recur in every batch and every file of a fund: check each once
    return is_valid_document(digits)


def normalize_documents(
    values: pa.Array, restore_leading_zeros: bool = False, kinds: pa.Array | None = None
) -> tuple[pa.Array, pa.BooleanArray]:
    """CPF/CNPJ in any punctuation → digits; a wrong length or check digit is bad.

    `kinds` ("cpf"/"cnpj" per row, e.g. from CNAB's document-type field) resolves fixed-width fields where a
    CPF is zero-padded to 14 digits: such a value is a CPF only when its type says so (1 in 100 padded CPFs
    would also pass as a CNPJ, so guessing is not safe). Check digits are computed once per distinct
    document: a file repeats the same few hundred cedentes and sacados across thousands of rows.
    """
    if kinds is None:
        return _normalize_documents_by_value(values, restore_leading_zeros)
    text = blank_to_null(values)
    digits = text
    for punctuation in (".", "-", "/", " "):
        digits = pc.replace_substring(digits, punctuation, "")
    if restore_leading_zeros:
        # a spreadsheet that stored a CPF/CNPJ as a number dropped its leading zeros: up to 11 digits is a CPF
        length = pc.utf8_length(digits)
        digits = _text(
            _choose(pc.less_equal(length, pa.scalar(11)), pc.utf8_lpad(digits, 11, "0"), pc.utf8_lpad(digits, 14, "0"))
        )
    if kinds is not None:
        is_cpf = _fill_null(pc.equal(kinds, pa.scalar("cpf")), _FALSE)
        padded_cpf = pc.and_(is_cpf, _fill_null(pc.match_substring_regex(digits, r"^000\d{11}$"), _FALSE))
        digits = _text(_choose(padded_cpf, pc.utf8_slice_codeunits(digits, 3), digits))
        is_cnpj = _fill_null(pc.equal(kinds, pa.scalar("cnpj")), _FALSE)
        digits = _text(_choose(is_cnpj, pc.utf8_lpad(digits, 14, "0"), digits))
    encoded = _dictionary_encode(digits)
    uniques = encoded.dictionary.to_pylist()
    valid_unique = pa.array([_document_ok(u) for u in uniques], pa.bool_())
    valid = _fill_null(pc.take(valid_unique, encoded.indices), _FALSE)
    if kinds is not None:
        length = pc.utf8_length(digits)
        declared = _fill_null(kinds, pa.scalar(""))
        matches_kind = pc.or_(
            pc.equal(declared, pa.scalar("")),
            pc.or_(
                pc.and_(pc.equal(declared, pa.scalar("cpf")), pc.equal(length, pa.scalar(11))),
                pc.and_(pc.equal(declared, pa.scalar("cnpj")), pc.equal(length, pa.scalar(14))),
            ),
        )
        valid = pc.and_(valid, _fill_null(matches_kind, _FALSE))
    bad = pc.and_(pc.is_valid(text), pc.invert(valid))
    return _choose(valid, digits, _NULL_TEXT), bad
