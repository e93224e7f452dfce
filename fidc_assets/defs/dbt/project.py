"""The one DbtProject, built on first use; its manifest is prepared by `fidc-lake dbt-prepare`
(`make setup` runs it), by `dagster dev` (prepare_if_dev), or by the test session fixture."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from fidc_assets.lib.hot.dsn import dsn_parts
from fidc_assets.settings import DBT_PROJECT_DIR


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


def dbt_executable() -> str:
    """dbt from this environment's bin dir (the venv is not always on PATH, e.g. `.venv/bin/dagster`)."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def prepare_manifest() -> Path:
    """Run `dbt parse` so the manifest Dagster reads is current (no database connection needed)."""
    from dagster_dbt import DbtCliResource

    project = dbt_project()
    DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=project.target_path
    ).wait()
    return project.manifest_path


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
