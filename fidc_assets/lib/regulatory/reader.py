"""Reading a published CVM Informe Mensal zip (monthly or yearly) into typed rows, one table per tab.

Each tab file is split by the custodians' delimited reader and typed by the same kernels (`typed`): money
and quantities as decimals with '.' decimals, DT_COMPTC as a date, CNPJ_FUNDO_CLASSE (or CNPJ_FUNDO) as 14
digits with its check digits verified. The identity prefix is recognized per file from its header line:
`TP_FUNDO_CLASSE;CNPJ_FUNDO_CLASSE;DENOM_SOCIAL;DT_COMPTC` (current) or `CNPJ_FUNDO;DENOM_SOCIAL;DT_COMPTC`
(before the tab's switch month; those rows get the kind `Fundo`). Then the published data's own defects
are handled as the domain note says, each counted in the result:

* byte-identical rows: the first is kept;
* the same CNPJ reported as both `Fundo` and `Classe` for a month (and the tab's key, e.g. X_2's quota
  class): the `Classe` row is kept (`Identity.prefer_kind`);
* two different rows of the same kind and key: the first is kept (`conflicting_rows`), so no figure is
  counted twice.

A row whose value cannot be typed (a number that is not one, an invalid CNPJ, a DT_COMPTC outside the tab
file's month) is rejected with its line and reason; nothing else of the file is lost.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as _compute

from fidc_assets.lib.core.months import next_month
from fidc_assets.lib.ingest.readers import DelimitedReader, FileRejected, RejectedRow
from fidc_assets.lib.ingest.readers.common import Source, read_all
from fidc_assets.lib.ingest.specs import name_problem
from fidc_assets.lib.ingest.typed import (
    blank_to_null,
    normalize_documents,
    parse_dates,
    parse_decimals,
    parse_integers,
)
from fidc_assets.lib.regulatory.spec import DECIMAL_TYPES, CvmSpec, Tab
from fidc_assets.lib.regulatory.tables import tab_schema

pc: Any = _compute
Layout = Literal["current", "previous"]


@dataclass
class TabRead:
    """One tab file of a zip: its typed rows (lineage filled) and what was dropped or rejected."""

    tab: str
    member: str
    period: dt.date  # first day of the member's month
    layout: Layout
    rows: pa.Table
    rejected: list[RejectedRow] = field(default_factory=list)
    identical_rows: int = 0  # byte-identical repeats dropped
    kind_duplicates: int = 0  # `Fundo` rows dropped for a `Classe` row of the same CNPJ, month and key
    conflicting_rows: int = 0  # other rows of an already seen CNPJ, month, kind and key, dropped
    missing_columns: tuple[str, ...] = ()  # declared, absent from this file (null)
    ignored_columns: tuple[str, ...] = ()  # in the file, not declared
    rejected_cnpj: dict[int, str] = field(default_factory=dict)  # line → the rejected row's CNPJ, when valid


@dataclass
class ReportRead:
    """A whole zip: every tab file the spec declares, and the members it does not."""

    name: str
    sha256: str
    tabs: list[TabRead]
    skipped_members: list[str]

    @property
    def months(self) -> list[dt.date]:
        return sorted({t.period for t in self.tabs})

    def tab_rows(self, tab: str, month: dt.date | None = None) -> list[TabRead]:
        return [t for t in self.tabs if t.tab == tab and (month is None or t.period == month)]


def read_report(source: Source, name: str, sha256: str, spec: CvmSpec, ingested_at: dt.datetime) -> ReportRead:
    """Every declared tab of the zip `name`, typed; `FileRejected` when it is not a readable zip of the report."""
    data = read_all(source)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise FileRejected("unreadable", f"{name}: not a valid ZIP archive (damaged or truncated).") from None
    total = sum(i.file_size for i in zf.infolist())
    if total > spec.max_uncompressed_bytes:
        raise FileRejected(
            "archive_too_large", f"{name}: expands to {total:,} bytes, more than {spec.max_uncompressed_bytes:,}."
        )
    tabs, skipped = [], []
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        if info.is_dir() or name_problem(info.filename) is not None:
            continue
        m = spec.member_regex.fullmatch(info.filename.rsplit("/", 1)[-1])
        if not m or m.group("tab") not in spec.tabs:
            skipped.append(info.filename)
            continue
        period = m.group("period")
        month = dt.date(int(period[:4]), int(period[4:]), 1)
        content = zf.read(info)
        tab = m.group("tab")
        tabs.append(read_tab(content, f"{name}:{info.filename}", tab, month, spec, sha256, ingested_at))
    if not tabs:
        raise FileRejected(
            "archive_member_missing", f"{name}: no tab file matching {spec.member_pattern!r} of a declared tab."
        )
    return ReportRead(name, sha256, tabs, skipped)


def _layout(names: list[str], spec: CvmSpec, where: str) -> Layout:
    ident = spec.identity
    if tuple(names[: len(ident.current)]) == ident.current:
        return "current"
    if tuple(names[: len(ident.previous)]) == ident.previous:
        return "previous"
    raise FileRejected(
        "unknown_layout",
        f"{where}: the header starts {';'.join(names[:4])!r}; expected {';'.join(ident.current)!r} or "
        f"{';'.join(ident.previous)!r}.",
    )


def _typed(raw: pa.Array, kind: str, spec: CvmSpec) -> tuple[pa.Array, pa.Array]:
    fmt = spec.format
    if kind in DECIMAL_TYPES:
        precision, scale = DECIMAL_TYPES[kind]
        return parse_decimals(raw, fmt.decimal, fmt.thousands, scale, precision)
    if kind == "integer":
        return parse_integers(raw)
    text = blank_to_null(raw)
    return text, pa.array([False] * len(text), pa.bool_())


def read_tab(
    content: bytes, where: str, tab: str, month: dt.date, spec: CvmSpec, sha256: str, ingested_at: dt.datetime
) -> TabRead:
    """One tab file's bytes → its typed rows (see the module docstring)."""
    tab_spec = spec.tabs[tab]
    schema = tab_schema(spec, tab)
    try:
        reader = DelimitedReader(content, where, spec.format)
    except FileRejected as e:
        if e.reason_code != "no_rows":
            raise
        # a header and no rows: no fund reported this tab in the month
        header = content.split(b"\n", 1)[0].decode(spec.format.encoding).rstrip("\r").split(spec.format.delimiter)
        return TabRead(tab, where.split(":", 1)[-1], month, _layout(header, spec, where), schema.empty_table())
    layout = _layout(reader.names, spec, where)
    ident = spec.identity
    prefix = ident.current if layout == "current" else ident.previous
    present = set(reader.names)
    missing = tuple(c for c in tab_spec.columns if c not in present)
    ignored = tuple(c for c in reader.names[len(prefix) :] if c not in tab_spec.columns)
    parts: list[pa.Table] = []
    rejected: list[RejectedRow] = []
    rejected_cnpj: dict[int, str] = {}
    for batch in reader.batches():
        raw = batch.table
        n = raw.num_rows
        if not n:
            continue
        columns: dict[str, pa.Array] = {}
        problems: list[tuple[pa.Array, str, str]] = []  # (bad mask, field, reason)
        cnpj_col = next(c for c in ident.cnpj_columns if c in present)
        cnpj, bad_cnpj = normalize_documents(raw.column(cnpj_col).combine_chunks())
        columns["cnpj_fundo_classe"] = cnpj
        problems += [(bad_cnpj, cnpj_col, "invalid_document"), (pc.is_null(cnpj), cnpj_col, "missing_required")]
        if layout == "current":
            kind = blank_to_null(raw.column(ident.kind_column).combine_chunks())
            unknown = pc.invert(pc.fill_null(pc.is_in(kind, value_set=pa.array(ident.kinds)), False))
            problems.append((unknown, ident.kind_column, "unknown_code"))
        else:
            kind = pa.array([ident.previous_kind] * n, pa.string())
        columns["tp_fundo_classe"] = kind
        columns["denom_social"] = blank_to_null(raw.column(ident.name_column).combine_chunks())
        day, bad = parse_dates(raw.column(ident.date_column).combine_chunks(), spec.format.date_formats)
        outside = pc.or_(
            pc.less(day, pa.scalar(month, pa.date32())),
            pc.greater_equal(day, pa.scalar(next_month(month), pa.date32())),
        )
        problems += [
            (bad, ident.date_column, "unparseable_date"),
            (pc.is_null(day), ident.date_column, "missing_required"),
            (pc.fill_null(outside, False), ident.date_column, "date_mismatch"),
        ]
        columns["dt_comptc"] = day
        for source, kind_name in tab_spec.columns.items():
            target = schema.field(source.lower()).type
            if source not in present:
                columns[source.lower()] = pa.nulls(n, target)
                continue
            values, bad = _typed(raw.column(source).combine_chunks(), kind_name, spec)
            columns[source.lower()] = pc.cast(values, target)
            reason = "unparseable_number" if kind_name != "text" else "unknown_code"
            problems.append((bad, source, reason))
        line_text = pc.binary_join_element_wise(*[raw.column(c).combine_chunks() for c in raw.column_names], ";")
        columns["identity_layout"] = pa.array([layout] * n, pa.string())
        columns["source_zip_sha256"] = pa.array([sha256] * n, pa.string())
        columns["source_member"] = pa.array([where.split(":", 1)[-1]] * n, pa.string())
        columns["source_line"] = batch.lines
        columns["ingested_at"] = pa.array([ingested_at] * n, schema.field("ingested_at").type)
        first_problem: list[tuple[str, str] | None] = [None] * n
        for mask, source, reason in problems:
            for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
                if first_problem[i] is None:
                    first_problem[i] = (source, reason)
        keep = pa.array([p is None for p in first_problem], pa.bool_())
        lines: list[int] = [int(x or 0) for x in batch.lines.to_pylist()]
        texts = line_text.to_pylist()
        funds = pc.if_else(pc.fill_null(bad_cnpj, True), pa.scalar(None, pa.string()), cnpj).to_pylist()
        for i, p in enumerate(first_problem):
            if p is not None:
                if funds[i] is not None:
                    rejected_cnpj[lines[i]] = funds[i]
                what = f"{p[0]} {_raw_value(raw, p[0], i)!r}"
                rejected.append(
                    RejectedRow(lines[i], p[0], p[1], f"line {lines[i]}: {what}: {_REASONS[p[1]]}", texts[i])
                )
        table = pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema).append_column(
            "_line_text", line_text
        )
        parts.append(table.filter(keep))
    # the rows the splitter could not take (a field too many or too few) are known once the batches are read
    rejected = sorted([*reader.invalid.rows, *rejected], key=lambda r: r.line_number)
    rows = (
        pa.concat_tables(parts)
        if parts
        else schema.empty_table().append_column("_line_text", pa.array([], pa.string()))
    )
    deduped, identical, kinds, conflicting = _deduplicate(rows, tab_spec, ident.prefer_kind)
    return TabRead(tab, where.split(":", 1)[-1], month, layout, deduped, rejected, identical, kinds, conflicting,
                   missing, ignored, rejected_cnpj)  # fmt: skip


_REASONS = {
    "invalid_document": "not a valid CNPJ (length or check digits)",
    "missing_required": "empty, and every row needs it",
    "unknown_code": "not one of the values this column takes",
    "unparseable_date": "not a date written AAAA-MM-DD",
    "unparseable_number": "not a number written with '.' decimals and no thousands separator",
    "date_mismatch": "not a day of the month the tab file reports",
}


def _raw_value(raw: pa.Table, column: str, i: int) -> str:
    return str(raw.column(column)[i].as_py()) if column in raw.column_names else ""


def _deduplicate(rows: pa.Table, tab: Tab, prefer_kind: str) -> tuple[pa.Table, int, int, int]:
    """(rows without the published duplicates, identical dropped, kind duplicates dropped, conflicting dropped)."""
    texts: list[str] = [t or "" for t in rows.column("_line_text").to_pylist()]
    cnpjs = rows.column("cnpj_fundo_classe").to_pylist()
    days = rows.column("dt_comptc").to_pylist()
    kinds = rows.column("tp_fundo_classe").to_pylist()
    keys = list(zip(*[rows.column(k.lower()).to_pylist() for k in tab.key], strict=True)) if tab.key else []
    seen_text: set[str] = set()
    with_preferred = {
        (cnpjs[i], days[i], keys[i] if tab.key else ()) for i in range(rows.num_rows) if kinds[i] == prefer_kind
    }
    seen_key: set[tuple] = set()
    keep: list[bool] = []
    identical = by_kind = conflicting = 0
    for i in range(rows.num_rows):
        key = (cnpjs[i], days[i], keys[i] if tab.key else ())
        if texts[i] in seen_text:
            identical += 1
            keep.append(False)
            continue
        seen_text.add(texts[i])
        if kinds[i] != prefer_kind and key in with_preferred:
            by_kind += 1
            keep.append(False)
            continue
        if key in seen_key:
            conflicting += 1
            keep.append(False)
            continue
        seen_key.add(key)
        keep.append(True)
    out = rows.filter(pa.array(keep, pa.bool_())).drop_columns(["_line_text"])
    return out, identical, by_kind, conflicting
