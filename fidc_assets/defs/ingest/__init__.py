"""Ingestion: inbox files archived byte for byte, registered, and landed in Iceberg as canonical rows."""

from fidc_assets.defs.ingest.assets import definitions

__all__ = ["definitions"]
