"""The one engine that reads every custodian file through its YAML spec.

No custodian has Python of its own: a format reader (`fidc_assets.lib.ingest.readers`) splits the bytes into text
columns with line numbers; this module types them with vectorized kernels, applies the spec's mapping, value
maps, document normalization and the asset type registry, and sorts rows into accepted and rejected (file,
line, field, reason code, message, raw text). Whatever makes the whole file unusable (encoding, missing
columns, a trailer whose control totals disagree, a truncated file, a ZIP that expands too far) raises
`FileRejected`: nothing of such a file is written anywhere but the raw archive and the quarantine.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.types import BooleanType, DateType, DecimalType, IntegerType, LongType, StringType

from fidc_assets.lib.core.canonical import ENTITIES, Entity, arrow_schema
from fidc_assets.lib.ingest.readers import (
    FileRejected,
    RawBatch,
    RawReader,
    RejectedRow,
    Source,
    open_reader,
    unpack_archive,
)
from fidc_assets.lib.ingest.specs import ColumnMap, FileMatch, ValueFormats, XlsxFormat
from fidc_assets.lib.ingest.typed import (
    blank_to_null,
    map_values,
    no_problems,
    normalize_documents,
    parse_dates,
    parse_decimals,
    parse_integers,
)

__all__ = ["FileParse", "FileRejected", "ParseResult", "RejectedRow", "ROW_REASONS", "parse_bytes"]

DOCUMENT_FIELDS = frozenset({"fund_cnpj", "cedente_doc", "sacado_doc", "originator_doc"})
NON_NEGATIVE_FIELDS = frozenset(
    {"nominal_value", "acquisition_value", "present_value", "pdd_value", "amount_paid", "quota_count",
     "quota_value", "net_assets"}
)  # fmt: skip
#: Entities whose business date must be the file's date (a stock or quota file describes one day).
DATED_BY_FILE = frozenset({"receivable_positions", "fund_quotas"})
#: A mapping to this pseudo-column takes the delivery's date (from the file name): remittances whose records
#: carry no date of their own.
FILE_DATE_COLUMN = "@file_date"
LINEAGE_FIELDS = ("file_date", "source", "source_file_sha256", "source_line", "ingested_at")
DEFAULT_BOOLEANS: dict[str, str | bool | None] = {
    "true": True, "false": False, "1": True, "0": False, "S": True, "N": False, "SIM": True, "NAO": False,
    "NÃO": False, "Y": True, "YES": True, "NO": False,
}  # fmt: skip

#: Row reason codes → what they mean, for messages and for the README.
ROW_REASONS = {
    "unparseable_number": "is not a number in the file's format",
    "unparseable_date": "is not a valid date in the file's format",
    "missing_required": "is required but empty",
    "invalid_document": "is not a valid CPF/CNPJ (length or check digits)",
    "negative_value": "is negative where only positive values are allowed",
    "unknown_code": "is not one of the codes the custodian spec (or the asset type registry) lists",
    "wrong_column_count": "has a different number of columns than the header",
    "wrong_line_length": "has a different length than the fixed-width layout",
    "unknown_record_type": "has a record type the layout does not define",
    "fund_mismatch": "belongs to another fund than the one in the file name",
    "date_mismatch": "has another reference date than the one in the file name",
    "duplicate_key": "repeats the key of an earlier row in the same file",
}
#: File reason codes (the whole file is quarantined).
FILE_REASONS = (
    "empty_file", "no_rows", "wrong_encoding", "missing_columns", "unreadable", "truncated_file", "bad_trailer",
    "control_totals_mismatch", "archive_too_large", "archive_member_missing", "archive_ambiguous",
    "missing_sheet", "missing_records", "unsupported_format",
)  # fmt: skip


@dataclass
class ParseResult:
    """Accepted canonical rows (lineage filled) and every rejected row with its reason."""

    entity: Entity
    rows: pa.Table
    rejected: list[RejectedRow] = field(default_factory=list)
    trailer_checked: bool = False
    streamed_rows: int | None = None  # set when the rows went straight to the lake instead of `rows`

    @property
    def accepted_count(self) -> int:
        return self.rows.num_rows if self.streamed_rows is None else self.streamed_rows

    @property
    def control_totals(self) -> dict[str, str | int | bool]:
        totals: dict[str, str | int | bool] = {
            "rows_accepted": self.accepted_count,
            "rows_rejected": len(self.rejected),
            "trailer_checked": self.trailer_checked,
        }
        for name in ("nominal_value", "present_value", "acquisition_value", "amount_paid", "net_assets"):
            if name in self.rows.column_names:
                total = pc.sum(self.rows[name]).as_py()
                totals[f"sum_{name}"] = str(total if total is not None else Decimal("0.00"))
        return totals


def effective_formats(match: FileMatch) -> ValueFormats:
    """How values are written, as the engine sees them (XLSX cells arrive as '.'-decimals and ISO dates)."""
    fmt = match.file_spec.format
    vf = ValueFormats(
        decimal=fmt.decimal, thousands=fmt.thousands, date_formats=fmt.date_formats, null_values=fmt.null_values
    )
    if isinstance(fmt, XlsxFormat):
        formats = ("%Y-%m-%d", *[f for f in fmt.date_formats if f != "%Y-%m-%d"], "excel_serial")
        vf = ValueFormats(decimal="auto", thousands=None, date_formats=formats, null_values=fmt.null_values)
    return vf


def _convert_field(name: str, itype, raw: pa.Array, cmap: ColumnMap, vf: ValueFormats, table: pa.Table):
    """(typed values, bad mask, reason code for bad) for one canonical field."""
    if cmap.map is not None or isinstance(itype, BooleanType):
        target = pa.bool_() if isinstance(itype, BooleanType) else pa.string()
        values, bad = map_values(raw, cmap.map if cmap.map is not None else DEFAULT_BOOLEANS, target)
        return values, bad, "unknown_code"
    if isinstance(itype, DateType):
        values, bad = parse_dates(raw, cmap.date_formats or vf.date_formats)
        return values, bad, "unparseable_date"
    if isinstance(itype, DecimalType):
        values, bad = parse_decimals(raw, vf.decimal, vf.thousands, itype.scale, itype.precision)
        return values, bad, "unparseable_number"
    if isinstance(itype, IntegerType | LongType):
        values, bad = parse_integers(raw)
        return (values if isinstance(itype, IntegerType) else pc.cast(values, pa.int64())), bad, "unparseable_number"
    if isinstance(itype, StringType) and name in DOCUMENT_FIELDS:
        kinds = None
        if cmap.document_kind is not None:
            kind_text = table.column(cmap.document_kind.column).combine_chunks()
            kinds, _ = map_values(kind_text, dict(cmap.document_kind.map), pa.string())
        values, bad = normalize_documents(raw, restore_leading_zeros=cmap.restore_leading_zeros, kinds=kinds)
        return values, bad, "invalid_document"
    if isinstance(itype, StringType):
        values = blank_to_null(raw)
        return values, no_problems(len(values)), ""
    raise TypeError(f"no converter for field {name} of type {itype}")


class _Problems:
    """Each row's first problem (reason code and source field), recorded as small integers in numpy while a
    batch is checked field after field, and turned into Arrow strings once at the end."""

    def __init__(self, n: int):
        self.code = np.full(n, -1, dtype=np.int16)
        self.field = np.full(n, -1, dtype=np.int16)
        self.codes: list[str] = []
        self.fields: list[str] = []

    def mark(self, mask: pa.Array, code: str, name: str) -> None:
        m = pc.fill_null(mask, False)
        if not pc.any(m).as_py():
            return
        new = m.to_numpy(zero_copy_only=False) & (self.code < 0)
        if new.any():
            if code not in self.codes:
                self.codes.append(code)
            if name not in self.fields:
                self.fields.append(name)
            self.code[new] = self.codes.index(code)
            self.field[new] = self.fields.index(name)

    def ok(self) -> pa.Array:
        """True for rows with no problem (yet)."""
        return pa.array(self.code < 0, pa.bool_())

    def arrays(self) -> tuple[pa.Array, pa.Array]:
        def strings(idx: np.ndarray, values: list[str]) -> pa.Array:
            indices = pa.array(idx, pa.int16(), mask=idx < 0)
            return pa.array(values or [""], pa.string()).take(indices)

        return strings(self.code, self.codes), strings(self.field, self.fields)


def _nullify(text: pa.Array, null_values: tuple[str, ...]) -> pa.Array:
    if not null_values:
        return text
    hit = pc.fill_null(pc.is_in(pc.utf8_trim_whitespace(text), value_set=pa.array(null_values, pa.string())), False)
    return pc.if_else(hit, pa.scalar(None, pa.string()), text)


@dataclass
class _Batch:
    canonical: pa.Table  # every row, typed, with lineage; nulls where bad
    problems: _Problems  # each row's first problem, if any
    raw: pa.Table  # the source text columns, for messages


def _source_name(cmaps: dict[str, ColumnMap], name: str) -> str:
    cmap = cmaps.get(name)
    return (cmap.column if cmap and cmap.column else None) or name


def _constant(value, type_: pa.DataType, n: int) -> pa.Array:
    """A column of one repeated value, built by Arrow (not a Python list of n items)."""
    return pa.array([value], type_).take(pa.array(np.zeros(n, dtype=np.int64)))


@dataclass
class _Converted:
    values: pa.Array
    problems: list[tuple[pa.Array, str]]  # (mask, reason code) in the order they are checked


def _convert_column(f, cmap: ColumnMap, raw: pa.Table, match: FileMatch, vf: ValueFormats, out_type) -> _Converted:
    """One canonical field of a batch, with its problems; independent of the other fields (run in threads)."""
    n = raw.num_rows
    if cmap.column == FILE_DATE_COLUMN:
        return _Converted(pc.cast(_constant(match.reference_date, pa.date32(), n), out_type), [])
    if cmap.column is not None:
        text = blank_to_null(_nullify(raw.column(cmap.column).combine_chunks(), cmap.null_values or vf.null_values))
        if cmap.default is not None:
            text = blank_to_null(pc.coalesce(text, pa.scalar(cmap.default)))
    else:
        text = blank_to_null(_constant(cmap.default, pa.string(), n))
    values, bad, code = _convert_field(f.name, f.type, text, cmap, vf, raw)
    problems = [(bad, code)]
    if f.required and f.name != "currency":  # an empty currency takes the asset type's or the custodian's
        problems.append((pc.is_null(text), "missing_required"))
    if f.name in NON_NEGATIVE_FIELDS:
        problems.append((pc.less(values, pa.scalar(Decimal(0), values.type)), "negative_value"))
    return _Converted(pc.cast(values, out_type), problems)


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Arrow kernels release the GIL: fields of a batch convert in parallel, one thread per core."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="fidc-convert")
    return _POOL


def _convert_batch(
    raw: pa.Table, lines: pa.Array, match: FileMatch, entity: Entity, sha256: str, ingested_at: dt.datetime
) -> _Batch:
    vf = effective_formats(match)
    n = raw.num_rows
    problems = _Problems(n)
    schema = arrow_schema(entity)
    cmaps = match.file_spec.column_maps()
    mapped = [f for f in entity.fields if f.name in cmaps and f.name not in LINEAGE_FIELDS]
    futures = {
        f.name: _pool().submit(_convert_column, f, cmaps[f.name], raw, match, vf, schema.field(f.name).type)
        for f in mapped
    }
    columns: dict[str, pa.Array] = {}
    for f in entity.fields:  # problems are recorded in field order: the first problem of a row wins
        if f.name in LINEAGE_FIELDS or f.name == "custodian_id":
            continue
        if f.name not in futures:
            columns[f.name] = pa.nulls(n, schema.field(f.name).type)
            continue
        converted = futures[f.name].result()
        source = cmaps[f.name].column or f.name
        for mask, code in converted.problems:
            problems.mark(mask, code, source)
        columns[f.name] = converted.values
    _registry_checks(columns, problems, cmaps, match)
    if "fund_cnpj" in cmaps:
        other = pc.not_equal(columns["fund_cnpj"], pa.scalar(match.fund_cnpj))
        problems.mark(other, "fund_mismatch", _source_name(cmaps, "fund_cnpj"))
    else:
        columns["fund_cnpj"] = _constant(match.fund_cnpj, pa.string(), n)
    if entity.name in DATED_BY_FILE and entity.partition_date in cmaps:
        other = pc.not_equal(columns[entity.partition_date], pa.scalar(match.reference_date, pa.date32()))
        problems.mark(other, "date_mismatch", _source_name(cmaps, entity.partition_date))
    columns["custodian_id"] = _constant(match.custodian.id, pa.string(), n)
    columns["file_date"] = _constant(match.reference_date, pa.date32(), n)
    columns["source"] = _constant("custodian_file", pa.string(), n)
    columns["source_file_sha256"] = _constant(sha256, pa.string(), n)
    columns["source_line"] = lines
    columns["ingested_at"] = _constant(ingested_at, schema.field("ingested_at").type, n)
    table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema.remove_metadata())
    return _Batch(table, problems, raw)


def _registry_checks(columns, problems: _Problems, cmaps, match: FileMatch) -> None:
    """Asset types must be registered; currency defaults to the asset type's, then the custodian's."""
    registry = match.custodian.asset_type_registry.asset_types
    if "asset_type" in columns:
        known = pc.fill_null(pc.is_in(columns["asset_type"], value_set=pa.array(list(registry), pa.string())), False)
        unknown = pc.and_(pc.is_valid(columns["asset_type"]), pc.invert(known))
        problems.mark(unknown, "unknown_code", _source_name(cmaps, "asset_type"))
    if "currency" in columns:
        currency = columns["currency"]
        if "currency" in cmaps:
            invalid = pc.invert(pc.fill_null(pc.match_substring_regex(currency, r"^[A-Z]{3}$"), True))
            problems.mark(invalid, "unknown_code", _source_name(cmaps, "currency"))
        if "asset_type" in columns:
            codes = [c for c, t in registry.items() if t.currency]
            by_type = pc.take(
                pa.array([registry[c].currency for c in codes], pa.string()),
                pc.index_in(columns["asset_type"], value_set=pa.array(codes, pa.string())),
            )
            currency = pc.coalesce(currency, by_type)
        columns["currency"] = pc.coalesce(currency, pa.scalar(match.custodian.default_currency))


#: Per-process random odd weights for the key hash: a file cannot be crafted against them.
_HASH_WEIGHTS = np.frombuffer(os.urandom(8 * 512), dtype=np.uint64) | np.uint64(1)


def _key_hashes(keys: pa.Array) -> np.ndarray:
    """64-bit hashes of strings, vectorized: each byte times a random odd weight for its position, summed
    modulo 2**64, then mixed (splitmix64) with the length. Keys longer than 512 bytes are hashed on their
    first 512."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    buffers = keys.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[keys.offset : keys.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(1, dtype=np.uint8)
    starts = offsets[:-1]
    lengths = np.minimum(offsets[1:] - starts, len(_HASH_WEIGHTS))
    last = max(len(data) - 1, 0)
    h = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for k in range(int(lengths.max(initial=0))):  # one pass per byte position: n operations each
            byte = data[np.minimum(starts + k, last)].astype(np.uint64)
            h += np.where(k < lengths, byte, np.uint64(0)) * _HASH_WEIGHTS[k]
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h.view(np.int64)


class _KeyIndex:
    """Business keys seen so far in a file, as 64-bit hashes in sorted runs: 8 bytes a row, so a 5-million-row
    file needs 40 MB to find its duplicates. A hash collision (odds about 1e-6 for 5 million keys) would send a
    row to quarantine as `duplicate_key`, visible there with its raw text; it is never silently dropped."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def _seen(self, hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            pos = np.searchsorted(run, hashes)
            pos[pos == len(run)] = 0
            found |= run[pos] == hashes
        return found

    def _add(self, hashes: np.ndarray) -> None:
        self._runs.append(np.sort(hashes))
        while len(self._runs) > 1 and len(self._runs[-1]) >= len(self._runs[-2]):
            b, a = self._runs.pop(), self._runs.pop()
            self._runs.append(np.sort(np.concatenate([a, b]), kind="mergesort"))

    def duplicates(self, keys: pa.Array, candidates: pa.Array) -> pa.Array:
        """True for candidate rows whose key appeared before (earlier in this batch or in an earlier one)."""
        n = len(keys)
        mask = np.asarray(pc.fill_null(candidates, False).to_numpy(zero_copy_only=False), dtype=bool)
        hashes = _key_hashes(keys)
        idx = np.flatnonzero(mask)
        dup = np.zeros(n, dtype=bool)
        if len(idx):
            h = hashes[idx]
            _, first = np.unique(h, return_index=True)
            repeated = np.ones(len(idx), dtype=bool)
            repeated[first] = False
            dup[idx] = repeated | self._seen(h)
            self._add(np.unique(h))
        return pa.array(dup, pa.bool_())


def _key_strings(table: pa.Table, key_cols: list[str]) -> pa.Array:
    parts = [pc.fill_null(pc.cast(table[c], pa.string()), "\x00") for c in key_cols]
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _mark_duplicates(batch: _Batch, entity: Entity, cmaps: dict[str, ColumnMap], index: _KeyIndex) -> None:
    """Second and later rows with the same business key in one file are rejected; the first is kept."""
    # custodian, fund and (for a stock or quota file) the date are the same for every row still in the running
    constant = {"custodian_id", "fund_cnpj"} | ({entity.partition_date} if entity.name in DATED_BY_FILE else set())
    key_cols = [k for k in entity.key if k in batch.canonical.column_names and k not in constant]
    duplicate = index.duplicates(_key_strings(batch.canonical, key_cols), batch.problems.ok())
    key_source = _source_name(cmaps, "receivable_id" if "receivable_id" in key_cols else key_cols[-1])
    batch.problems.mark(duplicate, "duplicate_key", key_source)


def _human_date_formats(formats: tuple[str, ...]) -> str:
    names = []
    for f in formats:
        if f == "excel_serial":
            names.append("an Excel date")
        else:
            names.append(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy").replace("%y", "yy"))
    return " or ".join(names)


def _message(reason_code: str, field_name: str | None, value: str | None, vf: ValueFormats) -> str:
    what = ROW_REASONS.get(reason_code, reason_code)
    shown = "" if value is None else f" {value!r}"
    hint = ""
    if reason_code == "unparseable_date":
        hint = f" (expected {_human_date_formats(vf.date_formats)})"
    elif reason_code == "unparseable_number":
        example = "1234,56" if vf.decimal == "," else "1234.56"
        hint = f" (expected a number like {example})"
    return f"{field_name or 'row'}{shown} {what}{hint}"


def _drop_blank_rows(raw: pa.Table, lines: pa.Array) -> tuple[pa.Table, pa.Array]:
    """Blank lines (all fields empty) are not rows: custodians' exports often end with a few."""
    if not raw.num_columns or not pc.any(pc.fill_null(pc.equal(raw.column(0), ""), True)).as_py():
        return raw, lines  # a blank line always has an empty first field: most batches stop here
    blank = None
    for column in raw.columns:
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None or not pc.any(blank).as_py():
        return raw, lines
    keep = pc.invert(blank)
    return raw.filter(keep), lines.filter(keep)


def _check_columns(reader: RawReader, match: FileMatch, name: str) -> None:
    cmaps = match.file_spec.column_maps().values()
    needed = sorted(
        {c.column for c in cmaps if c.column and c.column != FILE_DATE_COLUMN}
        | {c.document_kind.column for c in cmaps if c.document_kind}
    )
    missing = [c for c in needed if c not in reader.names]
    if missing:
        raise FileRejected(
            "missing_columns",
            f"{name}: the header lacks the column(s) {', '.join(missing)} required by the layout of "
            f"{match.custodian.name}. Found: {', '.join(reader.names)}.",
        )


def _prefetch(batches: Iterator, depth: int = 1) -> Iterator:
    """Read the next batch in a background thread while this one is converted (Arrow's CSV parser releases
    the GIL): reading and converting overlap on two cores. Exceptions reach the consumer in order."""
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((done, None))
        except BaseException as e:  # handed to the consumer, raised there
            slots.put((done, e))

    worker = threading.Thread(target=produce, name="fidc-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


class FileParse:
    """One file through the engine, streaming: iterate `accepted_batches()` once; every check runs as it goes
    and the last ones (trailer control totals) before the iterator ends, raising `FileRejected` if they fail.
    A consumer that writes the batches inside one transaction (an Iceberg overwrite) therefore commits either
    the whole file or nothing. After the iteration, `rejected` lists every rejected row."""

    def __init__(self, source: Source, name: str, match: FileMatch, sha256: str, ingested_at: dt.datetime):
        self.match, self.sha256, self.ingested_at = match, sha256, ingested_at
        self.source, self.name = unpack_archive(source, name, match.file_spec)
        self.entity = ENTITIES[match.file_spec.entity]
        self.reader = open_reader(self.source, self.name, match.file_spec)
        self.cmaps = match.file_spec.column_maps()
        self.vf = effective_formats(match)
        _check_columns(self.reader, match, self.name)
        self.rejected: list[RejectedRow] = []
        self.rows_accepted = 0
        self.data_records = 0
        self.trailer_checked = False
        self._sums: dict[str, Decimal] = {}
        self._unverifiable: set[str] = set()

    def accepted_batches(self) -> Iterator[pa.Table]:
        index = _KeyIndex()
        totals_fields = self._trailer_sum_fields()
        # A two-stage pipeline: batch N+1 is converted (fields in parallel) while batch N is checked for
        # duplicates, added up and handed to the consumer; order is kept.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fidc-batch") as stage:
            pending = None
            for raw in _prefetch(self.reader.batches()):
                converting = stage.submit(self._convert, raw)
                if pending is not None:
                    yield from self._finish(pending.result(), index, totals_fields)
                pending = converting
            if pending is not None:
                yield from self._finish(pending.result(), index, totals_fields)
        self.data_records += len(self.reader.invalid)
        if not self.data_records:
            raise FileRejected("no_rows", f"{self.name}: the file has a header but no data rows.")
        self.trailer_checked = self._check_trailer()
        rejected = sorted([*self.reader.invalid, *self.rejected], key=lambda r: r.line_number)
        self.rejected = _with_raw_text(rejected, self.reader)

    def collect(self) -> ParseResult:
        """Every accepted row in one table (for files small enough to hold), with the rejected rows."""
        tables = list(self.accepted_batches())
        schema = arrow_schema(self.entity)
        rows = pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()
        return ParseResult(self.entity, rows, self.rejected, self.trailer_checked)

    def stream_into(self, sink) -> ParseResult:
        """Hand the accepted batches to `sink` (which consumes the iterator, e.g. an Iceberg transaction);
        the result carries the rejected rows and the count, not the rows."""
        sink(self.accepted_batches())
        result = ParseResult(self.entity, arrow_schema(self.entity).empty_table(), self.rejected, self.trailer_checked)
        result.streamed_rows = self.rows_accepted
        return result

    def _convert(self, raw: RawBatch) -> _Batch | None:
        table, lines = _drop_blank_rows(raw.table, raw.lines)
        if not table.num_rows:
            return None
        return _convert_batch(table, lines, self.match, self.entity, self.sha256, self.ingested_at)

    def _finish(self, batch: _Batch | None, index: _KeyIndex, totals_fields: list[str]) -> Iterator[pa.Table]:
        if batch is None:
            return
        _mark_duplicates(batch, self.entity, self.cmaps, index)
        reason, field = batch.problems.arrays()
        self.data_records += batch.canonical.num_rows
        self._add_totals(batch, field, totals_fields)
        self._collect_rejected(batch, reason, field)
        clean = reason.null_count == len(reason)
        good = batch.canonical if clean else batch.canonical.filter(pc.is_null(reason))
        schema = arrow_schema(self.entity)
        if not good.schema.equals(schema):
            good = good.cast(schema)
        self.rows_accepted += good.num_rows
        if good.num_rows:
            yield good

    def _trailer_sum_fields(self) -> list[str]:
        trailer = getattr(self.match.file_spec.format, "trailer", None)
        return list(trailer.sums) if trailer else []

    def _add_totals(self, batch: _Batch, field: pa.Array, fields: list[str]) -> None:
        for name in fields:
            source = pa.scalar(_source_name(self.cmaps, name), pa.string())
            if pc.any(pc.fill_null(pc.equal(field, source), False)).as_py():
                self._unverifiable.add(name)  # an unreadable value cannot be added up
            total = pc.sum(batch.canonical[name]).as_py() or Decimal("0")
            self._sums[name] = self._sums.get(name, Decimal("0")) + total

    def _collect_rejected(self, batch: _Batch, reason: pa.Array, field: pa.Array) -> None:
        bad = pc.indices_nonzero(pc.is_valid(reason)).to_pylist()
        if not bad:
            return
        reasons, fields, lines = reason.to_pylist(), field.to_pylist(), batch.canonical["source_line"]
        for i in bad:
            col = fields[i]
            value = batch.raw.column(col)[i].as_py() if col in batch.raw.column_names else None
            self.rejected.append(
                RejectedRow(lines[i].as_py(), col, reasons[i], _message(reasons[i], col, value, self.vf))
            )

    def _check_trailer(self) -> bool:
        """Compare the trailer's control totals with what was read; a difference rejects the whole file."""
        totals = self.reader.trailer_totals()
        if totals is None:
            return False
        if totals.record_count is not None and totals.record_count != self.data_records:
            raise FileRejected(
                "control_totals_mismatch",
                f"{self.name}: the trailer says {totals.record_count} records but the file has {self.data_records}; "
                "the file is incomplete or was altered. Please resend it.",
            )
        for name, expected in totals.sums.items():
            if name in self._unverifiable:
                continue  # rows with an unreadable value are quarantined; their total cannot be verified
            actual = self._sums.get(name, Decimal("0"))
            if actual != expected:
                raise FileRejected(
                    "control_totals_mismatch",
                    f"{self.name}: the trailer's total of {name} is {expected} but the records add up to {actual}. "
                    "Please check and resend the file.",
                )
        return True


def parse_bytes(data: Source, name: str, match: FileMatch, sha256: str, ingested_at: dt.datetime) -> ParseResult:
    """Parse one received file completely into canonical rows and rejected rows (small files, tests, CLI)."""
    return FileParse(data, name, match, sha256, ingested_at).collect()


def _with_raw_text(rejected: list[RejectedRow], reader: RawReader) -> list[RejectedRow]:
    """Attach each rejected row's original text, for the quarantine."""
    wanted = {r.line_number for r in rejected if r.raw_text is None}
    if not wanted:
        return rejected
    texts = reader.raw_texts(wanted)
    return [
        r
        if r.raw_text is not None
        else RejectedRow(r.line_number, r.field, r.reason_code, r.message, texts.get(r.line_number))
        for r in rejected
    ]
