"""`fidc-lake status`: the table per fund and custodian, and the exit status (1 while a due file is missing)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fidc_assets.cli import main
from fidc_assets.cli.status import FLAGGED, cmd_status
from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample

DAY = dt.date(2024, 7, 31)
EVENING = dt.datetime(2024, 7, 31, 20, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))


def test_status_prints_the_table_and_exits_1_until_the_stock_arrives(tmp_path: Path, monkeypatch, capsys):
    sample = generate_sample(tmp_path / "sample", seed=42, funds=1, days=1, start=DAY, receivables_per_fund=20)
    home = tmp_path / "home"
    monkeypatch.setenv("FIDC_HOME", str(home))
    monkeypatch.setenv("FIDC_FUNDS", str(sample.out_dir / REGISTRY_FILE_NAME))
    for var in ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    from fidc_assets.settings import Settings

    settings = Settings.from_env()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse)
    matched, _ = scan_inbox(sample.inbox_dir, load_specs(CUSTODIANS_DIR))
    [fund] = [f.cnpj for f in sample.funds]
    receive_files(lake, [(f, m) for f, m in matched if m.file_spec.entity != "receivable_positions"])

    args = argparse.Namespace(date=DAY)
    assert cmd_status(args, now=EVENING) == FLAGGED
    out = capsys.readouterr().out
    assert "deliveries for 2024-07-31" in out
    header = next(line for line in out.splitlines() if line.startswith("fund"))
    assert header.split() == ["fund", "custodian", "expected", "received", "accepted", "quarantined", "late",
                              "missing", "pending"]  # fmt: skip
    alfa = next(line for line in out.splitlines() if line.startswith(f"{fund}  custodia_alfa"))
    assert alfa.split()[2:] == ["1", "0", "0", "0", "1", "1", "0"]
    assert f"{fund} custodia_alfa receivable_positions: missing, late (due 2024-07-31T19:00-03:00)" in out

    receive_files(lake, [(f, m) for f, m in matched if m.file_spec.entity == "receivable_positions"])
    assert cmd_status(args, now=EVENING) == 0
    alfa = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"{fund}  custodia_alfa"))
    assert alfa.split()[2:] == ["1", "1", "0", "0", "1", "0", "0"]  # received (not landed yet), late


def test_status_on_a_holiday_and_with_a_bad_date(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.setenv("FIDC_HOME", str(tmp_path))
    assert main(["status", "--date", "2024-12-25"]) == 0
    assert "not an ANBIMA business day" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--date", "31/07/2024"])
    assert exit_.value.code == 2 and "expected a date YYYY-MM-DD" in capsys.readouterr().err


def test_status_with_a_bad_registry_is_one_line(monkeypatch, tmp_path: Path, capsys):
    bad = tmp_path / "funds.yaml"
    bad.write_text('managers: [{id: "evil\\n", name: x}]\n', encoding="utf-8")
    monkeypatch.setenv("FIDC_HOME", str(tmp_path))
    monkeypatch.setenv("FIDC_FUNDS", str(bad))
    assert main(["status", "--date", "2024-07-31"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "lower-case letters" in err
