"""Random canonical rows of any entity, vectorized (numpy), for the hot loader's tests and benchmark.

Not the sample generator (which renders custodian files from a simulation): these rows go straight into
Iceberg or the loader. Every type of the canonical model appears, with nulls in some nullable columns,
negative money, and days/funds spread as asked; rows come fund by fund (the order files are read in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.canonical import Entity

#: Nullable columns left null in some rows (the rest of the nullable columns are always filled).
NULL_RATE = 0.05


def _decimal(values: np.ndarray, t: pa.DataType) -> pa.Array:
    """A decimal128 array `t` of the unscaled integers `values`, laid out as Arrow's two 64-bit words."""
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = np.where(values < 0, -1, 0)
    # numpy's and pyarrow's stubs declare the buffer protocol only for Python 3.12+ (PEP 688)
    return pa.Array.from_buffers(t, len(values), [None, pa.py_buffer(words)])  # pyright: ignore[reportArgumentType]


def canonical_rows(
    entity: Entity, n: int, days: Sequence[dt.date], funds: Sequence[str], seed: int = 0, null_columns: int = 4
) -> pa.Table:
    rng = np.random.default_rng(seed)
    schema = canonical.arrow_schema(entity)
    fund_idx = np.sort(rng.integers(0, len(funds), n))
    day_arr = np.array([np.datetime64(d) for d in days])[rng.integers(0, len(days), n)]
    nullable = [f.name for f in schema if f.nullable]
    with_nulls = set(nullable[:: max(1, len(nullable) // max(1, null_columns))][:null_columns])
    ids = rng.integers(0, 10**12, n)
    cols = {}
    for f in schema:
        t = f.type
        if f.name == entity.partition_date:
            a = pa.array(day_arr, pa.date32())
        elif f.name == "fund_cnpj":
            a = pa.array(np.asarray(funds, dtype=object)[fund_idx], t)
        elif f.name == "receivable_id":
            a = pa.array(np.char.add("R", ids.astype(str)), t)
        elif f.name == "source":  # lineage: these rows stand for landed custodian files
            a = pa.array(np.full(n, "custodian_file", dtype=object), t)
        elif pa.types.is_large_string(t) or pa.types.is_string(t):
            a = pa.array(np.char.add(f"{f.name[:3]}-", rng.integers(0, 10**8, n).astype(str)), t)
        elif pa.types.is_date32(t):
            a = pa.array(np.datetime64("2024-01-01") + rng.integers(-400, 800, n).astype("timedelta64[D]"), pa.date32())
        elif pa.types.is_decimal(t):
            a = _decimal(rng.integers(-(10**6), 10**10, n), t)
        elif pa.types.is_boolean(t):
            a = pa.array(rng.integers(0, 2, n).astype(bool))
        elif pa.types.is_integer(t):
            a = pa.array(rng.integers(-1000, 100_000, n)).cast(t)
        elif pa.types.is_timestamp(t):
            micros = np.datetime64("2024-07-01T12:00:00", "us") + rng.integers(0, 10**11, n).astype("timedelta64[us]")
            a = pa.array(micros).cast(t)
        else:
            raise TypeError(f"{entity.name}.{f.name}: no generator for {t}")
        if f.name in with_nulls:
            a = pa.Array.from_pandas(a.to_numpy(zero_copy_only=False), mask=rng.random(n) < NULL_RATE, type=t)
        cols[f.name] = a
    return pa.table(cols, schema=schema)
