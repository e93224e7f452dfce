"""dbt marts as Dagster assets, partitioned by business day, with dbt tests as asset checks."""

from fidc_assets.defs.dbt.lean_import import import_dagster_dbt

import_dagster_dbt()  # before anything here imports dagster_dbt (lean_import.py: why)

from fidc_assets.defs.dbt.assets import definitions  # noqa: E402

__all__ = ["definitions"]
