"""The legacy migration: monthly partitioned assets that land the legacy database in the lake, and the
reconciliation with Great Expectations as blocking asset checks."""

from fidc_assets.defs.legacy.assets import definitions

__all__ = ["definitions"]
