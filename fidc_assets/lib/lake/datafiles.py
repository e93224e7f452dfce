"""Iceberg data files written as batches arrive: one open Parquet writer per partition, rolled at the table's
target file size, so a stream of any length costs the memory of one batch.

pyiceberg 0.12 streams appends only into unpartitioned tables (`Transaction.append` of a RecordBatchReader);
for a partitioned table it wants the whole `pa.Table`, splits it by partition (a filtered copy each) and
writes each part. `DataFileWriter` writes the same files with pyiceberg's own pieces (the table's file schema
with field ids, its location provider, its Parquet writer and statistics), a batch at a time; `append_files`
adds them to a transaction (a fast append, as `Transaction.append` does by default). Until that transaction
commits, the files are referenced by nothing: `abort` deletes them when the stream fails.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as _compute
from pyiceberg.io import OutputFile
from pyiceberg.io.fileformat import FileFormatFactory, FileFormatWriter
from pyiceberg.io.pyarrow import (
    _check_pyarrow_schema_compatible,
    _determine_partitions,
    _to_requested_schema,
    pyarrow_to_schema,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.schema import Schema, sanitize_column_names
from pyiceberg.table import Table, TableProperties, Transaction
from pyiceberg.table.locations import load_location_provider
from pyiceberg.typedef import Record
from pyiceberg.utils.properties import property_as_int

pc: Any = _compute

#: Roll a data file after this many Arrow bytes; None: the table's `write.target-file-size-bytes` (tests set it
#: small to get many files from a small stream).
MAX_FILE_BYTES: int | None = None


@dataclass
class _OpenFile:
    path: str
    output: OutputFile
    writer: FileFormatWriter
    key: PartitionKey | None
    nbytes: int = 0  # Arrow bytes written (pyiceberg's measure of the target file size)


class DataFileWriter:
    """Writes Arrow tables (the table's columns, by name) into new data files of `table`; `close()` returns
    them as DataFiles for `append_files`."""

    def __init__(self, table: Table):
        self.meta = table.metadata
        self.io = table.io
        self.schema = self.meta.schema()
        self.spec = self.meta.spec()
        sanitized = sanitize_column_names(self.schema)
        self.file_schema: Schema = sanitized if sanitized != self.schema else self.schema
        self.format = FileFormat.PARQUET
        self.model = FileFormatFactory.get(self.format)
        self.locations = load_location_provider(self.meta.location, self.meta.properties)
        self.target_bytes: int = MAX_FILE_BYTES or property_as_int(  # type: ignore[assignment]  # has a default
            self.meta.properties,
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
        )
        self.write_uuid = uuid.uuid4()
        self._ids = itertools.count()
        self._task_schema: Schema | None = None
        self._arrow_schema: pa.Schema | None = None
        self._open: dict[tuple, _OpenFile] = {}
        self._written: list[str] = []
        self.files: list[DataFile] = []
        self.rows = 0

    def write(self, data: pa.Table) -> None:
        if not data.num_rows:
            return
        if self._task_schema is None or self._arrow_schema is None or not data.schema.equals(self._arrow_schema):
            _check_pyarrow_schema_compatible(
                self.schema, provided_schema=data.schema, format_version=self.meta.format_version
            )
            self._task_schema = pyarrow_to_schema(
                data.schema, name_mapping=self.schema.name_mapping, format_version=self.meta.format_version
            )
            self._arrow_schema = data.schema
        for key, part in self._partitions(data):
            self._write_part(key, part)
        self.rows += data.num_rows

    def _partitions(self, data: pa.Table) -> list[tuple[PartitionKey | None, pa.Table]]:
        """The batch by partition; a batch of one partition (a file is one fund, its rows one month) as is."""
        if self.spec.is_unpartitioned():
            return [(None, data)]
        values = []
        for f in self.spec.fields:
            source = self.schema.find_field(f.source_id)
            column = data.column(self.schema.find_column_name(f.source_id) or source.name)
            transformed = f.transform.pyarrow_transform(source.field_type)(cast(Any, column))  # chunked: fine
            if transformed.null_count:
                break
            bounds = pc.min_max(transformed)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low != high:
                break
            values.append(PartitionFieldValue(f, low))
        else:
            return [(PartitionKey(field_values=values, partition_spec=self.spec, schema=self.schema), data)]
        return [(p.partition_key, p.arrow_table_partition) for p in _determine_partitions(self.spec, self.schema, data)]

    def _write_part(self, key: PartitionKey | None, part: pa.Table) -> None:
        assert self._task_schema is not None
        ident = tuple(v.value for v in key.field_values) if key is not None else ()
        current = self._open.get(ident)
        if current is None:
            current = self._open[ident] = self._new_file(key)
        for batch in part.to_batches():
            projected = _to_requested_schema(
                requested_schema=self.file_schema,
                file_schema=self._task_schema,
                batch=batch,
                include_field_ids=True,
                format_model=self.model,
            )
            current.writer.write(pa.Table.from_batches([projected]))
            current.nbytes += batch.nbytes
        if current.nbytes >= self.target_bytes:
            self._finish(self._open.pop(ident))

    def _new_file(self, key: PartitionKey | None) -> _OpenFile:
        name = f"00000-{next(self._ids)}-{self.write_uuid}.{self.model.file_extension()}"
        path = self.locations.new_data_location(data_file_name=name, partition_key=key)
        output = self.io.new_output(path)
        self._written.append(path)
        return _OpenFile(path, output, self.model.create_writer(output, self.file_schema, self.meta.properties), key)

    def _finish(self, f: _OpenFile) -> None:
        stats = f.writer.close()
        self.files.append(
            DataFile.from_args(
                content=DataFileContent.DATA,
                file_path=f.path,
                file_format=self.format,
                partition=f.key.partition if f.key is not None else Record(),
                file_size_in_bytes=len(f.output),
                sort_order_id=None,
                spec_id=self.meta.default_spec_id,
                equality_ids=None,
                key_metadata=None,
                **stats.to_serialized_dict(),
            )
        )

    def close(self) -> list[DataFile]:
        for ident in list(self._open):
            self._finish(self._open.pop(ident))
        return self.files

    def abort(self) -> None:
        """Delete every file written (the stream failed: no snapshot will reference them)."""
        for f in self._open.values():
            try:
                f.writer.close()
            except Exception:  # noqa: BLE001, S110 - a half-written file is deleted just below
                pass
        self._open.clear()
        for path in self._written:
            try:
                self.io.delete(path)
            except (FileNotFoundError, OSError):
                pass
        self._written.clear()


def append_files(tx: Transaction, files: list[DataFile], snapshot_properties: dict[str, str] | None = None) -> None:
    """Add written data files to a transaction (one fast-append snapshot), as `Transaction.append` does."""
    if not files:
        return
    with tx.update_snapshot(snapshot_properties=snapshot_properties or {}).fast_append() as append:
        for f in files:
            append.append_data_file(f)
