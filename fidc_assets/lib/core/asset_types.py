"""The asset type registry (`reference/asset_types.yaml` in the config directory): configuration, not code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fidc_assets.lib.core.errors import SpecError


class AssetType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    category: str
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class AssetTypeRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    asset_types: dict[str, AssetType]


@cache
def load_asset_types(path: Path) -> AssetTypeRegistry:
    """The registry at `path` (the configuration's `reference/asset_types.yaml`; the settings say which)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no asset type registry there (expected reference/asset_types.yaml in the configuration "
            "directory; `fidc-lake config init DIR` writes one)"
        ) from None
    try:
        return AssetTypeRegistry.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as e:
        raise SpecError(f"{path}: invalid asset type registry: {e}") from None
