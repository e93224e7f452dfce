"""dbt marts as Dagster assets, partitioned by business day, with dbt tests as asset checks."""

from fidc_assets.defs.dbt.assets import definitions

__all__ = ["definitions"]
