"""The CVM Informe Mensal de FIDC as a source by configuration: which zips, which tab files inside, how they
are written, and the typed columns of every tab (`<config>/cvm/inf_mensal.yaml`, validated by pydantic).

The file format is the custodians' `DelimitedFormat` (`fidc_assets.lib.ingest.specs`): the CVM publishes
`;`-separated latin-1 text with `.` decimals, ISO dates and an empty field for null, and the same reader
(`fidc_assets.lib.ingest.readers.DelimitedReader`) and typing kernels (`fidc_assets.lib.ingest.typed`) read it.
What is new here is only what a regulatory report has and a custodian file has not: many tab files in one
zip (or twelve months of them in a yearly zip), and an identity prefix that changed by tab and date
(`CNPJ_FUNDO;DENOM_SOCIAL;DT_COMPTC` before, `TP_FUNDO_CLASSE;CNPJ_FUNDO_CLASSE;DENOM_SOCIAL;DT_COMPTC`
after). A spec names both prefixes; the reader recognizes each file's own from its header line.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from fidc_assets.lib.core.errors import SpecError, StrictModel
from fidc_assets.lib.ingest.specs import DelimitedFormat

#: The column types a tab may declare, and what each holds.
ColumnType = Literal["money", "quantity", "quota_value", "percent", "integer", "text"]
#: (precision, scale) of the decimal column types: money in centavos as published; quantities and quota
#: values with 8 decimals (the quota values off by orders of magnitude the CVM publishes still fit).
DECIMAL_TYPES: dict[str, tuple[int, int]] = {
    "money": (18, 2),
    "quantity": (28, 8),
    "quota_value": (28, 8),
    "percent": (18, 6),
}
#: The spec file inside the configuration directory.
SPEC_FILE = "inf_mensal.yaml"


class Identity(StrictModel):
    """The identity prefix of every tab file: the current one and the one before the switch."""

    current: tuple[str, ...] = ("TP_FUNDO_CLASSE", "CNPJ_FUNDO_CLASSE", "DENOM_SOCIAL", "DT_COMPTC")
    previous: tuple[str, ...] = ("CNPJ_FUNDO", "DENOM_SOCIAL", "DT_COMPTC")
    kind_column: str = "TP_FUNDO_CLASSE"
    cnpj_columns: tuple[str, ...] = ("CNPJ_FUNDO_CLASSE", "CNPJ_FUNDO")
    name_column: str = "DENOM_SOCIAL"
    date_column: str = "DT_COMPTC"
    #: before the switch every row is a fund's: this is the kind those rows get
    previous_kind: str = "Fundo"
    kinds: tuple[str, ...] = ("Fundo", "Classe")
    #: a CNPJ reported as both kinds for the same month (and key) keeps this kind's row
    prefer_kind: str = "Classe"


class Tab(StrictModel):
    """One tab of the report: its table in the lake, the columns that make a row unique beyond the fund and
    month (`key`: the quota class of X_2, the operation and class of X_4), and its typed value columns."""

    table: str = Field(pattern=r"^cvm_[a-z0-9_]+$")
    key: tuple[str, ...] = ()
    #: the month this tab switched to the current identity prefix (documentation, and the sample's renderer)
    current_prefix_since: str = Field(pattern=r"^\d{4}-\d{2}$")
    columns: dict[str, ColumnType] = Field(min_length=1)

    @model_validator(mode="after")
    def _key_is_a_column(self) -> Tab:
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"key names columns the tab does not declare: {missing}")
        return self


class CvmSpec(StrictModel):
    """Which zips and members are the report, how they are written, and every tab the lake keeps."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    zip_pattern: str = Field(description="regex a published zip's name matches, with group `period` (YYYYMM|YYYY)")
    member_pattern: str = Field(description="regex of a tab file inside it, with groups `tab` and `period`")
    format: DelimitedFormat
    identity: Identity = Identity()
    max_uncompressed_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    tabs: dict[str, Tab] = Field(min_length=1)

    @field_validator("zip_pattern", "member_pattern")
    @classmethod
    def _regex(cls, v: str, info) -> str:
        try:
            compiled = re.compile(v, re.ASCII)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        wanted = {"period"} if info.field_name == "zip_pattern" else {"tab", "period"}
        missing = wanted - set(compiled.groupindex)
        if missing:
            raise ValueError(f"needs the named groups {sorted(wanted)}; missing {sorted(missing)}")
        return v

    @model_validator(mode="after")
    def _tables_differ(self) -> CvmSpec:
        tables = [t.table for t in self.tabs.values()]
        doubled = sorted({t for t in tables if tables.count(t) > 1})
        if doubled:
            raise ValueError(f"tabs share lake tables {doubled}")
        return self

    @cached_property
    def zip_regex(self) -> re.Pattern[str]:
        return re.compile(self.zip_pattern, re.ASCII)

    @cached_property
    def member_regex(self) -> re.Pattern[str]:
        return re.compile(self.member_pattern, re.ASCII)


def load_cvm_spec(path: Path) -> CvmSpec:
    """The CVM spec at `path`; a mistake is a `SpecError` naming the file and the key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SpecError(f"{path}: cannot be read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, found {type(raw).__name__}")
    try:
        return CvmSpec.model_validate(raw)
    except ValidationError as e:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        ]
        raise SpecError(f"{path}: invalid CVM spec\n" + "\n".join(lines)) from None


def zip_period(spec: CvmSpec, name: str) -> tuple[dt.date, dt.date] | None:
    """The months a published zip covers, by its name: [first, last] (a monthly zip: one; a yearly zip: the
    year), or None when the name is not a report's."""
    m = spec.zip_regex.fullmatch(name)
    if not m:
        return None
    period = m.group("period")
    if len(period) == 4:
        return dt.date(int(period), 1, 1), dt.date(int(period), 12, 1)
    month = dt.date(int(period[:4]), int(period[4:]), 1)
    return month, month
