"""Data quality: Great Expectations suites as Dagster asset checks (dbt tests come with the dbt assets)."""

from fidc_assets.defs.quality.checks import definitions

__all__ = ["definitions"]
