"""Iceberg cold storage: the catalog, the canonical tables, and atomic slice replacement.

Cold is the system of record. Every write replaces a well-defined slice (a fund-day of one custodian, a
file's quarantine rows) with `overwrite(..., overwrite_filter=...)`, which deletes and appends in one
snapshot: a re-delivered file replaces exactly what the earlier one wrote, and a re-run writes the same rows.
Concurrent writers are the business of `lib.lake.commits` (every write an attempt, retried after a conflict);
this module keeps the tables in the shape that makes conflicts rare: partitioned by month × fund, with older
tables evolved in place the first time a process loads them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table
from pyiceberg.transforms import Transform

from fidc_assets.lib.core.canonical import ENTITIES, NAMESPACE, Entity, iceberg_schema, partition_spec
from fidc_assets.lib.lake.commits import with_commit_retry
from fidc_assets.lib.lake.datafiles import DataFileWriter, append_files

CATALOG_NAME = "fidc"


@dataclass
class Lake:
    """Handle on the Iceberg catalog. Cheap to build; connects on first use."""

    catalog_uri: str
    warehouse: str
    extra_properties: dict[str, str] = field(default_factory=dict)
    #: Root of the raw archive; None = the warehouse. Separate where the warehouse is an S3 table bucket
    #: (an Iceberg REST catalog such as S3 Tables or SeaweedFS), which refuses plain objects.
    archive: str | None = None
    _spec_checked: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    @property
    def archive_root(self) -> str:
        return self.archive or self.warehouse

    @classmethod
    def local(cls, directory: Path) -> Lake:
        """A SQLite catalog and a warehouse under one local directory (the embedded default's shape)."""
        return cls(f"sqlite:///{directory / 'catalog.db'}", (directory / "warehouse").as_uri())

    @cached_property
    def catalog(self) -> Catalog:
        if self.catalog_uri.startswith("sqlite:///"):
            Path(self.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # load_catalog also merges PYICEBERG_CATALOG__FIDC__* env vars (S3 credentials, endpoints).
        props = {"type": "sql", "uri": self.catalog_uri, "warehouse": self.warehouse, **self.extra_properties}
        if self.catalog_uri.startswith(("http://", "https://")):
            props["type"] = "rest"
        catalog = load_catalog(CATALOG_NAME, **props)
        catalog.create_namespace_if_not_exists(NAMESPACE)
        return catalog

    def table(self, entity: Entity | str) -> Table:
        """The entity's table as the catalog has it now (a fresh load on every call: a writer reads, decides
        and commits from one load, so Iceberg can validate against what changed since)."""
        entity = ENTITIES[entity] if isinstance(entity, str) else entity
        try:
            table = self.catalog.load_table(entity.table_name)
        except NoSuchTableError:
            table = self.catalog.create_table_if_not_exists(
                entity.table_name,
                schema=iceberg_schema(entity),
                partition_spec=partition_spec(entity),
                properties={"comment": entity.doc, "format-version": "2"},
            )
        if entity.name not in self._spec_checked:
            table = self._evolve_spec(entity, table)
            self._spec_checked.add(entity.name)
        return table

    def _evolve_spec(self, entity: Entity, table: Table) -> Table:
        """Add the partition fields a table made by an older release lacks (month-only tables gain
        `identity(fund_cnpj)`). Existing data files keep their spec; new writes use the new one. Two processes
        evolving at once: the loser's commit fails, it reloads and finds nothing left to add."""

        def attempt() -> Table:
            current = self.catalog.load_table(entity.table_name)
            missing = _missing_partition_fields(entity, current)
            if missing:
                with current.update_spec() as update:
                    for column, transform, name in missing:
                        update.add_field(column, transform, name)
                current = self.catalog.load_table(entity.table_name)
            return current

        if not _missing_partition_fields(entity, table):
            return table
        return with_commit_retry(f"partition spec of {entity.table_name}", attempt)

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

    def replace_slice_streaming(
        self,
        entity: Entity | str,
        batches: Iterable[pa.Table],
        where: BooleanExpression,
        table: Table | None = None,
    ) -> int:
        """Replace the rows matching `where` with a stream of batches, in one transaction.

        pyiceberg streams appends only into unpartitioned tables, so the batches are written as they come into
        data files of the table by `DataFileWriter` (one open Parquet writer per partition: memory stays bounded
        by the batch), and the transaction deletes `where` and adds those files only after the last batch. An
        exception from the stream (a file whose trailer does not match, found at its end) leaves the table
        untouched and deletes the files written. `table`: the load the caller's decision was made from (Iceberg
        validates the commit against what changed since)."""
        table = table or self.table(entity)
        writer = DataFileWriter(table)
        try:
            for batch in batches:
                writer.write(batch)
            files = writer.close()
        except BaseException:
            writer.abort()
            raise
        try:
            with table.transaction() as tx:
                tx.delete(where)
                append_files(tx, files)
        except BaseException:
            writer.abort()  # a refused commit references none of them; a retry writes new ones
            raise
        return writer.rows

    def read_batches(
        self, entity: Entity | str, where: BooleanExpression, columns: tuple[str, ...], dictionary: tuple[str, ...] = ()
    ) -> Iterator[pa.RecordBatch]:
        """The rows matching `where`, one data file at a time (`DataScan.to_arrow_batch_reader` reads every
        file of the scan at once on a thread pool: a 5M-row slice whole); `dictionary`: string columns read
        dictionary-encoded (a file's few distinct values of a lineage column cost almost nothing)."""
        from pyiceberg.io.pyarrow import ArrowScan

        if dictionary:
            _quiet_dictionary_notice()
        scan = self.table(entity).scan(row_filter=where, selected_fields=columns)
        reader = ArrowScan(
            scan.table_metadata, scan.io, scan.projection(), scan.row_filter, scan.case_sensitive,
            dictionary_columns=dictionary,
        )  # fmt: skip
        for task in scan.plan_files():
            yield from reader.to_record_batches([task])

    def read(
        self, entity: Entity | str, where: BooleanExpression | None = None, columns: tuple[str, ...] = ("*",)
    ) -> pa.Table:
        return self.table(entity).scan(row_filter=where or AlwaysTrue(), selected_fields=columns).to_arrow()


class _DictionaryNotice(logging.Filter):
    """pyiceberg warns, once per data file, that a dictionary-encoded column reads back as its value type: what
    `read_batches(dictionary=...)` asks for on purpose, so not a warning an operator should see on every landing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Iceberg does not have a dictionary type")


def _quiet_dictionary_notice() -> None:
    log = logging.getLogger("pyiceberg.io.pyarrow")
    if not any(isinstance(f, _DictionaryNotice) for f in log.filters):
        log.addFilter(_DictionaryNotice())


def _missing_partition_fields(entity: Entity, table: Table) -> list[tuple[str, Transform, str]]:
    """(source column, transform, name) of every field of the wanted spec the table's current spec lacks."""
    have = {(f.source_id, str(f.transform)) for f in table.spec().fields}
    schema = table.schema()
    wanted = iceberg_schema(entity)
    missing = []
    for f in partition_spec(entity).fields:
        column = wanted.find_column_name(f.source_id)
        assert column is not None
        if (schema.find_field(column).field_id, str(f.transform)) not in have:
            missing.append((column, f.transform, f.name))
    return missing
