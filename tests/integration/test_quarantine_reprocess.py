"""The dead-letter queue: a rejected file kept and listed (`fidc-lake ingest`), and reprocessing after a fix."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from fidc_assets.cli import main
from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.asset_types import AssetTypeRegistry
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files
from fidc_assets.lib.ingest.reprocess import Selection, list_quarantine, reprocess
from fidc_assets.lib.ingest.specs import load_specs, match_file
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.settings import Settings
from tests.integration.test_concurrent_landing import live_rows, registry_problems

pytestmark = pytest.mark.integration


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    for var in ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_INBOX", "FIDC_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FIDC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _lake() -> Lake:
    settings = Settings.from_env()
    return Lake(settings.iceberg_catalog_uri, settings.warehouse)


def test_ingest_of_a_bad_file_keeps_its_bytes_and_a_quarantine_row(home: Path, tmp_path: Path, capsys):
    bad = tmp_path / "posicao_11222333000181_20240701.csv"
    bad.write_text("fundo_cnpj,data_posicao\n", encoding="utf-8")
    sha = hashlib.sha256(bad.read_bytes()).hexdigest()
    assert main(["ingest", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "archived and registered" in out and "FILE REJECTED (truncated_file)" in out
    lake = _lake()
    [reg] = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert (reg["sha256"], reg["status"]) == (sha, "quarantined")
    archived = [p for p in (home / "warehouse").rglob(f"{sha}*") if p.is_file()]
    assert [p.read_bytes() for p in archived] == [bad.read_bytes()]
    [row] = lake.read(canonical.QUARANTINE).to_pylist()
    assert (row["source_file_sha256"], row["reason_code"], row["line_number"]) == (sha, "truncated_file", None)
    assert main(["quarantine", "list", "--reason", "truncated_file"]) == 0
    listed = capsys.readouterr().out
    assert bad.name in listed and sha[:12] in listed and "whole file" in listed


def test_ingest_lands_and_previews_from_the_one_parse(home: Path, tmp_path: Path, capsys):
    from fidc_assets.sample.generator import generate_sample

    manifest = generate_sample(tmp_path / "sample", seed=3, funds=1, days=1, receivables_per_fund=30)
    stock = next(manifest.inbox_dir / n for n in manifest.files if n.startswith(("ESTOQUE_", "posicao_", "carteira_")))
    assert main(["ingest", str(stock), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "first 2 canonical rows" in out and "landed:" in out
    landed = sum(n for k, n in live_rows(_lake()).items() if k[0] == "receivable_positions")
    assert f"landed: {landed} rows" in out and landed > 0
    assert main(["ingest", str(stock)]) == 0  # again: the same delivery, its slice landed again, same rows
    assert "already received" in capsys.readouterr().out
    assert sum(n for k, n in live_rows(_lake()).items() if k[0] == "receivable_positions") == landed
    assert registry_problems(_lake()) == []


def test_reprocessing_after_a_registry_fix_lands_the_unknown_code_rows(tmp_path: Path):
    """The asset type registry lacks CH (cheque) when the files land; it is added; the rows land."""
    from fidc_assets.sample.generator import generate_sample

    manifest = generate_sample(tmp_path / "sample", seed=5, funds=4, days=1, receivables_per_fund=40)
    full = load_specs(CUSTODIANS_DIR)
    registry = next(iter(full.values())).asset_type_registry
    without_ch = AssetTypeRegistry(asset_types={k: v for k, v in registry.asset_types.items() if k != "CH"})
    old_specs = load_specs(CUSTODIANS_DIR, asset_types=without_ch)
    lake = Lake.local(tmp_path / "lake")
    files = []
    for name in manifest.files:
        p = manifest.inbox_dir / name
        m = match_file(name, old_specs)
        assert m is not None
        files.append((InboxFile(p, dt.datetime.fromtimestamp(p.stat().st_mtime, tz=dt.UTC)), m))
    receive_files(lake, files)
    land_slices(lake, old_specs, manifest.days)
    before = live_rows(lake)
    unknown = list_quarantine(lake, reason="unknown_code")
    assert unknown, "the sample has cheques (CH) in some fund's stock"
    quarantined_rows = sum(n for e in unknown for code, n in e.reasons if code == "unknown_code")

    deliveries, report = reprocess(lake, full, Selection(reason="unknown_code"))
    assert sorted(deliveries) == sorted(e.delivery for e in unknown)
    assert list_quarantine(lake, reason="unknown_code") == []
    after = live_rows(lake)
    assert sum(after.values()) == sum(before.values()) + quarantined_rows  # every rejected row landed
    assert max(after.values()) == 1  # once
    for e in unknown:  # exactly one version of each slice: the reprocessed file's rows, nothing else
        s = e.delivery.slice
        shas = {
            k[4] for k in after if (k[0], k[1], k[2], k[3]) == (s.entity, s.custodian_id, s.fund_cnpj, s.reference_date)
        }
        assert shas == {e.delivery.sha256}
    assert registry_problems(lake) == []
    assert report.rows_rejected == sum(
        n for e in list_quarantine(lake) for code, n in e.reasons if e.delivery in set(deliveries)
    )
