"""The faster landing writes what the previous implementation wrote: the same files landed twice, once through
today's path (one pass hashing and archiving; data files written batch by batch by `DataFileWriter`) and once
through the previous one, run here from its own code: sha256 first and a plain archive copy after
(`sha256_file` + `archive_file`), and the stream gathered into chunks appended with pyiceberg's
`Transaction.append` (the body of `Lake.replace_slice_streaming` before the rewrite, kept below as
`_previous_replace_slice_streaming`). Both lakes must hold the same canonical rows (every column but the
landing time), the same quarantine rows and the same registry rows, and the archive the received bytes.

What this covers: the receiving and writing paths that changed. The parse engine is the same code on both
sides (it did not change): its output is checked against the generator's truth by the other tests."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pytest
from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest import landing
from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake import archive, datafiles
from fidc_assets.lib.lake.archive import archived_path
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample

pytestmark = pytest.mark.integration

PREVIOUS_CHUNK_ROWS = 250  # the previous STREAM_CHUNK_ROWS was 250,000: small here so a file makes several chunks


def _previous_replace_slice_streaming(
    self: Lake, entity, batches: Iterable[pa.Table], where: BooleanExpression, table: Table | None = None
) -> int:
    """Lake.replace_slice_streaming as it was before the batch-by-batch writer (chunks, concat, cast, append)."""
    table = table or self.table(entity)
    schema = table.schema().as_arrow()
    written = 0
    with table.transaction() as tx:
        tx.delete(where)
        buffer: list[pa.Table] = []
        pending = 0
        for batch in batches:
            buffer.append(batch)
            pending += batch.num_rows
            if pending >= PREVIOUS_CHUNK_ROWS:
                tx.append(pa.concat_tables(buffer).cast(schema))
                written += pending
                buffer, pending = [], 0
        if buffer:
            tx.append(pa.concat_tables(buffer).cast(schema))
            written += pending
    return written


def _table(lake: Lake, name: str | canonical.Entity, drop: tuple[str, ...], order: list[str]) -> list[dict]:
    data = lake.read(name)
    data = data.drop_columns([c for c in drop if c in data.column_names])
    return data.sort_by([(c, "ascending") for c in order]).to_pylist()


def _land(root: Path, inbox: Path, days, previous: bool, monkeypatch) -> Lake:
    with monkeypatch.context() as m:
        m.setattr(landing, "BIG_FILE_BYTES", 0)  # every delivery streamed: the path that changed
        if previous:
            m.setattr(Lake, "replace_slice_streaming", _previous_replace_slice_streaming)
        else:
            m.setattr(datafiles, "MAX_FILE_BYTES", 1)  # a data file per batch: many files, several writers
        lake = Lake.local(root)
        specs = load_specs(CUSTODIANS_DIR)
        matched, _ = scan_inbox(inbox, specs)
        if previous:  # received as before: hashed first, then copied by archive_file (see _PreviousReceive)
            matched = [(InboxFile(f.path, f.delivered_at, cast(Any, _PreviousReceive())), fm) for f, fm in matched]
        received = receive_files(lake, matched)
        assert len(received.received) == len(matched)
        land_slices(lake, specs, days)
    return lake


class _PreviousReceive:
    """An inbox for the previous receiving path: `receive_files` stages (hashes while copying) only files of no
    inbox; for these it takes the sha256 from the inbox (here `sha256_file`, a whole read) and then copies with
    `archive_file` from `local_path`: the previous order, on the same local files."""

    def sha256(self, path: str) -> str:
        return archive.sha256_file(Path(path))

    def local_path(self, path: str):
        return contextlib.nullcontext(Path(path))


def test_landing_matches_the_previous_implementation(tmp_path: Path, monkeypatch):
    manifest = generate_sample(
        tmp_path / "sample", seed=11, funds=2, days=2, receivables_per_fund=700, bad_row_rate=0.02,
        custodians=("custodia_alfa", "custodia_epsilon", "custodia_gama", "custodia_zeta"),
    )  # fmt: skip
    inbox = manifest.inbox_dir
    new = _land(tmp_path / "new", inbox, manifest.days, previous=False, monkeypatch=monkeypatch)
    old = _land(tmp_path / "old", inbox, manifest.days, previous=True, monkeypatch=monkeypatch)

    for entity in ("receivable_positions", "acquisitions"):
        order = ["custodian_id", "fund_cnpj", "file_date", "source_line"]
        got, want = (_table(lake, entity, ("ingested_at",), order) for lake in (new, old))
        assert got, f"{entity}: nothing landed"
        assert got == want, entity
    q_order = ["custodian_id", "fund_cnpj", "reference_date", "file_name", "line_number", "reason_code"]
    got_q, want_q = (_table(lake, canonical.QUARANTINE, ("quarantined_at",), q_order) for lake in (new, old))
    assert any(r["line_number"] is not None for r in want_q), "the sample's bad rows reach the quarantine"
    assert got_q == want_q
    r_order = ["custodian_id", "entity", "fund_cnpj", "reference_date", "sha256"]
    drop = ("received_at", "processed_at")  # file times and landing times; the archive URI differs by lake root
    got_r, want_r = (_table(lake, canonical.FILE_REGISTRY, drop, r_order) for lake in (new, old))
    for r in (*got_r, *want_r):
        r["archive_uri"] = r["archive_uri"].split("/raw/", 1)[1]
    assert got_r == want_r
    # the archive holds the received bytes, under their sha256, in both
    for r in new.read(canonical.FILE_REGISTRY).to_pylist():
        with archived_path(r["archive_uri"]) as path:
            data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
        assert data == (inbox / r["original_name"]).read_bytes()
    assert not list((tmp_path / "new" / "warehouse" / "raw" / "_incoming").iterdir()), "no staged copy left"
