"""The file registry rows the delivery monitoring reads (`fidc_assets.lib.core.deliveries`), for given days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pyiceberg.expressions import In

from fidc_assets.lib.core.canonical import FILE_REGISTRY
from fidc_assets.lib.core.deliveries import FileRecord
from fidc_assets.lib.lake.catalog import Lake

_COLUMNS = (
    "sha256",
    "custodian_id",
    "entity",
    "fund_cnpj",
    "reference_date",
    "received_at",
    "status",
    "original_name",
)


def read_file_records(lake: Lake, days: Iterable[dt.date]) -> list[FileRecord]:
    """Every registered file whose name designates one of `days` (one scan of lake.file_registry)."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    # pyiceberg's In is built by __new__; pyright checks the pydantic __init__ instead
    where = In("reference_date", wanted)  # pyright: ignore[reportCallIssue]
    table = lake.read(FILE_REGISTRY, where, _COLUMNS)
    return [
        FileRecord(
            sha256=r["sha256"],
            custodian_id=r["custodian_id"],
            entity=r["entity"],
            fund_cnpj=r["fund_cnpj"],
            reference_date=r["reference_date"],
            received_at=r["received_at"],
            status=r["status"],
            file_name=r["original_name"],
        )
        for r in table.to_pylist()
    ]
