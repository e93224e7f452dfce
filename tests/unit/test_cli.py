"""The command line a person types: what it prints and its exit codes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fidc_assets.cli import main
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.sample.generator import generate_sample


def test_custodian_list_names_every_shipped_custodian(capsys):
    assert main(["custodian", "list"]) == 0
    out = capsys.readouterr().out
    for cid in (
        "custodia_alfa",
        "custodia_beta",
        "custodia_gama",
        "custodia_delta",
        "custodia_epsilon",
        "custodia_zeta",
    ):
        assert cid in out
    assert "fixed_width" in out and "json" in out and "xlsx" in out


def test_custodian_check_accepts_a_good_spec(capsys):
    assert main(["custodian", "check", str(CUSTODIANS_DIR / "custodia_epsilon.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid spec for custodia_epsilon" in out
    assert "settlements: fixed_width" in out


def test_custodian_check_explains_a_bad_spec(tmp_path: Path, capsys):
    bad = tmp_path / "custodia_x.yaml"
    bad.write_text(
        textwrap.dedent(
            """
            id: custodia_x
            name: X
            files:
              - entity: receivable_positions
                pattern: '^X_(?P<fund>\\d{14})_(?P<date>\\d{8})\\.csv$'
                format: {kind: delimited, encoding: ebcdic}
                columns: {fund_cnpj: A}
            """
        ),
        encoding="utf-8",
    )
    assert main(["custodian", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "files.0.format.encoding" in err and "'ebcdic'" in err


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-sample")
    generate_sample(out, seed=3, funds=6, days=1, receivables_per_fund=200, bad_row_rate=0.05)
    return out / "inbox"


def test_ingest_dry_run_previews_rows_and_every_rejection(sample_files: Path, capsys):
    name = next(p for p in sorted(sample_files.iterdir()) if p.name.startswith("carteira_"))
    assert main(["ingest", str(name), "--dry-run", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "custodia_beta / receivable_positions" in out
    assert "first 2 canonical rows" in out
    assert "dry run: nothing written" in out
    assert "line " in out  # the sample has corrupted rows at 5 %: each is listed with its reason


def test_ingest_reports_a_rejected_file(tmp_path: Path, capsys):
    bad = tmp_path / "posicao_11222333000181_20240701.csv"
    bad.write_text("fundo_cnpj,data_posicao\n", encoding="utf-8")
    assert main(["ingest", str(bad), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "FILE REJECTED (truncated_file)" in out


def test_ingest_refuses_a_file_no_custodian_sends(tmp_path: Path, capsys):
    stray = tmp_path / "relatorio.pdf"
    stray.write_bytes(b"%PDF-1.4")
    assert main(["ingest", str(stray), "--dry-run"]) == 2
    assert "matches no file pattern" in capsys.readouterr().err
