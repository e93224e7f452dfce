"""The import contract ([tool.importlinter] in pyproject.toml) fails the commits it exists to stop.

Each case copies the package to a temp dir, adds one forbidden import to one module and runs `lint-imports`
there: it must fail, naming the contract and the import. A copy without the injected import passes the same
contracts, so the failure is the injected line's doing. The last tests run the contract on the real tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

LAYERS = "lib layers: legacy | ops | regulatory > hot | ingest > lake > core"
SAMPLE_ON_CORE = "sample depends on lib.core only"
NO_SAMPLE = "product code never imports the sample generator"
LIB_PURE = "lib is pure: no Dagster wiring, CLI, settings or Dagster itself"


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the tree at `root` (its cwd goes first on the path, so its copy of the package is the
    one analysed), limited to the given contract ids, without the cache (a copy must be read afresh)."""
    args = [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=120)


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "fidc_assets", root / "fidc_assets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def inject(root: Path, module: str, line: str) -> None:
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # injected by the test\n", encoding="utf-8")


# (contract id, contract name, module that gets the import, the import, the importer → imported it reports)
CASES = [
    (
        "lib-layers",
        LAYERS,
        "fidc_assets/lib/core/months.py",
        "import fidc_assets.lib.ingest",
        "fidc_assets.lib.core.months -> fidc_assets.lib.ingest",
    ),
    (
        "lib-layers",
        LAYERS,
        "fidc_assets/lib/hot/loader.py",
        "from fidc_assets.lib.ingest import specs",
        "fidc_assets.lib.hot.loader -> fidc_assets.lib.ingest",
    ),
    (
        "no-sample-in-product",
        NO_SAMPLE,
        "fidc_assets/lib/lake/catalog.py",
        "import fidc_assets.sample",
        "fidc_assets.lib.lake.catalog -> fidc_assets.sample",
    ),
    (
        "no-sample-in-product",
        NO_SAMPLE,
        "fidc_assets/defs/ingest/assets.py",
        "from fidc_assets.sample import generator",
        "fidc_assets.defs.ingest.assets -> fidc_assets.sample",
    ),
    (
        "sample-on-core",
        SAMPLE_ON_CORE,
        "fidc_assets/sample/quotas.py",
        "import fidc_assets.lib.lake.catalog",
        "fidc_assets.sample.quotas -> fidc_assets.lib.lake.catalog",
    ),
]


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(tmp_path_factory.mktemp("contract_clean"))


@pytest.mark.parametrize("contract", sorted({case[0] for case in CASES}))
def test_an_untouched_copy_keeps_the_contract(clean_copy: Path, contract: str) -> None:
    result = lint_imports(clean_copy, contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


@pytest.mark.parametrize(("contract", "name", "module", "line", "reported"), CASES, ids=[c[3] for c in CASES])
def test_a_forbidden_import_breaks_the_contract(
    tmp_path: Path, contract: str, name: str, module: str, line: str, reported: str
) -> None:
    root = copy_tree(tmp_path)
    inject(root, module, line)
    result = lint_imports(root, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{name} BROKEN" in result.stdout
    assert reported in result.stdout


def test_the_real_tree_keeps_the_layers_and_the_sample_rules() -> None:
    result = lint_imports(REPO, "lib-layers", "sample-on-core", "no-sample-in-product")
    assert result.returncode == 0, result.stdout + result.stderr


# While lib/lake/quality.py and lib/legacy/recon.py still import GX_ROOT_DIR from fidc_assets.settings (another
# branch of the redesign passes it in as a plain value), "lib is pure" is broken on the real tree: this test is
# then an expected failure, and a real assertion as soon as those two imports are gone.
_KNOWN_SETTINGS_IMPORTS = [
    module
    for module in ("fidc_assets/lib/lake/quality.py", "fidc_assets/lib/legacy/recon.py")
    if "from fidc_assets.settings import" in (REPO / module).read_text(encoding="utf-8")
]


@pytest.mark.xfail(
    bool(_KNOWN_SETTINGS_IMPORTS),
    reason=f"lib still imports fidc_assets.settings in {_KNOWN_SETTINGS_IMPORTS} (removed by the settings branch)",
    strict=True,
)
def test_the_real_tree_keeps_lib_pure() -> None:
    result = lint_imports(REPO, "lib-pure")
    assert result.returncode == 0, result.stdout + result.stderr
