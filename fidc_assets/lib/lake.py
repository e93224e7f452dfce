"""Iceberg cold storage: the catalog, the canonical tables, and atomic slice replacement.

Cold is the system of record. Every write replaces a well-defined slice (a fund-day of one custodian, a
file's quarantine rows) with `overwrite(..., overwrite_filter=...)`, which deletes and appends in one
snapshot: a re-delivered file replaces exactly what the earlier one wrote, and a re-run writes the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table

from fidc_assets.lib.canonical import ENTITIES, NAMESPACE, Entity, iceberg_schema, partition_spec

CATALOG_NAME = "fidc"


@dataclass
class Lake:
    """Handle on the Iceberg catalog. Cheap to build; connects on first use."""

    catalog_uri: str
    warehouse: str
    extra_properties: dict[str, str] = field(default_factory=dict)

    @cached_property
    def catalog(self) -> Catalog:
        if self.catalog_uri.startswith("sqlite:///"):
            from pathlib import Path

            Path(self.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # load_catalog also merges PYICEBERG_CATALOG__FIDC__* env vars (S3 credentials, endpoints).
        props = {"type": "sql", "uri": self.catalog_uri, "warehouse": self.warehouse, **self.extra_properties}
        if self.catalog_uri.startswith(("http://", "https://")):
            props["type"] = "rest"
        catalog = load_catalog(CATALOG_NAME, **props)
        catalog.create_namespace_if_not_exists(NAMESPACE)
        return catalog

    def table(self, entity: Entity | str) -> Table:
        entity = ENTITIES[entity] if isinstance(entity, str) else entity
        try:
            return self.catalog.load_table(entity.table_name)
        except NoSuchTableError:
            return self.catalog.create_table_if_not_exists(
                entity.table_name,
                schema=iceberg_schema(entity),
                partition_spec=partition_spec(entity),
                properties={"comment": entity.doc, "format-version": "2"},
            )

    def ensure_tables(self) -> None:
        for entity in ENTITIES.values():
            self.table(entity)

    def replace_slice(
        self,
        entity: Entity | str,
        rows: pa.Table,
        where: BooleanExpression,
        snapshot_properties: dict[str, str] | None = None,
    ) -> None:
        """Atomically replace every row matching `where` with `rows` (one Iceberg commit)."""
        table = self.table(entity)
        rows = rows.cast(table.schema().as_arrow())
        table.overwrite(rows, overwrite_filter=where, snapshot_properties=snapshot_properties or {})

    def read(
        self, entity: Entity | str, where: BooleanExpression | None = None, columns: tuple[str, ...] = ("*",)
    ) -> pa.Table:
        return self.table(entity).scan(row_filter=where or AlwaysTrue(), selected_fields=columns).to_arrow()
