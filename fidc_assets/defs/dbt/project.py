"""The one DbtProject and its manifest.

The manifest is made ahead of time — by `fidc-lake dbt-prepare` (`make setup`, a deploy, `fidc-lake ui`/`demo`,
the test session fixture) — and only *read* when the definitions load: a run process, a code-server load or a
sensor tick never runs `dbt parse` nor writes anything under `dbt_project/` (under `dagster dev` every run used
to re-parse and they raced for dbt's target-directory lock).

Staleness: `prepare_manifest` writes, beside the manifest, a fingerprint — the sha256 over the paths and bytes
of everything `dbt parse` reads that this project edits (dbt_project.yml, models/, macros/, tests/, seeds/,
snapshots/, analyses/). Loading recomputes it (~60 small files: a few milliseconds) and refuses a manifest
whose fingerprint is missing or different, naming the command to run. A content hash rather than mtimes: a
`git checkout` or a copy changes mtimes without changing the project, and an edit may keep them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from fidc_assets.lib.hot.dsn import dsn_parts
from fidc_assets.settings import DBT_PROJECT_DIR

#: What `dbt parse` reads from the project and we edit: a change in any of these makes the manifest stale.
FINGERPRINTED = ("dbt_project.yml", "models", "macros", "tests", "seeds", "snapshots", "analyses")
FINGERPRINT_FILE = "fidc_sources.sha256"
PREPARE_COMMAND = "fidc-lake dbt-prepare"


class StaleManifest(RuntimeError):
    """The dbt manifest is missing or older than the dbt project: run `fidc-lake dbt-prepare`."""


def sources_fingerprint(project_dir: Path) -> str:
    """sha256 over the relative path and bytes of every fingerprinted file, in a stable order."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        root = project_dir / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for path in files:
            digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def check_manifest(project_dir: Path, manifest: Path) -> None:
    """Raise StaleManifest unless `manifest` exists and was made from the project's current files."""
    stamp = manifest.parent / FINGERPRINT_FILE
    if not manifest.exists():
        raise StaleManifest(f"no dbt manifest at {manifest}: run `{PREPARE_COMMAND}` (make setup runs it)")
    if not stamp.exists() or stamp.read_text().strip() != sources_fingerprint(project_dir):
        raise StaleManifest(
            f"the dbt manifest {manifest} is older than the dbt project (models, macros or dbt_project.yml "
            f"changed since it was made): run `{PREPARE_COMMAND}`"
        )


def _project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@cache
def dbt_project() -> DbtProject:
    """The project, with a current manifest (checked, never made here)."""
    project = _project()
    check_manifest(Path(project.project_dir), Path(project.manifest_path))
    return project


def dbt_executable() -> str:
    """dbt from this environment's bin dir (the venv is not always on PATH, e.g. `.venv/bin/dagster`)."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def prepare_manifest() -> Path:
    """Run `dbt parse` so the manifest Dagster reads is current (no database connection needed), and stamp it
    with the project's fingerprint. Only `fidc-lake` commands and the test fixture call this, never a run."""
    from dagster_dbt import DbtCliResource

    project = _project()
    fingerprint = sources_fingerprint(Path(project.project_dir))  # before parsing: an edit meanwhile is stale
    DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=project.target_path
    ).wait()
    manifest = Path(project.manifest_path)
    (manifest.parent / FINGERPRINT_FILE).write_text(fingerprint + "\n")
    dbt_project.cache_clear()
    return manifest


def dbt_profile_env(dsn: str) -> dict[str, str]:
    """The FIDC_DBT_* variables dbt's profiles.yml reads (`env_var`), for the PostgreSQL DSN: set by the project
    for each dbt invocation, never by hand (the DSN comes from the settings)."""
    return {f"FIDC_DBT_{k.upper()}": v for k, v in dsn_parts(dsn).items()}


@contextlib.contextmanager
def dbt_connection_env(dsn: str) -> Iterator[None]:
    """Expose the PostgreSQL DSN to dbt's profiles.yml as FIDC_DBT_* variables for one invocation."""
    names = dbt_profile_env(dsn)
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
