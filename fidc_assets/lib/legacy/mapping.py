"""The legacy mapping: which legacy table feeds which canonical entity, and how each column is read.

The mapping is configuration (the shipped ``config/legacy/sifidc.yaml``), validated by `LegacySpec` so a
mistake is reported with the file, the key and what was expected before anything is read from the legacy
database. The SQL snippets it holds (month filters, recon queries) receive `month_params`.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from fidc_assets.lib.core.canonical import ENTITIES, Entity
from fidc_assets.lib.core.errors import SpecError, StrictModel
from fidc_assets.lib.core.months import next_month
from fidc_assets.lib.core.shipped import SHIPPED_CONFIG_DIR

LEGACY_DIR = SHIPPED_CONFIG_DIR / "legacy"
DEFAULT_SPEC = LEGACY_DIR / "sifidc.yaml"

Parse = Literal["text", "digits", "centavos", "decimal", "integer", "date"]


_Strict = StrictModel


class LegacyColumn(_Strict):
    column: str | None = None
    parse: Parse = "text"
    date_format: str = "%Y-%m-%d"
    map: dict[str, str | bool] | None = None
    default: str | None = None

    @model_validator(mode="after")
    def _source(self) -> LegacyColumn:
        if (self.column is None) == (self.default is None):
            raise ValueError("needs exactly one of `column` or `default`")
        return self


class LegacyTable(_Strict):
    entity: str
    table: str
    row_id: str
    month_filter: str
    where: str | None = None
    columns: dict[str, str | LegacyColumn]

    @model_validator(mode="after")
    def _fields(self) -> LegacyTable:
        if self.entity not in ENTITIES or ENTITIES[self.entity].partition_date is None:
            raise ValueError(f"entity must be one of receivable_positions, acquisitions, settlements, fund_quotas; "
                             f"got {self.entity!r}")  # fmt: skip
        entity = ENTITIES[self.entity]
        lineage = {"file_date", "source", "source_file_sha256", "source_line", "ingested_at", "currency"}
        unknown = sorted(set(self.columns) - set(entity.field_names))
        if unknown:
            raise ValueError(f"{self.entity} has no field(s) {unknown}")
        missing = sorted(
            f.name for f in entity.fields if f.required and f.name not in lineage and f.name not in self.columns
        )
        if missing:
            raise ValueError(f"columns must map the required {self.entity} fields {missing}")
        return self

    def column_maps(self) -> dict[str, LegacyColumn]:
        return {k: LegacyColumn(column=v) if isinstance(v, str) else v for k, v in self.columns.items()}

    @property
    def entity_def(self) -> Entity:
        return ENTITIES[self.entity]

    @property
    def date_field(self) -> str:
        """The entity's partition date field (the validator admits only entities that have one)."""
        date = self.entity_def.partition_date
        if date is None:  # excluded by _fields
            raise SpecError(f"{self.table}: entity {self.entity} has no partition date")
        return date


class ReconQueries(_Strict):
    positions: str
    pl: str
    row_values: str
    known_defects: str


class LegacySpec(_Strict):
    id: str
    name: str
    database: str = "legacy"
    encoding: str = "latin-1"
    cutover_date: dt.date
    currency: str = "BRL"
    tables: tuple[LegacyTable, ...] = Field(min_length=1)
    recon: ReconQueries
    # YAML anchors for the code maps live at the top level; they are not settings.
    custodians: dict[str, str] | None = None
    asset_types: dict[str, str] | None = None
    coobligation: dict[str, bool] | None = None

    @property
    def pg_encoding(self) -> str:
        return {"latin-1": "LATIN1", "latin1": "LATIN1", "utf-8": "UTF8", "cp1252": "WIN1252"}.get(
            self.encoding.lower(), self.encoding
        )


def load_legacy_spec(path: Path = DEFAULT_SPEC) -> LegacySpec:
    """The mapping; errors name the file, the key and what was expected."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return LegacySpec.model_validate(data)
    except ValidationError as e:
        details = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise SpecError(f"{path}: {details}") from None


@cache
def default_spec() -> LegacySpec:
    return load_legacy_spec(DEFAULT_SPEC)


def month_params(month: dt.date) -> dict[str, object]:
    return {"start": month, "end": next_month(month), "mmyyyy": f"{month:%m/%Y}"}
