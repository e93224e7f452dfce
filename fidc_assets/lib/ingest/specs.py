"""Custodian specs: one YAML file per custodian, validated by pydantic.

A spec says which files belong to the custodian (name patterns), how to read them (format: delimited, xlsx,
fixed width with record types, json; encoding, separators, date formats, trailers with control totals,
files inside a ZIP) and how their fields map to the canonical model (value maps, document normalization,
defaults). The engine in `fidc_assets.lib.ingest.adapters` reads every spec the same way: onboarding a custodian is
configuration. Shared fixed-width layouts (CNAB 444/400) live once in `custodians/layouts/`. Validation errors
name the file, the key, what was expected and what was found.

A loaded spec carries the asset type registry of the configuration it came from (`asset_type_registry`):
the codes a row's asset_type may take belong to the same configuration directory as the specs that map onto
them, so a deployment's `custodians/` is always checked against its own `reference/asset_types.yaml`, and
the engine never looks a registry up by itself.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pyiceberg.types import DateType

from fidc_assets.lib.core.asset_types import AssetTypeRegistry, load_asset_types
from fidc_assets.lib.core.canonical import ENTITIES, INGESTIBLE
from fidc_assets.lib.core.canonical import Field as CanonicalField
from fidc_assets.lib.core.errors import SpecError, StrictModel
from fidc_assets.lib.core.shipped import SHIPPED, ConfigLayout

Encoding = Literal["utf-8", "utf-8-sig", "latin-1", "cp1252"]
LINEAGE = {"custodian_id", "file_date", "source", "source_file_sha256", "source_line", "ingested_at"}
DATE_TOKEN = re.compile(r"%[dmYy]")
#: A mapping to this pseudo-column takes the delivery's date (from the file name): remittances whose records
#: carry no date of their own. Only a date field can take it.
FILE_DATE_COLUMN = "@file_date"
#: Every `@token` a column map may name instead of a source column, and what it stands for.
COLUMN_TOKENS = {FILE_DATE_COLUMN: "the delivery's date, from the file name (date fields only)"}
#: A column starting with this is a path into a JSON document's top level (`$.fundo.cnpj`), json files only.
JSON_PATH_PREFIX = "$."


_Strict = StrictModel


def _check_date_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    for fmt in formats:
        if fmt == "excel_serial":
            continue
        if re.sub(r"%[dmYy]", "", fmt).count("%"):
            raise ValueError(f"date format {fmt!r}: only %d %m %Y %y and 'excel_serial' are supported")
        if sorted(DATE_TOKEN.findall(fmt)) not in (["%Y", "%d", "%m"], ["%d", "%m", "%y"]):
            raise ValueError(f"date format {fmt!r} must contain %d, %m and one of %Y/%y, each once")
    return formats


class ValueFormats(_Strict):
    """How values are written in a file (shared by every format)."""

    decimal: Literal[",", ".", "auto"] = Field(default=".", description="'auto': a comma means 1.234,56, else 1234.56")
    thousands: Literal[",", ".", " ", None] = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    null_values: tuple[str, ...] = Field(default=(), description="texts that mean 'no value' (e.g. 000000 in CNAB)")

    @field_validator("date_formats")
    @classmethod
    def _dates(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _check_date_formats(v)

    @model_validator(mode="after")
    def _separators_differ(self):
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(f"thousands and decimal separators must differ, both are {self.decimal!r}")
        return self


class TrailerField(_Strict):
    """Where a control total sits in the trailer: a field index (delimited) or 1-based columns (fixed width)."""

    index: int | None = Field(default=None, ge=0)
    start: int | None = Field(default=None, ge=1)
    end: int | None = Field(default=None, ge=1)
    implied_decimals: int = Field(default=0, ge=0, le=8)
    offset: int = Field(
        default=0, description="subtracted from the value (e.g. 2 when a sequence counts header+trailer)"
    )

    @model_validator(mode="after")
    def _one_position(self) -> TrailerField:
        if (self.index is None) == (self.start is None or self.end is None):
            raise ValueError("needs either `index` or both `start` and `end`")
        return self


class Trailer(_Strict):
    """A last line carrying control totals the engine verifies before anything is written."""

    match: str = Field(description="regex the trailer line matches")
    required: bool = Field(default=True, description="a missing trailer means the file was truncated")
    record_count: TrailerField | None = None
    sums: dict[str, TrailerField] = Field(default_factory=dict, description="canonical field → its total")

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        return v


class DelimitedFormat(ValueFormats):
    kind: Literal["delimited"]
    encoding: Encoding = "utf-8"
    delimiter: str = ","
    quote_char: str | None = '"'
    skip_rows: int = Field(default=0, ge=0, description="lines before the header (titles, banners)")
    header: bool = True
    trailer: Trailer | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError(f"must be a single character, got {v!r}")
        return v


class XlsxFormat(ValueFormats):
    kind: Literal["xlsx"]
    sheet: str | int = Field(default=0, description="sheet name, or 0-based index")
    header_row: int = Field(default=1, ge=1, description="1-based sheet row holding the column names")


class FixedField(_Strict):
    start: int = Field(ge=1, description="1-based first column")
    end: int = Field(ge=1, description="1-based last column, inclusive")
    implied_decimals: int = Field(default=0, ge=0, le=8)

    @model_validator(mode="after")
    def _ordered(self) -> FixedField:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class RecordType(_Strict):
    code: str
    fields: dict[str, FixedField] = Field(default_factory=dict)


class FixedWidthLayout(_Strict):
    """A fixed-width layout (CNAB 444, CNAB 400): line length, where the record type is, and the records."""

    name: str
    line_length: int = Field(ge=1)
    record_type: FixedField
    header: RecordType | None = None
    detail: RecordType
    trailer: RecordType | None = None
    trailer_record_count: TrailerField | None = None

    @model_validator(mode="after")
    def _fields_fit(self) -> FixedWidthLayout:
        for rec in (r for r in (self.header, self.detail, self.trailer) if r is not None):
            spans = sorted((f.start, f.end, name) for name, f in rec.fields.items())
            for _start, end, name in spans:
                if end > self.line_length:
                    raise ValueError(f"field {name} ends at {end}, past the line length {self.line_length}")
            for (s1, e1, n1), (s2, _e2, n2) in zip(spans, spans[1:], strict=False):
                if s2 <= e1:
                    raise ValueError(f"record {rec.code!r}: fields {n1} ({s1}-{e1}) and {n2} (from {s2}) overlap")
        return self


class FixedWidthFormat(ValueFormats):
    kind: Literal["fixed_width"]
    encoding: Encoding = "latin-1"
    layout: str | FixedWidthLayout = Field(
        description="a shared layout name (custodians/layouts/<name>.yaml) or inline"
    )
    date_formats: tuple[str, ...] = ("%d%m%y",)

    def resolved_layout(self) -> FixedWidthLayout:
        if isinstance(self.layout, str):
            raise SpecError(f"layout {self.layout!r} was not resolved (load the spec with load_spec)")
        return self.layout


class JsonFormat(ValueFormats):
    kind: Literal["json"]
    encoding: Encoding = "utf-8"
    records_path: str = Field(description="dotted path to the array of records, e.g. data.movimentos")


Format = Annotated[DelimitedFormat | XlsxFormat | FixedWidthFormat | JsonFormat, Field(discriminator="kind")]


class ArchiveSpec(_Strict):
    """Files delivered inside a ZIP (applies when the received name ends in .zip)."""

    kind: Literal["zip"] = "zip"
    member_pattern: str = ".*"
    max_uncompressed_bytes: int = Field(default=512 * 1024 * 1024, ge=1)


class DocumentKind(_Strict):
    """A column that says whether a document is a CPF or a CNPJ (CNAB's 01/02), for zero-padded fields."""

    column: str
    map: dict[str, Literal["cpf", "cnpj"]]


class ColumnMap(_Strict):
    """Where a canonical field comes from: a source column (or `$.path` at a JSON document's top), or a default."""

    column: str | None = None
    default: str | None = None
    map: dict[str, str | bool | None] | None = Field(default=None, description="source value → canonical value")
    restore_leading_zeros: bool = Field(default=False, description="documents whose zeros a spreadsheet dropped")
    document_kind: DocumentKind | None = None
    date_formats: tuple[str, ...] | None = None
    null_values: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _has_source(self) -> ColumnMap:
        if self.column is None and self.default is None:
            raise ValueError("needs `column` or `default`")
        return self

    @field_validator("date_formats")
    @classmethod
    def _dates(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if v is None else _check_date_formats(v)


class FileSpec(_Strict):
    entity: str
    pattern: str = Field(
        description="regex the whole file name must match (ASCII `\\d`/`\\w`), with named groups `fund` and `date`"
    )
    name_date_format: str = "%Y%m%d"
    format: Format
    archive: ArchiveSpec | None = None
    columns: dict[str, str | ColumnMap]

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, v: str) -> str:
        if v not in INGESTIBLE:
            raise ValueError(f"unknown entity {v!r}; expected one of {', '.join(INGESTIBLE)}")
        return v

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, v: str) -> str:
        try:
            compiled = re.compile(v, re.ASCII)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        missing = {"fund", "date"} - set(compiled.groupindex)
        if missing:
            raise ValueError(f"needs named groups (?P<fund>...) and (?P<date>...); missing {sorted(missing)}")
        return v

    @model_validator(mode="after")
    def _columns_are_canonical(self) -> FileSpec:
        entity = ENTITIES[self.entity]
        unknown = sorted(set(self.columns) - set(entity.field_names))
        if unknown:
            raise ValueError(f"columns maps unknown {self.entity} fields {unknown}")
        lineage_mapped = sorted(set(self.columns) & LINEAGE)
        if lineage_mapped:
            raise ValueError(f"columns must not map lineage fields {lineage_mapped}: the engine fills them")
        # fund_cnpj defaults to the fund in the file name; currency to the asset type's or the custodian's
        required = {f.name for f in entity.fields if f.required} - LINEAGE - {"currency", "fund_cnpj"}
        missing = sorted(required - set(self.columns))
        if missing:
            raise ValueError(f"columns must map the required {self.entity} fields {missing}")
        return self

    @model_validator(mode="after")
    def _sources_fit_the_file(self) -> FileSpec:
        """`@tokens` and `$.paths` are checked here, where the entity and the format are known, so that a
        spec `load_spec` accepts never fails at ingest time on a column that cannot exist."""
        entity = ENTITIES[self.entity]
        for name, cmap in self.column_maps().items():
            problem = _source_problem(cmap.column, entity.field(name), self)
            if problem:
                raise ValueError(f"columns.{name}: {problem}")
            kind_column = cmap.document_kind.column if cmap.document_kind else None
            if kind_column is not None and kind_column.startswith("@"):
                raise ValueError(
                    f"columns.{name}.document_kind.column: {kind_column!r} is a token; expected the source "
                    "column that holds the document kind"
                )
        return self

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The pattern as file names are matched: whole name (`fullmatch`, so a `$` never matches before a
        trailing newline), ASCII classes (a fullwidth `１` is not a `\\d`)."""
        return re.compile(self.pattern, re.ASCII)

    def column_maps(self) -> dict[str, ColumnMap]:
        return {k: (ColumnMap(column=v) if isinstance(v, str) else v) for k, v in self.columns.items()}


def _source_problem(column: str | None, field: CanonicalField, file_spec: FileSpec) -> str | None:
    """What is wrong with a column map's source for this field of this file, if anything."""
    if column is None:
        return None
    if column.startswith("@"):
        if column not in COLUMN_TOKENS:
            return f"unknown token {column!r}; expected a source column name or one of {sorted(COLUMN_TOKENS)}"
        if not isinstance(field.type, DateType):
            return f"{column!r} is {COLUMN_TOKENS[column]}; {file_spec.entity}.{field.name} is {field.type}, not a date"
    elif column.startswith(JSON_PATH_PREFIX) and not isinstance(file_spec.format, JsonFormat):
        return (
            f"{column!r} is a JSON document path; expected a column name of a {file_spec.format.kind} file "
            "(`$.` paths apply to format kind json only)"
        )
    return None


class CustodianSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    default_currency: str = Field(default="BRL", pattern=r"^[A-Z]{3}$")
    files: tuple[FileSpec, ...] = Field(min_length=1)
    # not a YAML key: set by load_spec from the configuration the spec was read from
    _asset_types: AssetTypeRegistry | None = PrivateAttr(None)

    @property
    def asset_type_registry(self) -> AssetTypeRegistry:
        """The asset type registry of this spec's configuration (the codes its rows' asset_type may take)."""
        if self._asset_types is None:
            raise SpecError(f"custodian spec {self.id!r} has no asset type registry: load it with load_spec/load_specs")
        return self._asset_types


class FileMatch(BaseModel):
    """A file name matched to a custodian spec: who sent it, for which fund and day."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    custodian: CustodianSpec
    file_spec: FileSpec
    fund_cnpj: str
    reference_date: dt.date


_INNER_KEY = re.compile(r"([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+): ")


def _format_errors(path: Path, e: ValidationError, what: str) -> SpecError:
    lines = []
    errors = e.errors()
    # pydantic also reports a tuple with a bad item as "too short": only the item's own error helps.
    deeper = {tuple(err["loc"][:1]) for err in errors if len(err["loc"]) > 1}
    for err in errors:
        if err["type"] == "too_short" and tuple(err["loc"]) in deeper:
            continue
        # discriminated unions put the variant's name in the path: drop it, keep the keys a person wrote
        key = ".".join(str(p) for p in err["loc"] if p not in ("delimited", "xlsx", "fixed_width", "json", "str"))
        found = err.get("input")
        found_text = "" if isinstance(found, dict | list) else f"; found {found!r}"
        message = err["msg"].removeprefix("Value error, ")
        # a model validator names the key it checked (`columns.event_date: ...`): extend the location with it
        inner = _INNER_KEY.match(message)
        if inner:
            key, message = f"{key}.{inner.group(1)}" if key else inner.group(1), message[inner.end() :]
        lines.append(f"  {key or '(top level)'}: {message}{found_text}")
    return SpecError(f"{path}: invalid {what}\n" + "\n".join(lines))


def _yaml_problem(e: yaml.YAMLError) -> str:
    """PyYAML's error on one line: where (line, column, 1-based) and what, instead of its five-line drawing."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        mark = e.problem_mark
        context = f" ({e.context}, from line {e.context_mark.line + 1})" if e.context and e.context_mark else ""
        return f"line {mark.line + 1}, column {mark.column + 1}: {e.problem}{context}"
    return " ".join(str(e).split())


def _read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML at {_yaml_problem(e)}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, found {type(raw).__name__}")
    return raw


def load_layout(path: Path) -> FixedWidthLayout:
    try:
        return FixedWidthLayout.model_validate(_read_yaml(path))
    except ValidationError as e:
        raise _format_errors(path, e, "fixed-width layout") from None


def _resolve_layouts(spec: CustodianSpec, path: Path, layouts_dir: Path) -> CustodianSpec:
    files = []
    for i, f in enumerate(spec.files):
        if isinstance(f.format, FixedWidthFormat) and isinstance(f.format.layout, str):
            layout_path = layouts_dir / f"{f.format.layout}.yaml"
            if not layout_path.exists():
                known = sorted(p.stem for p in layouts_dir.glob("*.yaml"))
                raise SpecError(
                    f"{path}: files.{i}.format.layout: unknown shared layout {f.format.layout!r}; "
                    f"expected one of {known}"
                )
            f = f.model_copy(update={"format": f.format.model_copy(update={"layout": load_layout(layout_path)})})
        files.append(f)
    return spec.model_copy(update={"files": tuple(files)})


def registry_beside(custodians_dir: Path) -> AssetTypeRegistry:
    """The asset type registry of the configuration directory holding `custodians_dir`
    (`<config>/reference/asset_types.yaml`). A directory of specs with no `reference/` beside it (a scratch
    directory: a test's, a spec being drafted) is checked against the shipped registry."""
    beside = ConfigLayout(custodians_dir.parent).asset_types
    return load_asset_types(beside if beside.is_file() else SHIPPED.asset_types)


def load_spec(
    path: Path, layouts_dir: Path | None = None, asset_types: AssetTypeRegistry | None = None
) -> CustodianSpec:
    """One spec, its shared layouts resolved and its asset type registry attached (`asset_types`, else the
    registry beside the spec's directory: see `registry_beside`)."""
    raw = _read_yaml(path)
    try:
        spec = CustodianSpec.model_validate(raw)
    except ValidationError as e:
        raise _format_errors(path, e, "custodian spec") from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: id: must equal the file name {path.stem!r}; found {spec.id!r}")
    spec = _resolve_layouts(spec, path, layouts_dir or path.parent / "layouts")
    spec._asset_types = asset_types if asset_types is not None else registry_beside(path.parent)
    return spec


def load_specs(directory: Path, asset_types: AssetTypeRegistry | None = None) -> dict[str, CustodianSpec]:
    """Every `*.yaml` spec of a custodians directory, all with the same registry (`asset_types`, else the
    one beside the directory)."""
    registry = asset_types if asset_types is not None else registry_beside(directory)
    specs = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = load_spec(path, asset_types=registry)
        specs[spec.id] = spec
    return specs


def name_problem(name: str) -> str | None:
    """Why a file name can never be a custodian's delivery, or None. Control and format characters (a newline,
    a NUL, a bidi override) are refused wherever a name enters: kept, a newline would be archived and then lost
    by URL parsing, and would forge lines in logs. The problem names the character escaped, never raw."""
    for i, ch in enumerate(name):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"holds the control character {ch!r} at position {i + 1}; file names must be printable"
    return None


def shown_name(name: str) -> str:
    """A file name as logs and messages show it: as is when printable, else its repr (no forged lines)."""
    return name if name_problem(name) is None else repr(name)


def match_file(name: str, specs: dict[str, CustodianSpec]) -> FileMatch | None:
    """The custodian spec whose pattern matches the whole file name, with fund and date taken from the name.
    A name with control characters (`name_problem`) never matches; nor does one whose fund group does not
    hold a 14-digit CNPJ in ASCII digits (punctuation around them is dropped)."""
    from fidc_assets.lib.core.documents import CNPJ_LENGTH, only_digits

    if not name or name_problem(name) is not None:
        return None
    for spec in specs.values():
        for file_spec in spec.files:
            m = file_spec.regex.fullmatch(name)
            if not m or not m.group("date").isascii():
                continue
            try:
                day = dt.datetime.strptime(m.group("date"), file_spec.name_date_format).date()
            except ValueError:
                continue
            fund = only_digits(m.group("fund"))
            if len(fund) != CNPJ_LENGTH or not m.group("fund").isascii():
                continue
            return FileMatch(custodian=spec, file_spec=file_spec, fund_cnpj=fund, reference_date=day)
    return None
