"""The hot loader: Iceberg rows of a window copied into PostgreSQL `landing`."""

from fidc_assets.defs.hot.assets import definitions

__all__ = ["definitions"]
