"""`fidc-lake config init DIR`: a copy of the shipped configuration for a deployment to own.

The package's `fidc_assets/config/` holds defaults; a deployment edits its own copy (a custodian onboarded is
a YAML file dropped into `DIR/custodians/`) and points FIDC_CONFIG_DIR at it, so that no change to the
installed package is ever needed. The copy is refused over a non-empty directory: a configuration in use is
never overwritten by the defaults.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fidc_assets.lib.core.shipped import SHIPPED_CONFIG_DIR
from fidc_assets.settings import SettingsError


def _shipped_files(source: Path) -> list[Path]:
    """The configuration files under `source` (not editor droppings, caches or hidden files)."""
    return sorted(
        p
        for p in source.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(source).parts)
    )


def write_config_dir(target: Path, source: Path = SHIPPED_CONFIG_DIR) -> list[Path]:
    """Copy the configuration at `source` (the shipped defaults) to `target`, a new or empty directory;
    return the files written, sorted."""
    target = Path(target).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise SettingsError(f"config init: {target} is a file; expected a new or empty directory")
    if target.is_dir() and any(target.iterdir()):
        raise SettingsError(
            f"config init: {target} is not empty; expected a new or empty directory (the copy never overwrites "
            "a configuration: to start again, move it away first)"
        )
    written = []
    for src in _shipped_files(source):
        dst = target / src.relative_to(source)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)
    return written
