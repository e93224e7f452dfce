"""Loading the definitions (what every run worker, code server and sensor tick does) imports only what the
definitions need: the libraries the assets use at run time are imported by the asset bodies.

A fresh interpreter each time (this test process may already have imported them). Not a timing: which
modules a load pulls in is what makes it cost seconds, and that can be checked exactly.
"""

import json
import subprocess
import sys
from pathlib import Path

from fidc_assets.settings import REPO_DIR

#: Imported only inside asset, check and op bodies: GX (~3 s), pandas (~1 s, also via `bizdays/__init__`),
#: the Iceberg catalog, the legacy migration and the hot loader.
RUN_TIME_ONLY = (
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

PROBE = """
import json, sys, warnings
warnings.simplefilter("ignore")
from fidc_assets.definitions import defs
repo = defs().get_repository_def()
assert repo.assets_defs_by_key, "no assets"
print(json.dumps(sorted(sys.modules)))
"""


def test_loading_the_definitions_imports_no_run_time_library():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO_DIR, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-4000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
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
