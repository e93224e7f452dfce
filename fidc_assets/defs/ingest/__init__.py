"""Ingestion: inbox files archived byte for byte, registered, and landed in Iceberg as canonical rows; the
quarantine reprocessed on demand."""

import dagster as dg

from fidc_assets.defs.ingest import assets, reprocess


def definitions() -> dg.Definitions:
    return dg.Definitions.merge(assets.definitions(), reprocess.definitions())


__all__ = ["definitions"]
