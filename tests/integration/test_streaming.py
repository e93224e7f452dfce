"""Big deliveries stream into their own Iceberg transaction: same rows as the in-memory path, and a file whose
trailer disagrees (found only at its end) leaves the table exactly as it was."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest import landing as ingest
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake import datafiles
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to
from fidc_assets.sample.generator import generate_sample
from fidc_assets.sample.truth import read_positions_truth

pytestmark = pytest.mark.integration


@pytest.fixture()
def streaming(monkeypatch):
    """Every delivery counts as big, and every batch goes to its own data file: the streaming path, many files."""
    monkeypatch.setattr(ingest, "BIG_FILE_BYTES", 0)
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 1)


def _positions(lake: Lake) -> dict:
    out: dict = defaultdict(lambda: [0, Decimal("0"), Decimal("0")])
    for r in lake.read(canonical.RECEIVABLE_POSITIONS).to_pylist():
        acc = out[(r["custodian_id"], r["fund_cnpj"], r["reference_date"])]
        acc[0] += 1
        acc[1] += r["nominal_value"]
        acc[2] += r["present_value"]
    return {k: tuple(v) for k, v in out.items()}


def test_streamed_deliveries_land_the_truth(tmp_path: Path, streaming):
    manifest = generate_sample(
        tmp_path / "sample", seed=5, funds=4, days=2, receivables_per_fund=400,
        custodians=("custodia_alfa", "custodia_beta", "custodia_gama", "custodia_delta"),
    )  # fmt: skip
    lake = Lake.local(tmp_path)
    specs = load_specs(CUSTODIANS_DIR)
    matched, _ = scan_inbox(manifest.inbox_dir, specs)
    receive_files(lake, matched)
    report = land_slices(lake, specs, manifest.days)
    truth = {k: t.totals for k, t in read_positions_truth(manifest.truth_dir).items()}
    assert _positions(lake) == truth
    assert report.rows_accepted == sum(t[0] for t in truth.values()) + sum(
        s.rows_accepted for s in report.slices if s.entity != "receivable_positions"
    )
    registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert {r["status"] for r in registry} == {"accepted"}


def test_a_streamed_file_failing_its_trailer_changes_nothing(tmp_path: Path, streaming):
    manifest = generate_sample(tmp_path / "sample", seed=5, funds=1, days=1, receivables_per_fund=300,
                               custodians=("custodia_delta",))  # fmt: skip
    lake = Lake.local(tmp_path)
    specs = load_specs(CUSTODIANS_DIR)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stock = next(f for f in manifest.files if f.startswith("posicao_"))
    (inbox / stock).write_bytes((manifest.inbox_dir / stock).read_bytes())
    matched, _ = scan_inbox(inbox, specs)
    receive_files(lake, matched)
    land_slices(lake, specs, manifest.days)
    before = _positions(lake)
    assert before

    # a corrected delivery whose trailer claims one record more than it has: found only after streaming it all
    lines = (manifest.inbox_dir / stock).read_text(encoding="utf-8").splitlines()
    parts = lines[-1].split(",")
    parts[1] = str(int(parts[1]) + 1)
    corrected = inbox / stock  # delta's names have no suffix slot: the new bytes arrive under the same name
    corrected.write_text("\n".join([*lines[:-1], ",".join(parts)]) + "\n", encoding="utf-8")
    later = time.time() + 60
    os.utime(corrected, (later, later))
    matched, _ = scan_inbox(inbox, specs)
    receive_files(lake, matched)
    report = land_slices(lake, specs, manifest.days)

    assert report.files_quarantined == 1
    assert _positions(lake) == before
    q = lake.read(canonical.QUARANTINE, equal_to("reason_code", "control_totals_mismatch")).to_pylist()
    assert len(q) == 1 and "trailer says" in q[0]["message"]
