"""Duplicate business keys within one file: the second and later rows with a key already seen are rejected,
the first is kept; the keys seen so far are held as sorted runs of 64-bit hashes, not as strings."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute

from fidc_assets.lib.core.canonical import Entity
from fidc_assets.lib.ingest.adapters.convert import DATED_BY_FILE, Batch, source_name
from fidc_assets.lib.ingest.specs import ColumnMap

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute

#: Per-process random odd weights for the key hash: a file cannot be crafted against them.
_HASH_WEIGHTS = np.frombuffer(os.urandom(8 * 512), dtype=np.uint64) | np.uint64(1)


def _key_hashes(keys: pa.Array) -> np.ndarray:
    """64-bit hashes of strings, vectorized: each byte times a random odd weight for its position, summed
    modulo 2**64, then mixed (splitmix64) with the length. Keys longer than 512 bytes are hashed on their
    first 512."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # A string array's buffers: validity (or None), int32 offsets, bytes (None when every value is empty).
    # memoryview() hands them to numpy without a copy (numpy's stubs take no buffer-protocol object before 3.12).
    buffers = keys.buffers()
    offsets_buffer, data_buffer = buffers[1], buffers[2]
    assert offsets_buffer is not None, "a non-empty string array has offsets"
    offsets = np.frombuffer(memoryview(offsets_buffer), dtype=np.int32)[keys.offset : keys.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = (
        np.frombuffer(memoryview(data_buffer), dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(1, dtype=np.uint8)
    )
    starts = offsets[:-1]
    lengths = np.minimum(offsets[1:] - starts, len(_HASH_WEIGHTS))
    last = max(len(data) - 1, 0)
    h = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    width = int(lengths.max(initial=0))
    with np.errstate(over="ignore"):
        if width and (lengths == width).all() and (offsets[1:] - starts == width).all():
            # every key as long (zero-padded ids): the keys are one contiguous n x width block of bytes, and the
            # same sum is one product with the weights (uint64 arithmetic wraps the same way)
            block = data[offsets[0] : offsets[0] + n * width].reshape(n, width).astype(np.uint64)
            h += block @ _HASH_WEIGHTS[:width]
        else:
            for k in range(width):  # one pass per byte position: n operations each
                byte = data[np.minimum(starts + k, last)].astype(np.uint64)
                h += np.where(k < lengths, byte, np.uint64(0)) * _HASH_WEIGHTS[k]
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h.view(np.int64)


#: Runs are merged up to this many hashes (8 MiB), in place: a merge briefly needs a buffer of half its size,
#: so the index never holds more than a few MiB beyond its 8 bytes a row (merging without a cap, into a copy,
#: needed 49 MiB more at 5M rows and 98 MiB at 10M, tracemalloc); a 10-million-row file keeps ~13 runs, each
#: searched per batch with one binary search of the batch's hashes.
MAX_RUN_HASHES = 1 << 20


class KeyIndex:
    """Business keys seen so far in a file, as 64-bit hashes in sorted runs: 8 bytes a row, so a 5-million-row
    file needs 40 MB to find its duplicates. A hash collision (odds about 1e-6 for 5 million keys) would send a
    row to quarantine as `duplicate_key`, visible there with its raw text; it is never silently dropped."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def _seen(self, hashes: np.ndarray) -> np.ndarray:
        """Which of `hashes` (sorted: successive searches then walk nearby paths of each run) are in a run."""
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            pos = np.searchsorted(run, hashes)
            pos[pos == len(run)] = 0
            found |= run[pos] == hashes
        return found

    def _add(self, hashes: np.ndarray) -> None:
        """Add sorted, distinct hashes as a new run, merging runs as they grow."""
        self._runs.append(hashes)
        runs = self._runs
        while len(runs) > 1 and len(runs[-2]) <= len(runs[-1]) and len(runs[-2]) + len(runs[-1]) <= MAX_RUN_HASHES:
            merged = np.concatenate([runs.pop(-2), runs.pop()])
            merged.sort(kind="stable")  # in place: two sorted runs, merged with a buffer of half their size
            runs.append(merged)

    @property
    def nbytes(self) -> int:
        return sum(run.nbytes for run in self._runs)

    def duplicates(self, keys: pa.Array, candidates: pa.Array) -> pa.Array:
        """True for candidate rows whose key appeared before (earlier in this batch or in an earlier one)."""
        n = len(keys)
        mask = np.asarray(pc.fill_null(candidates, False).to_numpy(zero_copy_only=False), dtype=bool)
        hashes = _key_hashes(keys)
        idx = np.flatnonzero(mask)
        dup = np.zeros(n, dtype=bool)
        if len(idx):
            # sorted once, stably: the first of equal hashes is the earliest row, kept; the rest repeat it
            order = np.argsort(hashes[idx], kind="stable")
            h = hashes[idx][order]
            repeated = np.zeros(len(h), dtype=bool)
            repeated[1:] = h[1:] == h[:-1]
            dup[idx[order]] = repeated | self._seen(h)
            self._add(h[~repeated])
        return pa.array(dup, pa.bool_())


def _key_strings(table: pa.Table, key_cols: list[str]) -> pa.Array:
    parts = [pc.fill_null(pc.cast(table[c], pa.string()), "\x00") for c in key_cols]
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def mark_duplicates(batch: Batch, entity: Entity, cmaps: dict[str, ColumnMap], index: KeyIndex) -> None:
    """Second and later rows with the same business key in one file are rejected; the first is kept."""
    # custodian, fund and (for a stock or quota file) the date are the same for every row still in the running
    constant = {"custodian_id", "fund_cnpj"} | ({entity.partition_date} if entity.name in DATED_BY_FILE else set())
    key_cols = [k for k in entity.key if k in batch.canonical.column_names and k not in constant]
    duplicate = index.duplicates(_key_strings(batch.canonical, key_cols), batch.problems.ok())
    key_source = source_name(cmaps, "receivable_id" if "receivable_id" in key_cols else key_cols[-1])
    batch.problems.mark(duplicate, "duplicate_key", key_source)
