"""One batch of raw text columns → canonical typed rows, with each row's first problem.

Every field named by the spec's column maps is converted with the vectorized kernels of
`fidc_assets.lib.ingest.typed` (fields in parallel threads: Arrow kernels release the GIL) and checked
(required, non-negative, documents, registered asset types and currencies, the fund and the date of the file);
lineage columns are filled. Problems are recorded per row, the first one wins, so the engine can quarantine
each rejected row with one reason.
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _compute
from pyiceberg.types import BooleanType, DateType, DecimalType, IntegerType, LongType, StringType

from fidc_assets.lib.core.canonical import Entity, arrow_schema
from fidc_assets.lib.ingest.specs import FILE_DATE_COLUMN, ColumnMap, FileMatch, ValueFormats, XlsxFormat
from fidc_assets.lib.ingest.typed import (
    blank_to_null,
    map_values,
    no_problems,
    normalize_documents,
    parse_dates,
    parse_decimals,
    parse_integers,
)

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute

DOCUMENT_FIELDS = frozenset({"fund_cnpj", "cedente_doc", "sacado_doc", "originator_doc"})
NON_NEGATIVE_FIELDS = frozenset(
    {"nominal_value", "acquisition_value", "present_value", "pdd_value", "amount_paid", "quota_count",
     "quota_value", "net_assets"}
)  # fmt: skip
#: Entities whose business date must be the file's date (a stock or quota file describes one day).
DATED_BY_FILE = frozenset({"receivable_positions", "fund_quotas"})
LINEAGE_FIELDS = ("file_date", "source", "source_file_sha256", "source_line", "ingested_at")
DEFAULT_BOOLEANS: dict[str, str | bool | None] = {
    "true": True, "false": False, "1": True, "0": False, "S": True, "N": False, "SIM": True, "NAO": False,
    "NÃO": False, "Y": True, "YES": True, "NO": False,
}  # fmt: skip


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


class Problems:
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
class Batch:
    canonical: pa.Table  # every row, typed, with lineage; nulls where bad
    problems: Problems  # each row's first problem, if any
    raw: pa.Table  # the source text columns, for messages


def source_name(cmaps: dict[str, ColumnMap], name: str) -> str:
    cmap = cmaps.get(name)
    return (cmap.column if cmap and cmap.column else None) or name


def constant(value, type_: pa.DataType, n: int) -> pa.Array:
    """A column of one repeated value, built by Arrow (not a Python list of n items)."""
    return pa.array([value], type_).take(pa.array(np.zeros(n, dtype=np.int64), pa.int64()))


@dataclass
class _Converted:
    values: pa.Array
    problems: list[tuple[pa.Array, str]]  # (mask, reason code) in the order they are checked


def _convert_column(f, cmap: ColumnMap, raw: pa.Table, match: FileMatch, vf: ValueFormats, out_type) -> _Converted:
    """One canonical field of a batch, with its problems; independent of the other fields (run in threads)."""
    n = raw.num_rows
    if cmap.column == FILE_DATE_COLUMN:
        return _Converted(pc.cast(constant(match.reference_date, pa.date32(), n), out_type), [])
    if cmap.column is not None:
        text = blank_to_null(_nullify(raw.column(cmap.column).combine_chunks(), cmap.null_values or vf.null_values))
        if cmap.default is not None:
            text = blank_to_null(pc.coalesce(text, pa.scalar(cmap.default)))
    else:
        text = blank_to_null(constant(cmap.default, pa.string(), n))
    values, bad, code = _convert_field(f.name, f.type, text, cmap, vf, raw)
    problems: list[tuple[pa.Array, str]] = [(bad, code)]
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


def convert_batch(
    raw: pa.Table, lines: pa.Array, match: FileMatch, entity: Entity, sha256: str, ingested_at: dt.datetime
) -> Batch:
    vf = effective_formats(match)
    n = raw.num_rows
    problems = Problems(n)
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
        problems.mark(other, "fund_mismatch", source_name(cmaps, "fund_cnpj"))
    else:
        columns["fund_cnpj"] = constant(match.fund_cnpj, pa.string(), n)
    if entity.name in DATED_BY_FILE and entity.partition_date in cmaps:
        other = pc.not_equal(columns[entity.partition_date], pa.scalar(match.reference_date, pa.date32()))
        problems.mark(other, "date_mismatch", source_name(cmaps, entity.partition_date))
    columns["custodian_id"] = constant(match.custodian.id, pa.string(), n)
    columns["file_date"] = constant(match.reference_date, pa.date32(), n)
    columns["source"] = constant("custodian_file", pa.string(), n)
    columns["source_file_sha256"] = constant(sha256, pa.string(), n)
    columns["source_line"] = lines
    columns["ingested_at"] = constant(ingested_at, schema.field("ingested_at").type, n)
    table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema.remove_metadata())
    return Batch(table, problems, raw)


def _registry_checks(columns, problems: Problems, cmaps, match: FileMatch) -> None:
    """Asset types must be registered; currency defaults to the asset type's, then the custodian's."""
    registry = match.custodian.asset_type_registry.asset_types
    if "asset_type" in columns:
        known = pc.fill_null(pc.is_in(columns["asset_type"], value_set=pa.array(list(registry), pa.string())), False)
        unknown = pc.and_(pc.is_valid(columns["asset_type"]), pc.invert(known))
        problems.mark(unknown, "unknown_code", source_name(cmaps, "asset_type"))
    if "currency" in columns:
        currency = columns["currency"]
        if "currency" in cmaps:
            invalid = pc.invert(pc.fill_null(pc.match_substring_regex(currency, r"^[A-Z]{3}$"), True))
            problems.mark(invalid, "unknown_code", source_name(cmaps, "currency"))
        if "asset_type" in columns:
            codes = [c for c, t in registry.items() if t.currency]
            by_type = pc.take(
                pa.array([registry[c].currency for c in codes], pa.string()),
                pc.index_in(columns["asset_type"], value_set=pa.array(codes, pa.string())),
            )
            currency = pc.coalesce(currency, by_type)
        columns["currency"] = pc.coalesce(currency, pa.scalar(match.custodian.default_currency))
