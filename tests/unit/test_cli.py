"""The command line a person types: what it prints and its exit codes."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from fidc_assets.cli import main
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR, SHIPPED_CONFIG_DIR
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


# --- a user's mistake is one line on stderr and a non-zero exit, never a traceback ----------------------------


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    return lines[0]


@pytest.fixture
def custodians(tmp_path: Path, monkeypatch) -> Path:
    """The custodians directory of a copy of the shipped configuration the commands read instead
    (FIDC_CONFIG_DIR; add a broken spec to it)."""
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG_DIR, config)
    monkeypatch.setenv("FIDC_CONFIG_DIR", str(config))
    return config / "custodians"


def test_ingest_with_a_spec_that_is_not_valid_yaml_is_one_line(sample_files: Path, custodians: Path, capsys):
    broken = custodians / "custodia_broken.yaml"
    broken.write_text("id: custodia_broken\nname: [Broken\nfiles: []\n", encoding="utf-8")
    name = next(p for p in sorted(sample_files.iterdir()) if p.name.startswith("carteira_"))
    assert main(["ingest", str(name), "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) == (
        f"fidc-lake: error: {broken}: not valid YAML at line 3, column 6: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence, from line 2)"
    )
    assert captured.out == ""


def test_custodian_check_reports_an_invalid_spec_on_one_line(tmp_path: Path, capsys):
    bad = tmp_path / "custodia_x.yaml"
    bad.write_text(
        "id: custodia_x\nname: X\nfiles:\n  - entity: receivable_positions\n    pattern: 'x'\n"
        "    format: {kind: delimited, delimiter: ';;'}\n    columns: {}\n  - {}\n",
        encoding="utf-8",
    )
    assert main(["custodian", "check", str(bad)]) == 2
    line = _one_line(capsys.readouterr().err)
    # every problem of the multi-line SpecError, joined: file, then key: what is wrong; found what
    assert line.startswith(f"fidc-lake: error: {bad}: invalid custodian spec | files.0.pattern: ")
    assert " | files.0.format.delimiter: must be a single character, got ';;'; found ';;' | " in line
    assert line.endswith(" | files.1.format: Field required | files.1.columns: Field required")


def test_custodian_check_rejects_an_unknown_token(tmp_path: Path, capsys):
    spec = tmp_path / "custodia_x.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            id: custodia_x
            name: X
            files:
              - entity: settlements
                pattern: '^X_(?P<fund>\\d{14})_(?P<date>\\d{8})\\.csv$'
                format: {kind: delimited}
                columns:
                  event_date: '@file_dat'
                  receivable_id: id
                  cedente_doc: cedente
                  kind: {default: liquidacao}
                  amount_paid: paid
            """
        ),
        encoding="utf-8",
    )
    assert main(["custodian", "check", str(spec)]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"fidc-lake: error: {spec}: invalid custodian spec | files.0.columns.event_date: unknown token "
        "'@file_dat'; expected a source column name or one of ['@file_date']"
    )
    spec.write_text(spec.read_text(encoding="utf-8").replace("@file_dat'", "@file_date'"), encoding="utf-8")
    assert main(["custodian", "check", str(spec)]) == 0  # the one token there is
    assert "event_date             ← @file_date" in capsys.readouterr().out


def test_ingest_limit_must_be_positive(sample_files: Path, capsys):
    """`--limit 0` crashed in the preview table; it is a usage error now (exit 2, argparse's code)."""
    name = next(p for p in sorted(sample_files.iterdir()) if p.name.startswith("carteira_"))
    for flag, value in (("--limit", "0"), ("--columns", "-1"), ("--limit", "five")):
        with pytest.raises(SystemExit) as exit_info:
            main(["ingest", str(name), "--dry-run", flag, value])
        assert exit_info.value.code == 2
        shown = value if value.lstrip("-").isdigit() else repr(value)
        assert _one_line(capsys.readouterr().err) == (
            f"fidc-lake ingest: error: argument {flag}: expected a positive whole number, got {shown} "
            "(`fidc-lake ingest -h` for help)"
        )


def test_ingest_unknown_custodian_is_one_line(sample_files: Path, capsys):
    name = next(p for p in sorted(sample_files.iterdir()) if p.name.startswith("carteira_"))
    assert main(["ingest", str(name), "--dry-run", "--custodian", "custodia_omega"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "fidc-lake: error: unknown custodian 'custodia_omega'; known: custodia_alfa, custodia_beta, "
        "custodia_delta, custodia_epsilon, custodia_gama, custodia_zeta"
    )


def test_ingest_a_file_no_spec_matches_is_one_line(tmp_path: Path, capsys):
    stray = tmp_path / "relatorio.pdf"
    stray.write_bytes(b"%PDF-1.4")
    assert main(["ingest", str(stray), "--dry-run", "--custodian", "custodia_alfa"]) == 2
    assert (
        _one_line(capsys.readouterr().err)
        == "fidc-lake: error: relatorio.pdf: matches no file pattern of custodia_alfa"
    )


def test_a_missing_input_file_is_one_line(tmp_path: Path, capsys):
    for argv in (["ingest", str(tmp_path / "nope.csv")], ["custodian", "check", str(tmp_path / "nope.yaml")]):
        assert main(argv) == 2
        assert _one_line(capsys.readouterr().err) == f"fidc-lake: error: {argv[-1]}: no such file"


def test_a_bad_settings_variable_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("FIDC_HOT_WINDOW_MONTHS", "zero")
    assert main(["db", "url"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("fidc-lake: error: FIDC_HOT_WINDOW_MONTHS") and "'zero'" in line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["history", "rollback", "2024-13"], "argument month: expected a month YYYY-MM, got '2024-13'"),
        (["history", "migrate", "--from", "july"], "argument --from: expected a month YYYY-MM, got 'july'"),
        (["history", "as-of", "yesterday"], "argument timestamp: expected an ISO timestamp like"),
        (["history", "recon", "--tolerance", "1c"], "argument --tolerance: expected a decimal number like 0.01"),
        (["sample", "--out", "x", "--start", "2024-02-30"], "argument --start: expected a date YYYY-MM-DD"),
        (["sample", "--out", "x", "--days", "0"], "argument --days: expected a positive whole number, got 0"),
    ],
)
def test_a_bad_argument_value_is_one_usage_line(argv: list[str], message: str, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"fidc-lake {argv[0]}") and message in line, line


def test_sample_needs_known_custodians(tmp_path: Path, capsys):
    assert main(["sample", "--out", str(tmp_path / "s"), "--custodians", "custodia_alfa,custodia_omega"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("fidc-lake: error: --custodians: unknown custodians ['custodia_omega']; known: [")
    assert not (tmp_path / "s").exists()


def test_sample_shadow_needs_shadow_days_within_the_sample(capsys):
    """Checked before any database is touched: one line, exit 2."""
    assert main(["sample", "shadow", "--days", "3", "--shadow-days", "5"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == "fidc-lake: error: --shadow-days must be between 1 and --days (3), got 5", line
    assert main(["sample", "shadow", "--shadow-days", "0"]) == 2
    assert "--shadow-days must be between 1 and --days (22), got 0" in _one_line(capsys.readouterr().err)


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only the project's user-mistake errors are shortened: anything else is a bug and propagates."""

    def broken(_args):
        raise KeyError("a bug")

    monkeypatch.setattr("fidc_assets.cli.custodian.cmd_custodian", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["custodian", "list"])


def test_ingest_lists_a_bounded_number_of_rejections(tmp_path: Path, capsys):
    """Issue 13, defect 3: the CLI printed one line per rejected row (848 MB for a hostile file)."""
    from tests.unit.test_adapters import NAME, csv, row

    path = tmp_path / NAME
    path.write_bytes(csv(*[row(f"R{i}") if i % 3 else "a;b" for i in range(3_000)]))
    assert main(["ingest", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count(": wrong_column_count:") == 20
    assert "1000 rejected" in out and "and 980 more rejected rows not listed" in out
