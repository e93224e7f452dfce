"""Loading the definitions (what every run worker, code server and sensor tick does) imports only what the
definitions need: the libraries the assets use at run time are imported by the asset bodies.

A fresh interpreter each time (this test process may already have imported them). Not a timing: which
modules a load pulls in is what makes it cost seconds, and that can be checked exactly.
"""

import functools
import json
import subprocess
import sys
from pathlib import Path

from fidc_assets.settings import REPO_DIR

#: Imported only inside asset, check and op bodies: GX (~3 s), pandas (~1 s, also via `bizdays/__init__`),
#: the Iceberg catalog, the legacy migration and the hot loader; dbt-core (~3 s with its graph selector:
#: `defs/dbt/lean_import.py`), which only the dbt step's adapter handle imports.
RUN_TIME_ONLY = (
    "dbt",
    "great_expectations",
    "pandas",
    "bizdays",
    "pyiceberg.catalog",
    "fidc_assets.lib.lake.catalog",
    "fidc_assets.lib.lake.quality",
    "fidc_assets.lib.legacy.migration",
    "fidc_assets.lib.legacy.recon",
    "fidc_assets.lib.hot.loader",
)


def test_loading_the_definitions_imports_no_run_time_library():
    load = _load("lean")
    assert load["specs"], "no assets"
    loaded = set(load["modules"])
    assert [m for m in RUN_TIME_ONLY if m in loaded] == []


def test_the_code_location_passes_dagster_s_own_validation():
    """What `dagster dev`'s code server does with the workspace (an op named like its job, e.g., passes
    `get_repository_def()` above but fails here, and then no run of the location starts)."""
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True, text=True, cwd=REPO_DIR, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "All code locations passed validation" in out.stdout + out.stderr


#: A load in a fresh interpreter: every asset and check spec of the definitions, as JSON (object reprs that
#: hold addresses dropped), and the modules the load imported.
PROBE = """
import json, re, sys, warnings
warnings.simplefilter("ignore")
if sys.argv[1] == "with-dbt-core":
    import dbt.version  # imported first: dagster_dbt then uses dbt-core as usual
from fidc_assets.definitions import defs
repo = defs().get_repository_def()
out = {}
def clean(v):
    return re.sub(r" at 0x[0-9a-f]+", "", repr(v))
for ad in repo.assets_defs_by_key.values():
    for spec in ad.specs:
        out[str(spec.key)] = [
            sorted(str(d.asset_key) for d in spec.deps), spec.group_name, spec.description, sorted(spec.kinds),
            dict(spec.tags), {k: clean(v) for k, v in spec.metadata.items()}, clean(spec.partitions_def),
            clean(spec.automation_condition), spec.code_version,
        ]
    for c in ad.check_specs:
        out["check " + str(c.key)] = [c.description, c.blocking, {k: clean(v) for k, v in (c.metadata or {}).items()}]
for job in repo.get_all_jobs():
    out["job " + job.name] = sorted(str(k) for k in job.asset_layer.selected_asset_keys)
print(json.dumps({"modules": sorted(sys.modules), "specs": out}, sort_keys=True))
"""


@functools.cache
def _load(mode: str) -> dict:
    """The probe's result for `mode` ("lean": as the code location loads; "with-dbt-core": dbt imported first),
    run once per test session."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=REPO_DIR, timeout=300,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_dbt_assets_are_the_same_with_dbt_core_hidden_from_dagster_dbt_or_not():
    """lean_import hides dbt-core while dagster_dbt imports (its dbt Fusion path: no dbt-core import, the
    default selection read from the manifest); every asset, check and job must come out as with dbt-core."""
    lean, usual = _load("lean"), _load("with-dbt-core")
    assert ("dbt" in lean["modules"], "dbt" in usual["modules"]) == (False, True)
    assert sum(1 for k in usual["specs"] if k.startswith("check ")) > 100  # the dbt tests are there
    assert lean["specs"].keys() == usual["specs"].keys()
    assert [k for k in usual["specs"] if lean["specs"][k] != usual["specs"][k]] == []


def test_the_dbt_step_can_still_open_dbt_cores_adapter_after_a_lean_import():
    """The dbt step's `dbt.cli(...)` opens a dbt-core adapter handle, which asserts dbt-core's version:
    lean_import gives `dagster_dbt.core.resource` the installed one (the compat layer keeps None)."""
    probe = (
        "import importlib.metadata, sys\n"
        "from fidc_assets.defs.dbt.lean_import import import_dagster_dbt\n"
        "import_dagster_dbt()\n"
        "import dagster_dbt.compat as compat, dagster_dbt.core.resource as resource\n"
        "assert 'dbt' not in sys.modules and compat.DBT_PYTHON_VERSION is None\n"
        "assert str(resource.DBT_PYTHON_VERSION) == importlib.metadata.version('dbt-core')\n"
        "import dbt.adapters.factory  # importable again once dagster_dbt is in\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-4000:]
