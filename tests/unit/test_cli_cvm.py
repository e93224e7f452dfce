"""`fidc-lake cvm land`: published zips land from the command line; a mistake is one line and exit 2."""

from __future__ import annotations

import datetime as dt

import pytest

from fidc_assets.cli import main
from fidc_assets.sample.generator import generate_sample


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_ARCHIVE", "FIDC_CONFIG_DIR", "FIDC_CVM_INBOX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FIDC_HOME", str(tmp_path / "home"))
    return tmp_path


def test_land_names_each_month_and_what_it_dropped(home, capsys, monkeypatch):
    manifest = generate_sample(
        home / "sample", seed=3, funds=3, days=3, start=dt.date(2024, 7, 1), receivables_per_fund=60
    )
    assert manifest.cvm_dir is not None
    monkeypatch.setenv("FIDC_CVM_INBOX", str(manifest.cvm_dir))
    assert main(["cvm", "land"]) == 0
    out = capsys.readouterr().out
    # July's newest publication only (the re-publication folder), its two published duplicates dropped
    assert out.count("\n") == 1 and "2024-09-02/inf_mensal_fidc_202407.zip" in out, out
    assert "months 2024-07:" in out and "0 rejected (in lake.quarantine), 2 published duplicates dropped" in out, out


def test_land_refuses_a_file_that_is_not_a_report(home, capsys):
    other = home / "notes.zip"
    other.write_bytes(b"PK")
    assert main(["cvm", "land", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notes.zip: not a file named like" in err
