"""Custodian specs: one YAML file per custodian, validated by pydantic.

A spec says which files belong to the custodian (name patterns), how to read them (format, encoding,
separators, date formats) and how their columns map to the canonical model. The engine in
`fidc_assets.lib.adapters` reads every spec the same way: onboarding a custodian is configuration.
Validation errors name the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fidc_assets.lib.canonical import ENTITIES, INGESTIBLE


class SpecError(ValueError):
    """A custodian spec is invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DelimitedFormat(_Strict):
    kind: Literal["delimited"] = "delimited"
    encoding: Literal["utf-8", "utf-8-sig", "latin-1", "cp1252"] = "utf-8"
    delimiter: str = ","
    quote_char: str | None = '"'
    skip_rows: int = Field(0, ge=0, description="lines before the header (titles, banners)")
    header: bool = True
    decimal: Literal[",", "."] = "."
    thousands: Literal[",", ".", " ", None] = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError(f"must be a single character, got {v!r}")
        return v

    @model_validator(mode="after")
    def _separators_differ(self) -> DelimitedFormat:
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(f"thousands and decimal separators must differ, both are {self.decimal!r}")
        return self


class ColumnMap(_Strict):
    """Where a canonical field comes from: a source column, or a constant default."""

    column: str | None = None
    default: str | None = None
    map: dict[str, str | bool | None] | None = Field(None, description="source value → canonical value")

    @model_validator(mode="after")
    def _has_source(self) -> ColumnMap:
        if self.column is None and self.default is None:
            raise ValueError("needs `column` or `default`")
        return self


class FileSpec(_Strict):
    entity: str
    pattern: str = Field(description="regex on the file name with named groups `fund` and `date`")
    name_date_format: str = "%Y%m%d"
    format: DelimitedFormat
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
            compiled = re.compile(v)
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
        lineage = {"custodian_id", "file_date", "source", "source_file_sha256", "source_line", "ingested_at"}
        required = {f.name for f in entity.fields if f.required} - lineage - {"currency"}
        missing = sorted(required - set(self.columns))
        if missing:
            raise ValueError(f"columns must map the required {self.entity} fields {missing}")
        return self

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    def column_maps(self) -> dict[str, ColumnMap]:
        return {k: (ColumnMap(column=v) if isinstance(v, str) else v) for k, v in self.columns.items()}


class CustodianSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    default_currency: str = Field("BRL", pattern=r"^[A-Z]{3}$")
    files: tuple[FileSpec, ...] = Field(min_length=1)


class FileMatch(BaseModel):
    """A file name matched to a custodian spec: who sent it, for which fund and day."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    custodian: CustodianSpec
    file_spec: FileSpec
    fund_cnpj: str
    reference_date: dt.date


def load_spec(path: Path) -> CustodianSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, found {type(raw).__name__}")
    try:
        spec = CustodianSpec.model_validate(raw)
    except ValidationError as e:
        lines = []
        errors = e.errors()
        # pydantic also reports a tuple with a bad item as "too short": only the item's own error helps.
        deeper = {tuple(err["loc"][:1]) for err in errors if len(err["loc"]) > 1}
        for err in errors:
            if err["type"] == "too_short" and tuple(err["loc"]) in deeper:
                continue
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            found = err.get("input")
            found_text = "" if isinstance(found, dict | list) else f"; found {found!r}"
            lines.append(f"  {key}: {err['msg']}{found_text}")
        raise SpecError(f"{path}: invalid custodian spec\n" + "\n".join(lines)) from None
    if spec.id != path.stem:
        raise SpecError(f"{path}: id: must equal the file name {path.stem!r}; found {spec.id!r}")
    return spec


def load_specs(directory: Path) -> dict[str, CustodianSpec]:
    specs = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = load_spec(path)
        specs[spec.id] = spec
    return specs


def match_file(name: str, specs: dict[str, CustodianSpec]) -> FileMatch | None:
    """The custodian spec whose pattern matches a file name, with fund and date taken from the name."""
    from fidc_assets.lib.documents import only_digits

    for spec in specs.values():
        for file_spec in spec.files:
            m = file_spec.regex.match(name)
            if not m:
                continue
            try:
                day = dt.datetime.strptime(m.group("date"), file_spec.name_date_format).date()
            except ValueError:
                continue
            return FileMatch(
                custodian=spec, file_spec=file_spec, fund_cnpj=only_digits(m.group("fund")), reference_date=day
            )
    return None
