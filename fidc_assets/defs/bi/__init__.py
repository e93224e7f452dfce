"""BI access: the registries synced to PostgreSQL `reference`, and the tenants' roles and row security."""

from fidc_assets.defs.bi.assets import definitions

__all__ = ["definitions"]
