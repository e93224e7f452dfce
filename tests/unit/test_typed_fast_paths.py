"""The byte-level fast paths of the converters and of the duplicate-key check decide exactly as the kernel paths
they shortcut: each is compared with its kernel path on random columns of values that sit on every edge they
test (padding, blanks, nulls, exponents, bare points, separators, impossible dates, short and long keys).

A chunked array takes the kernel path (`typed._strings` reads plain arrays only), so the same values given
chunked are the previous implementation's answer."""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pytest

from fidc_assets.lib.ingest import typed
from fidc_assets.lib.ingest.adapters.duplicates import KeyIndex, _key_hashes
from fidc_assets.lib.ingest.typed import blank_to_null, parse_dates, parse_decimals, parse_integers

TEXTS = ["", " ", "\t", "a", " a", "a ", "\ta", "a\t", " a b ", "é", " é", "x" * 40, "  ", "\u00a0a", "a\r"]
NUMBERS = ["1", "1,5", "12,34", "-1,25", "+3,5", "1e5", "1E5", ",5", "-,5", "+,5", "5,", ".5", "5.", "1.234,56",
           "0,00", "123456789012,99", "abc", "", " 1,5", "-", "+", "1,234", "9" * 17]  # fmt: skip
DATES = ["01/07/2024", "31/02/2024", "29/02/2024", "29/02/2023", "00/01/2024", "01/13/2024", "01/00/2024",
         "01/01/0000", "01/01/0001", "31/12/9999", "1/07/2024", "01-07-2024", "aa/bb/cccc", "", " 01/07/2024",
         "01/07/2024 ", "31/04/2024", "30/04/2024", "01/07/24", "29/02/1900", "29/02/2000"]  # fmt: skip


def _columns(values: list[str], seed: int, n: int = 400) -> list[pa.Array]:
    """Random columns of `values` with and without nulls, and a slice (an array with an offset)."""
    rng = random.Random(seed)
    out = []
    for nulls in (0.0, 0.2):
        picked = [None if rng.random() < nulls else rng.choice(values) for _ in range(n)]
        out.append(pa.array(picked, pa.string()))
    out.append(pa.array([rng.choice(values) for _ in range(n + 7)], pa.string()).slice(5, n))
    for v in values:  # every value alone: a column where the rare case is everywhere
        out.append(pa.array([v] * 3, pa.string()))
    return out


def _kernel_path(column: pa.Array) -> Any:
    """The column as a one-chunk ChunkedArray (typed Any: the converters take arrays, and Arrow's kernels both)."""
    typed._CLEANED.clear()
    return cast(Any, pa.chunked_array([column]))


@pytest.mark.parametrize("seed", range(5))
def test_blank_to_null_decides_as_the_kernels(seed):
    for column in _columns(TEXTS, seed):
        typed._CLEANED.clear()
        fast = blank_to_null(column).to_pylist()
        assert fast == blank_to_null(_kernel_path(column)).to_pylist()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [2, 6])
def test_plain_decimals_decide_as_the_kernels(seed, scale):
    for column in _columns(NUMBERS, seed):
        typed._CLEANED.clear()
        values, bad = parse_decimals(column, ",", None, scale)
        slow_values, slow_bad = parse_decimals(_kernel_path(column), ",", None, scale)
        assert values.to_pylist() == slow_values.to_pylist()
        assert bad.to_pylist() == slow_bad.to_pylist()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("formats", [("%d/%m/%Y",), ("%d/%m/%y",), ("%d/%m/%Y", "%d-%m-%Y"), ("%d%m%Y",)])
def test_fixed_dates_decide_as_the_kernels(seed, formats):
    values = [*DATES, *(d.replace("/", "") for d in DATES)]
    for column in _columns(values, seed):
        typed._CLEANED.clear()
        dates, bad = parse_dates(column, formats)
        slow_dates, slow_bad = parse_dates(_kernel_path(column), formats)
        assert dates.to_pylist() == slow_dates.to_pylist()
        assert bad.to_pylist() == slow_bad.to_pylist()


def test_the_byte_level_date_path_is_taken_for_zero_padded_dates():
    parsed = typed._parse_fixed_bytes(pa.array(["01/07/2024", None, "31/02/2024"], pa.string()), "%d/%m/%Y")
    assert parsed is not None
    days, ok = parsed
    assert days.to_pylist() == [19905, None, None]
    assert ok.to_pylist() == [True, False, False]
    assert typed._parse_fixed_bytes(pa.array(["1/07/2024"], pa.string()), "%d/%m/%Y") is None


def test_fixed_width_keys_hash_as_the_byte_loop():
    rng = np.random.default_rng(7)
    keys = ["".join(map(str, rng.integers(0, 10, 12))) for _ in range(500)]
    fixed = _key_hashes(pa.array(keys, pa.string()))  # one width: the block product
    mixed = _key_hashes(pa.array([*keys, "longer key than the others"], pa.string()))  # the per-byte loop
    assert (fixed == mixed[:-1]).all()
    sliced = _key_hashes(pa.array(["x", *keys], pa.string()).slice(1))
    assert (sliced == fixed).all()


def test_duplicates_are_the_second_and_later_rows_of_a_key_across_batches():
    rng = random.Random(3)
    index, seen = KeyIndex(), set()
    for _ in range(30):
        keys = [f"{rng.randrange(2_000):06d}" for _ in range(rng.randrange(1, 300))]
        candidates = [rng.random() > 0.1 for _ in keys]
        got = index.duplicates(pa.array(keys, pa.string()), pa.array(candidates, pa.bool_())).to_pylist()
        expected = []
        for key, candidate in zip(keys, candidates, strict=True):
            expected.append(candidate and key in seen)
            if candidate:
                seen.add(key)
        assert got == expected


INTEGERS = ["0", "7", "-7", "+7", "123456789", "1234567890", "-123456789", "+", "-", "1-2", "12a", "1.5", "", " 3",
            "007", "-0", "+-1", "٣"]  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_integers_decide_as_the_kernels(seed):
    for column in _columns(INTEGERS, seed):
        typed._CLEANED.clear()
        values, bad = parse_integers(column)
        slow_values, slow_bad = parse_integers(_kernel_path(column))
        assert values.to_pylist() == slow_values.to_pylist()
        assert bad.to_pylist() == slow_bad.to_pylist()
