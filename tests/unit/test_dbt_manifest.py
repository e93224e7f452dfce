"""The dbt manifest is only read at load: a missing or stale one is one error naming the command to run."""

from pathlib import Path

import pytest

from fidc_assets.defs.dbt.project import FINGERPRINT_FILE, StaleManifest, check_manifest, sources_fingerprint


def _project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.sql").write_text("select 1")
    (tmp_path / "dbt_project.yml").write_text("name: p")
    manifest = tmp_path / "target" / "manifest.json"
    manifest.parent.mkdir()
    return tmp_path, manifest


def test_missing_manifest(tmp_path: Path):
    project, manifest = _project(tmp_path)
    with pytest.raises(StaleManifest, match="no dbt manifest.*fidc-lake dbt-prepare"):
        check_manifest(project, manifest)


def test_current_then_stale_after_an_edit(tmp_path: Path):
    project, manifest = _project(tmp_path)
    manifest.write_text("{}")
    (manifest.parent / FINGERPRINT_FILE).write_text(sources_fingerprint(project) + "\n")
    check_manifest(project, manifest)  # current: no error
    (project / "models" / "m.sql").write_text("select 2")
    with pytest.raises(StaleManifest, match="older than the dbt project.*fidc-lake dbt-prepare"):
        check_manifest(project, manifest)


def test_a_manifest_without_a_fingerprint_is_stale(tmp_path: Path):
    project, manifest = _project(tmp_path)
    manifest.write_text("{}")
    with pytest.raises(StaleManifest, match="fidc-lake dbt-prepare"):
        check_manifest(project, manifest)
