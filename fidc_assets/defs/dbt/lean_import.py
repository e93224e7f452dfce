"""Import dagster_dbt without dbt-core: half of what loading the definitions cost.

Every run worker, code-server load and sensor tick loads the definitions. With dbt-core importable,
`dagster_dbt.compat` imports it at once (`dbt.adapters.base`, `dbt.contracts.results`, mashumaro classes:
~1.5 CPU s), and `@dbt_assets` then selects the models through dbt's graph selector (networkx: ~1.3 s), even
for the default "every node" selection. dagster_dbt supports dbt-core being absent (the dbt Fusion engine): it
then defines the few enums it needs itself (`NodeStatus`, `TestStatus`, `NodeType`, same string values) and
reads the default selection straight from the manifest's nodes. The dbt build itself is a `dbt` subprocess
either way, so nothing about how dbt runs changes.

`import_dagster_dbt` imports dagster_dbt with `dbt` hidden from the import system, so it takes that path, then
un-hides it. One module global is put back: `dagster_dbt.core.resource` asserts dbt-core's version before it
opens the adapter handle it makes at the start of every `dbt.cli(...)` (run time only, where dbt-core is
importable again), so it gets the installed version from the package metadata (no import).

The asset graph is the same either way (tests/unit/test_definitions_load.py compares every asset and check
spec of both). If dagster_dbt or dbt was imported before (a test process, a tool), this does nothing and
dagster_dbt behaves as usual.
"""

import importlib.abc
import importlib.metadata
import sys
from types import ModuleType

from packaging import version


class _HideDbtCore(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == "dbt" or fullname.startswith("dbt."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden while dagster_dbt imports)", name=fullname)
        return None


def import_dagster_dbt() -> ModuleType:
    """dagster_dbt, imported (if it was not already) as if dbt-core were not installed; see the module doc."""
    if "dagster_dbt" in sys.modules or "dbt" in sys.modules:
        import dagster_dbt

        return dagster_dbt
    finder = _HideDbtCore()
    sys.meta_path.insert(0, finder)
    try:
        import dagster_dbt
        import dagster_dbt.core.resource as resource
    finally:
        sys.meta_path.remove(finder)
    namespace = resource.__dict__  # a private module global of dagster_dbt (pinned release)
    if namespace.get("DBT_PYTHON_VERSION") is None:
        try:
            namespace["DBT_PYTHON_VERSION"] = version.parse(importlib.metadata.version("dbt-core"))
        except importlib.metadata.PackageNotFoundError:
            pass  # no dbt-core at all: dagster_dbt's own behaviour
    return dagster_dbt
