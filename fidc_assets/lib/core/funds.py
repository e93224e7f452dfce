"""The fund registry: which funds this administrator serves, who manages each, which custodians send its files.

Configuration, not code (FIDC_FUNDS, default FIDC_HOME/funds.yaml). It is the source of the Dagster `funds`
dynamic partitions (a file for a fund not in the registry is set aside, not landed: a custodian sending a
fund we do not administer is an error to look at), of `dim_fund`, and of the BI tenants (a tenant is a fund
manager, `gestora`, that sees only its funds).

    managers:
      - id: aurora                     # tenant id: lower-case letters, digits, _
        name: Aurora Gestão de Recursos Ltda
    funds:
      - cnpj: "11222333000181"         # digits only (punctuation is accepted and removed)
        name: FIDC ALFA MULTISSETORIAL
        manager: aurora
        custodians: [custodia_alfa, custodia_epsilon]
        expected:                      # the files due every ANBIMA business day, by when (São Paulo time)
          - {custodian: custodia_alfa, entity: receivable_positions, due: "18:00"}
          - {custodian: custodia_epsilon, entity: acquisitions, due: "09:30", business_days_after: 1}

`expected` drives the delivery monitoring (`fidc_assets.lib.core.deliveries`): a file of that custodian and
entity for the fund and business day D is due at `due` on D (or on the `business_days_after`-th business day
after D). Quote the time: YAML reads an unquoted 18:00 as the number 1080.

Identifiers are matched whole (`fullmatch`): a trailing newline is not "the end of the string" here.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fidc_assets.lib.core.canonical import INGESTIBLE
from fidc_assets.lib.core.documents import is_valid_cnpj

REGISTRY_FILE_NAME = "funds.yaml"
#: Matched with fullmatch: `$` with re.match would accept "evil\n" (and create a role with a newline).
_TENANT_ID = re.compile(r"[a-z][a-z0-9_]{0,40}", re.ASCII)
#: Custodian ids as the specs name them (custodia_alfa).
_CUSTODIAN_ID = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)
#: Punctuation a CNPJ may be written with; anything else (letters, fullwidth or other non-ASCII digits) is an error.
_CNPJ_PUNCTUATION = re.compile(r"[./\- ]", re.ASCII)


class FundRegistryError(ValueError):
    """The registry file is missing, unreadable or inconsistent; the message names the file and the entry."""


class Manager(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(description="tenant id, used in role names: lower-case letters, digits and _")
    name: str

    @field_validator("id")
    @classmethod
    def _tenant_id(cls, v: str) -> str:
        if not _TENANT_ID.fullmatch(v):
            raise ValueError(f"manager id {v!r} must be lower-case letters, digits and _ (start with a letter)")
        return v


class Expectation(BaseModel):
    """One file a fund's custodian owes every business day D: `entity` rows, due at `due` (HH:MM, São Paulo
    time) on the `business_days_after`-th business day after D (0: on D itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    custodian: str
    entity: str
    due: str = Field(description="HH:MM, 24 h, São Paulo time (quoted in YAML)")
    business_days_after: int = Field(default=0, ge=0, le=5)

    @field_validator("custodian")
    @classmethod
    def _custodian(cls, v: str) -> str:
        if not _CUSTODIAN_ID.fullmatch(v):
            raise ValueError(f"custodian must be a custodian id (lower-case letters, digits, _), got {v!r}")
        return v

    @field_validator("entity")
    @classmethod
    def _entity(cls, v: str) -> str:
        if v not in INGESTIBLE:
            raise ValueError(f"entity must be one of {list(INGESTIBLE)}, got {v!r}")
        return v

    @field_validator("due", mode="before")
    @classmethod
    def _hh_mm(cls, v: object) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError(
                f"due must be a quoted 'HH:MM' string, got the number {v} (YAML reads an unquoted 18:00 as "
                '18*60: write due: "18:00")'
            )
        if not isinstance(v, str) or not _HH_MM.fullmatch(v):
            raise ValueError(f"due must be 'HH:MM' (00:00 to 23:59, São Paulo time), got {v!r}")
        return v

    @property
    def due_time(self) -> dt.time:
        hours, minutes = self.due.split(":")
        return dt.time(int(hours), int(minutes))


class Fund(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cnpj: str
    name: str
    manager: str
    custodians: tuple[str, ...] = ()
    expected: tuple[Expectation, ...] = ()

    @field_validator("cnpj", mode="before")
    @classmethod
    def _digits(cls, v: object) -> str:
        digits = _CNPJ_PUNCTUATION.sub("", str(v))
        if not (len(digits) == 14 and digits.isascii() and digits.isdigit()) or not is_valid_cnpj(digits):
            raise ValueError(f"{v!r} is not a valid CNPJ (14 ASCII digits with check digits, . / - allowed)")
        return digits

    @model_validator(mode="after")
    def _expectations(self) -> Fund:
        seen: set[tuple[str, str]] = set()
        for i, e in enumerate(self.expected):
            where = f"fund {self.cnpj} ({self.name}): expected[{i}]"
            if e.custodian not in self.custodians:
                raise ValueError(
                    f"{where}: custodian must be one of the fund's custodians {list(self.custodians)}, "
                    f"got {e.custodian!r}"
                )
            if (e.custodian, e.entity) in seen:
                raise ValueError(f"{where}: {e.custodian} {e.entity} is expected twice (one entry per file)")
            seen.add((e.custodian, e.entity))
        return self


class FundRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    managers: tuple[Manager, ...] = ()
    funds: tuple[Fund, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> FundRegistry:
        manager_ids = [m.id for m in self.managers]
        if len(set(manager_ids)) != len(manager_ids):
            raise ValueError(f"manager ids repeat: {sorted({m for m in manager_ids if manager_ids.count(m) > 1})}")
        cnpjs = [f.cnpj for f in self.funds]
        if len(set(cnpjs)) != len(cnpjs):
            raise ValueError(f"fund CNPJs repeat: {sorted({c for c in cnpjs if cnpjs.count(c) > 1})}")
        for f in self.funds:
            if f.manager not in manager_ids:
                raise ValueError(f"fund {f.cnpj} ({f.name}): manager {f.manager!r} is not in managers {manager_ids}")
        return self

    @property
    def cnpjs(self) -> list[str]:
        """Fund CNPJs in registry order (the order the `funds` partitions are added in)."""
        return [f.cnpj for f in self.funds]

    def fund(self, cnpj: str) -> Fund | None:
        return next((f for f in self.funds if f.cnpj == cnpj), None)

    def merged_with(self, other: FundRegistry) -> FundRegistry:
        """This registry plus the managers and funds of `other` it does not have (by id / CNPJ)."""
        have_m = {m.id for m in self.managers}
        have_f = set(self.cnpjs)
        return FundRegistry(
            managers=(*self.managers, *(m for m in other.managers if m.id not in have_m)),
            funds=(*self.funds, *(f for f in other.funds if f.cnpj not in have_f)),
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def load_fund_registry(path: Path) -> FundRegistry:
    """The registry at `path`; a missing file is an empty registry (nothing is landed until funds are added)."""
    path = Path(path)
    if not path.exists():
        return FundRegistry()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return FundRegistry.model_validate(raw)
    except yaml.YAMLError as exc:
        raise FundRegistryError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise FundRegistryError(f"{path}: {problems}") from exc


def write_fund_registry(path: Path, registry: FundRegistry) -> None:
    """Write atomically (a reader never sees half a registry)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(registry.to_yaml(), encoding="utf-8")
    tmp.replace(path)
