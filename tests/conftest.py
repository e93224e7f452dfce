"""Session fixtures: one embedded PostgreSQL, one temp FIDC_HOME (catalog, warehouse, inbox), one dbt
manifest and one sample, made once per test session; integration tests share them.

FIDC_HOME is made with mkdtemp under /tmp and chmod 0755 (not pytest's tmp_path, which is 0700 under root)
because as root the embedded server runs as an unprivileged user who must traverse it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import pytest

from fidc_assets.settings import Settings


class SampleArgs(TypedDict):
    seed: int
    funds: int
    days: int
    receivables_per_fund: int


SAMPLE_ARGS = SampleArgs(seed=7, funds=2, days=6, receivables_per_fund=300)


def sha256_tree(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path) → its sha256: two trees are byte-identical when these are equal."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def traversable_tmp_dir(prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    directory.chmod(0o755)
    return directory


@dataclass
class Lakehouse:
    settings: Settings
    dsn: str
    home: Path


@pytest.fixture(scope="session")
def lakehouse() -> Iterator[Lakehouse]:
    """A private FIDC_HOME with a running embedded PostgreSQL; environment restored afterwards."""
    home = traversable_tmp_dir("fidc-test-home-")
    saved = {
        k: os.environ.get(k)
        for k in (
            "FIDC_HOME",
            "FIDC_PG_DSN",
            "DAGSTER_HOME",
            "FIDC_INBOX",
            "FIDC_ICEBERG_CATALOG_URI",
            "FIDC_WAREHOUSE",
            "FIDC_FUNDS",
        )
    }
    for k in saved:
        os.environ.pop(k, None)
    os.environ["FIDC_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir()
    settings = Settings.from_env()
    pg = settings.embedded_server()  # FIDC_PG_BIN / FIDC_PG_OS_USER of the machine running the tests
    dsn = pg.start()
    try:
        yield Lakehouse(settings, dsn, home)
    finally:
        pg.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    from fidc_assets.defs.dbt.project import prepare_manifest

    return prepare_manifest()


@pytest.fixture(scope="session")
def sample(lakehouse: Lakehouse):
    """The generator's files for SAMPLE_ARGS, delivered to the inbox; returns the manifest."""
    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.pipeline import adopt_fund_registry, deliver
    from fidc_assets.sample.generator import generate_sample

    manifest = generate_sample(lakehouse.home / "sample", **SAMPLE_ARGS)
    deliver([manifest.inbox_dir / f for f in manifest.files], Path(lakehouse.settings.inbox))
    adopt_fund_registry(manifest.out_dir / REGISTRY_FILE_NAME, lakehouse.settings.funds_file)
    return manifest


@pytest.fixture(scope="session")
def instance(lakehouse: Lakehouse):
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture(scope="session")
def first_run(lakehouse: Lakehouse, dbt_manifest: Path, sample, instance):
    """Every asset and check for every sample day and fund (an ingestion run, then a marts run)."""
    from fidc_assets.pipeline import run_days

    return run_days(list(sample.days), instance=instance)
