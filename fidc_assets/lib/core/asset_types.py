"""The asset type registry (`reference/asset_types.yaml` in the config directory): configuration, not code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fidc_assets.lib.core.errors import SpecError
from fidc_assets.lib.core.shipped import SHIPPED_CONFIG_DIR

REGISTRY_PATH = SHIPPED_CONFIG_DIR / "reference" / "asset_types.yaml"


class AssetType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    category: str
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class AssetTypeRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    asset_types: dict[str, AssetType]


@cache
def load_asset_types(path: Path = REGISTRY_PATH) -> AssetTypeRegistry:
    try:
        return AssetTypeRegistry.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as e:
        raise SpecError(f"{path}: invalid asset type registry: {e}") from None
