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


def test_every_relationship_test_reads_a_model_built_before_it_or_after_its_own(dbt_manifest: Path):
    """A relationships test on model M pointing at model T runs whenever M is built; when neither is upstream
    of the other, a run can build M (and test it) before T exists: a fresh deployment's first marts run failed
    `mart_fund_day_completeness`'s test against a `dim_fund` not built yet. Every such pair must be ordered."""
    import json

    nodes = json.loads(dbt_manifest.read_text())["nodes"]
    parents = {uid: set(n["depends_on"]["nodes"]) for uid, n in nodes.items() if n["resource_type"] == "model"}

    def ancestors(uid: str) -> set[str]:
        seen: set[str] = set()
        todo = list(parents.get(uid, ()))
        while todo:
            up = todo.pop()
            if up not in seen:
                seen.add(up)
                todo.extend(parents.get(up, ()))
        return seen

    unordered, checked = [], 0
    for test in nodes.values():
        if test["resource_type"] != "test" or test.get("test_metadata", {}).get("name") != "relationships":
            continue
        model = test.get("attached_node")
        for target in (n for n in test["depends_on"]["nodes"] if n != model and n.startswith("model.")):
            checked += 1
            if target not in ancestors(model) and model not in ancestors(target):
                unordered.append(f"{model} -> {target}")
    assert checked > 0  # the project has relationship tests: the rule was exercised
    assert unordered == []
