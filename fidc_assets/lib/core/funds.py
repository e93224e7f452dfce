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
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fidc_assets.lib.core.documents import is_valid_cnpj

REGISTRY_FILE_NAME = "funds.yaml"
_TENANT_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class FundRegistryError(ValueError):
    """The registry file is missing, unreadable or inconsistent; the message names the file and the entry."""


class Manager(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(description="tenant id, used in role names: lower-case letters, digits and _")
    name: str

    @field_validator("id")
    @classmethod
    def _tenant_id(cls, v: str) -> str:
        if not _TENANT_ID.match(v):
            raise ValueError(f"manager id {v!r} must be lower-case letters, digits and _ (start with a letter)")
        return v


class Fund(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cnpj: str
    name: str
    manager: str
    custodians: tuple[str, ...] = ()

    @field_validator("cnpj", mode="before")
    @classmethod
    def _digits(cls, v: object) -> str:
        digits = re.sub(r"\D", "", str(v))
        if len(digits) != 14 or not is_valid_cnpj(digits):
            raise ValueError(f"{v!r} is not a valid CNPJ (14 digits with check digits)")
        return digits


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
