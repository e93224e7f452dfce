"""The one engine that reads every custodian file through its YAML spec.

No custodian has Python of its own: a format reader (`fidc_assets.lib.ingest.readers`) splits the bytes into text
columns with line numbers; `convert` types them with vectorized kernels, applies the spec's mapping, value
maps, document normalization and the asset type registry; `duplicates` rejects repeated business keys; this
module streams the batches through those steps and sorts rows into accepted and rejected (file, line, field,
reason code, message, raw text). Whatever makes the whole file unusable (encoding, missing columns, a trailer
whose control totals disagree, a truncated file, a ZIP that expands too far) raises `FileRejected`: nothing of
such a file is written anywhere but the raw archive and the quarantine.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as _compute

from fidc_assets.lib.core.canonical import ENTITIES, Entity, arrow_schema
from fidc_assets.lib.ingest.adapters.convert import (
    Batch,
    convert_batch,
    effective_formats,
    source_name,
)
from fidc_assets.lib.ingest.adapters.duplicates import KeyIndex, mark_duplicates
from fidc_assets.lib.ingest.adapters.reasons import row_message
from fidc_assets.lib.ingest.readers import (
    FileRejected,
    RawBatch,
    RawReader,
    RejectedRow,
    Rejections,
    Source,
    open_reader,
    unpack_archive,
)
from fidc_assets.lib.ingest.readers.common import MAX_REJECTED_SHARE, REJECTED_ROWS_KEPT, too_many_rejected
from fidc_assets.lib.ingest.readers.unpack import remove_extracted
from fidc_assets.lib.ingest.specs import FILE_DATE_COLUMN, FileMatch

#: pyarrow.compute's kernels (add, if_else, ...) are generated when it is imported, so a type checker cannot see
#: them: typed as Any here rather than silenced line by line.
pc: Any = _compute


@dataclass
class ParseResult:
    """Accepted canonical rows (lineage filled) and the rejected rows: `rejected_count` of them in all, the
    first `REJECTED_ROWS_KEPT` (by line) in `rejected` with their reason and text."""

    entity: Entity
    rows: pa.Table
    rejected: list[RejectedRow] = field(default_factory=list)
    trailer_checked: bool = False
    streamed_rows: int | None = None  # set when the rows went straight to the lake instead of `rows`
    rejected_count: int | None = None  # None: as many as `rejected` holds

    @property
    def rows_rejected(self) -> int:
        """Every rejected row, including those not kept in `rejected`."""
        return len(self.rejected) if self.rejected_count is None else self.rejected_count

    @property
    def rejected_not_kept(self) -> int:
        return self.rows_rejected - len(self.rejected)

    @property
    def accepted_count(self) -> int:
        return self.rows.num_rows if self.streamed_rows is None else self.streamed_rows

    @property
    def control_totals(self) -> dict[str, str | int | bool]:
        totals: dict[str, str | int | bool] = {
            "rows_accepted": self.accepted_count,
            "rows_rejected": self.rows_rejected,
            "trailer_checked": self.trailer_checked,
        }
        for name in ("nominal_value", "present_value", "acquisition_value", "amount_paid", "net_assets"):
            if name in self.rows.column_names:
                total = pc.sum(self.rows[name]).as_py()
                totals[f"sum_{name}"] = str(total if total is not None else Decimal("0.00"))
        return totals


def _drop_blank_rows(raw: pa.Table, lines: pa.Array) -> tuple[pa.Table, pa.Array]:
    """Blank lines (all fields empty) are not rows: custodians' exports often end with a few."""
    if not raw.num_columns or not pc.any(pc.fill_null(pc.equal(raw.column(0), ""), True)).as_py():
        return raw, lines  # a blank line always has an empty first field: most batches stop here
    blank = None
    for column in raw.columns:
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None or not pc.any(blank).as_py():
        return raw, lines
    keep = pc.invert(blank)
    return raw.filter(keep), lines.filter(keep)


def _check_columns(reader: RawReader, match: FileMatch, name: str) -> None:
    cmaps = match.file_spec.column_maps().values()
    needed = sorted(
        {c.column for c in cmaps if c.column and c.column != FILE_DATE_COLUMN}
        | {c.document_kind.column for c in cmaps if c.document_kind}
    )
    missing = [c for c in needed if c not in reader.names]
    if missing:
        raise FileRejected(
            "missing_columns",
            f"{name}: the header lacks the column(s) {', '.join(missing)} required by the layout of "
            f"{match.custodian.name}. Found: {', '.join(reader.names)}.",
        )


def _prefetch(batches: Iterator, depth: int = 1) -> Iterator:
    """Read the next batch in a background thread while this one is converted (Arrow's CSV parser releases
    the GIL): reading and converting overlap on two cores. Exceptions reach the consumer in order."""
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((done, None))
        except BaseException as e:  # handed to the consumer, raised there
            slots.put((done, e))

    worker = threading.Thread(target=produce, name="fidc-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


class FileParse:
    """One file through the engine, streaming: iterate `accepted_batches()` once; every check runs as it goes
    and the last ones (trailer control totals) before the iterator ends, raising `FileRejected` if they fail.
    A consumer that writes the batches inside one transaction (an Iceberg overwrite) therefore commits either
    the whole file or nothing. After the iteration, `rejected_count` counts every rejected row and `rejected`
    holds the first REJECTED_ROWS_KEPT of them (by line); a file with too many (readers.common's
    MAX_REJECTED_ROWS, MAX_REJECTED_SHARE) is rejected whole (`too_many_rejected_rows`)."""

    def __init__(self, source: Source, name: str, match: FileMatch, sha256: str, ingested_at: dt.datetime):
        self.match, self.sha256, self.ingested_at = match, sha256, ingested_at
        self.source, self.name = unpack_archive(source, name, match.file_spec)
        # a ZIP's member was extracted to a temporary file: removed by close() (or when this object goes)
        self._cleanup = weakref.finalize(self, remove_extracted, self.source) if self.source is not source else None
        try:
            self.entity = ENTITIES[match.file_spec.entity]
            self.reader = open_reader(self.source, self.name, match.file_spec)
            self.cmaps = match.file_spec.column_maps()
            self.vf = effective_formats(match)
            _check_columns(self.reader, match, self.name)
        except BaseException:
            self.close()
            raise
        self._rejections = Rejections(self.name)
        self.rejected: list[RejectedRow] = []
        self.rejected_count = 0
        self.rows_accepted = 0
        self.data_records = 0
        self.trailer_checked = False
        self._sums: dict[str, Decimal] = {}
        self._unverifiable: set[str] = set()

    def close(self) -> None:
        """Remove the temporary file a ZIP's member was extracted to, if any."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> FileParse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def accepted_batches(self) -> Iterator[pa.Table]:
        index = KeyIndex()
        totals_fields = self._trailer_sum_fields()
        # A two-stage pipeline: batch N+1 is converted (fields in parallel) while batch N is checked for
        # duplicates, added up and handed to the consumer; order is kept.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fidc-batch") as stage:
            pending = None
            for raw in _prefetch(self.reader.batches()):
                converting = stage.submit(self._convert, raw)
                if pending is not None:
                    yield from self._finish(pending.result(), index, totals_fields)
                pending = converting
            if pending is not None:
                yield from self._finish(pending.result(), index, totals_fields)
        invalid = self.reader.invalid
        self.data_records += invalid.total
        if not self.data_records:
            raise FileRejected("no_rows", f"{self.name}: the file has a header but no data rows.")
        self.rejected_count = invalid.total + self._rejections.total
        if self.rejected_count > max(REJECTED_ROWS_KEPT, MAX_REJECTED_SHARE * self.data_records):
            raise too_many_rejected(
                self.name,
                self.rejected_count,
                f"{self.rejected_count:,} of its {self.data_records:,} rows "
                f"({self.rejected_count / self.data_records:.0%}) were rejected",
            )
        self.trailer_checked = self._check_trailer()
        # each source kept its first rows: the first REJECTED_ROWS_KEPT of both together are among them
        rejected = sorted([*invalid.rows, *self._rejections.rows], key=lambda r: r.line_number)
        self.rejected = _with_raw_text(rejected[:REJECTED_ROWS_KEPT], self.reader)

    def collect(self) -> ParseResult:
        """Every accepted row in one table (for files small enough to hold), with the rejected rows."""
        tables = list(self.accepted_batches())
        schema = arrow_schema(self.entity)
        rows = pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()
        return ParseResult(self.entity, rows, self.rejected, self.trailer_checked, None, self.rejected_count)

    def stream_into(self, sink) -> ParseResult:
        """Hand the accepted batches to `sink` (which consumes the iterator, e.g. an Iceberg transaction);
        the result carries the rejected rows and the count, not the rows."""
        sink(self.accepted_batches())
        empty = arrow_schema(self.entity).empty_table()
        result = ParseResult(self.entity, empty, self.rejected, self.trailer_checked, None, self.rejected_count)
        result.streamed_rows = self.rows_accepted
        return result

    def _convert(self, raw: RawBatch) -> Batch | None:
        table, lines = _drop_blank_rows(raw.table, raw.lines)
        if not table.num_rows:
            return None
        return convert_batch(table, lines, self.match, self.entity, self.sha256, self.ingested_at)

    def _finish(self, batch: Batch | None, index: KeyIndex, totals_fields: list[str]) -> Iterator[pa.Table]:
        if batch is None:
            return
        mark_duplicates(batch, self.entity, self.cmaps, index)
        reason, field = batch.problems.arrays()
        self.data_records += batch.canonical.num_rows
        self._add_totals(batch, field, totals_fields)
        self._collect_rejected(batch, reason, field)
        clean = reason.null_count == len(reason)
        good = batch.canonical if clean else batch.canonical.filter(pc.is_null(reason))
        schema = arrow_schema(self.entity)
        if not good.schema.equals(schema):
            good = good.cast(schema)
        self.rows_accepted += good.num_rows
        if good.num_rows:
            yield good

    def _trailer_sum_fields(self) -> list[str]:
        trailer = getattr(self.match.file_spec.format, "trailer", None)
        return list(trailer.sums) if trailer else []

    def _add_totals(self, batch: Batch, field: pa.Array, fields: list[str]) -> None:
        for name in fields:
            source = pa.scalar(source_name(self.cmaps, name), pa.string())
            if pc.any(pc.fill_null(pc.equal(field, source), False)).as_py():
                self._unverifiable.add(name)  # an unreadable value cannot be added up
            total = pc.sum(batch.canonical[name]).as_py() or Decimal("0")
            self._sums[name] = self._sums.get(name, Decimal("0")) + total

    def _collect_rejected(self, batch: Batch, reason: pa.Array, field: pa.Array) -> None:
        """Count the batch's rejected rows; only those still wanted in detail become RejectedRow objects (a file
        of millions of bad rows must not make millions of them). Past the limit, the file is rejected whole."""
        count = len(reason) - reason.null_count
        if not count:
            return
        rejections = self._rejections
        room = max(0, rejections.keep - len(rejections.rows))
        bad: list[int] = pc.indices_nonzero(pc.is_valid(reason)).slice(0, room).to_pylist() if room else []
        lines = batch.canonical["source_line"]
        for i in bad:
            col, code = field[i].as_py(), reason[i].as_py()
            value = batch.raw.column(col)[i].as_py() if col in batch.raw.column_names else None
            rejections.rows.append(RejectedRow(lines[i].as_py(), col, code, row_message(code, col, value, self.vf)))
        rejections.count(count, lines[-1].as_py(), also=self.reader.invalid.total)

    def _check_trailer(self) -> bool:
        """Compare the trailer's control totals with what was read; a difference rejects the whole file."""
        totals = self.reader.trailer_totals()
        if totals is None:
            return False
        if totals.record_count is not None and totals.record_count != self.data_records:
            raise FileRejected(
                "control_totals_mismatch",
                f"{self.name}: the trailer says {totals.record_count} records but the file has {self.data_records}; "
                "the file is incomplete or was altered. Please resend it.",
            )
        for name, expected in totals.sums.items():
            if name in self._unverifiable:
                continue  # rows with an unreadable value are quarantined; their total cannot be verified
            actual = self._sums.get(name, Decimal("0"))
            if actual != expected:
                raise FileRejected(
                    "control_totals_mismatch",
                    f"{self.name}: the trailer's total of {name} is {expected} but the records add up to {actual}. "
                    "Please check and resend the file.",
                )
        return True


def parse_bytes(data: Source, name: str, match: FileMatch, sha256: str, ingested_at: dt.datetime) -> ParseResult:
    """Parse one received file completely into canonical rows and rejected rows (small files, tests, CLI)."""
    with FileParse(data, name, match, sha256, ingested_at) as parse:
        return parse.collect()


def _with_raw_text(rejected: list[RejectedRow], reader: RawReader) -> list[RejectedRow]:
    """Attach each rejected row's original text, for the quarantine."""
    wanted = {r.line_number for r in rejected if r.raw_text is None}
    if not wanted:
        return rejected
    texts = reader.raw_texts(wanted)
    return [
        r
        if r.raw_text is not None
        else RejectedRow(r.line_number, r.field, r.reason_code, r.message, texts.get(r.line_number))
        for r in rejected
    ]
