"""The configuration directory: `config init` copies the shipped one, commands and specs read FIDC_CONFIG_DIR,
and a spec is checked against the asset type registry of its own configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fidc_assets.cli import main
from fidc_assets.config_init import write_config_dir
from fidc_assets.lib.core.asset_types import load_asset_types
from fidc_assets.lib.core.errors import SpecError
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR, SHIPPED, SHIPPED_CONFIG_DIR
from fidc_assets.lib.ingest.specs import load_specs, match_file
from fidc_assets.settings import Settings, SettingsError
from tests.unit.test_adapters import NAME, csv, parse, row

#: The registry as it was before the CVM/ANBIMA additions: dbt's dim_asset_type and the lake hold these.
ORIGINAL_CODES = {
    "DM": ("Duplicata mercantil", "duplicata", None),
    "DS": ("Duplicata de serviço", "duplicata", None),
    "CCB": ("Cédula de crédito bancário", "ccb", None),
    "CH": ("Cheque", "cheque", None),
    "CC": ("Recebível de cartão de crédito", "cartao", None),
    "NC": ("Nota comercial", "nota_comercial", None),
    "PRE": ("Precatório", "precatorio", None),
    "CPR": ("Cédula de produto rural", "cpr", None),
    "CON": ("Contrato (outros direitos creditórios)", "contrato", None),
    "EXP": ("Recebível de exportação", "exportacao", "USD"),
}


def _shipped_files() -> list[Path]:
    return sorted(
        p.relative_to(SHIPPED_CONFIG_DIR)
        for p in SHIPPED_CONFIG_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_config_init_writes_a_copy_of_every_shipped_file(tmp_path: Path):
    target = tmp_path / "deploy" / "config"
    written = write_config_dir(target)
    relative = [p.relative_to(target) for p in written]
    assert relative == _shipped_files()
    for rel in relative:
        assert (target / rel).read_bytes() == (SHIPPED_CONFIG_DIR / rel).read_bytes()
    assert {Path("custodians/layouts/cnab444.yaml"), Path("reference/asset_types.yaml"),
            Path("reference/fx_rates.csv"), Path("legacy/sifidc.yaml")} <= set(relative)  # fmt: skip


def test_the_copy_is_a_configuration_the_settings_accept(tmp_path: Path):
    target = tmp_path / "config"
    write_config_dir(target)
    config = Settings.from_env({"FIDC_HOME": str(tmp_path / "home"), "FIDC_CONFIG_DIR": str(target)}).config
    assert config.dir == target.resolve()
    assert config.custodians_dir == target.resolve() / "custodians"
    assert config.asset_types_file == target.resolve() / "reference" / "asset_types.yaml"
    assert config.fx_rates_file == target.resolve() / "reference" / "fx_rates.csv"
    assert config.legacy_mapping_file == target.resolve() / "legacy" / "sifidc.yaml"
    assert config.cvm_spec_file == target.resolve() / "cvm" / "inf_mensal.yaml"  # the deployment's CVM spec
    assert sorted(load_specs(config.custodians_dir)) == sorted(load_specs(CUSTODIANS_DIR))


def test_unset_the_settings_use_the_shipped_configuration(tmp_path: Path):
    config = Settings.from_env({"FIDC_HOME": str(tmp_path)}).config
    assert config.dir == SHIPPED_CONFIG_DIR
    assert config.custodians_dir == SHIPPED.custodians
    assert config.asset_types_file == SHIPPED.asset_types


def test_config_init_accepts_an_existing_empty_directory(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    assert write_config_dir(tmp_path / "empty")


def test_config_init_never_overwrites_a_configuration(tmp_path: Path):
    target = tmp_path / "config"
    target.mkdir()
    (target / "custodia_mine.yaml").write_text("id: custodia_mine\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"config init: .*config is not empty; expected a new or empty directory"):
        write_config_dir(target)
    assert [p.name for p in target.iterdir()] == ["custodia_mine.yaml"]


def test_config_init_refuses_a_file(tmp_path: Path):
    target = tmp_path / "config.yaml"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(SettingsError, match="is a file; expected a new or empty directory"):
        write_config_dir(target)


def test_the_config_init_command(tmp_path: Path, capsys):
    target = tmp_path / "config"
    assert main(["config", "init", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{len(_shipped_files())} files written to {target.resolve()}" in out
    assert f"export FIDC_CONFIG_DIR={target.resolve()}" in out
    assert main(["config", "init", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not empty" in err


def test_commands_read_the_custodians_of_fidc_config_dir(tmp_path: Path, capsys, monkeypatch):
    target = tmp_path / "config"
    write_config_dir(target)
    alfa = (target / "custodians" / "custodia_alfa.yaml").read_text(encoding="utf-8")
    (target / "custodians" / "custodia_kappa.yaml").write_text(
        alfa.replace("id: custodia_alfa", "id: custodia_kappa").replace("ESTOQUE_", "KAPPA_"), encoding="utf-8"
    )
    (target / "custodians" / "custodia_beta.yaml").unlink()
    monkeypatch.setenv("FIDC_CONFIG_DIR", str(target))
    assert main(["custodian", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "custodia_kappa" in listed and "custodia_beta" not in listed and "custodia_alfa" in listed


def test_a_bad_fidc_config_dir_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("FIDC_CONFIG_DIR", str(tmp_path / "nowhere"))
    assert main(["custodian", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "FIDC_CONFIG_DIR must be a directory holding custodians/" in err and "nowhere" in err


def test_the_registry_is_the_one_of_the_specs_configuration(tmp_path: Path):
    """A code a deployment adds to its own reference/asset_types.yaml is accepted for its custodians only."""
    target = tmp_path / "config"
    write_config_dir(target)
    registry = target / "reference" / "asset_types.yaml"
    registry.write_text(
        registry.read_text(encoding="utf-8") + "  RCB: {name: Recebível de royalties, category: royalties}\n",
        encoding="utf-8",
    )
    deployed = load_specs(target / "custodians")
    assert "RCB" in deployed["custodia_alfa"].asset_type_registry.asset_types
    data = csv(row("R1", TIPO_RECEBIVEL="RCB"))

    deployed_match, shipped_match = match_file(NAME, deployed), match_file(NAME, load_specs(CUSTODIANS_DIR))
    assert deployed_match is not None and shipped_match is not None
    accepted = parse(data, deployed_match)
    assert (accepted.rows.num_rows, accepted.rows["asset_type"].to_pylist()) == (1, ["RCB"])

    shipped = parse(data, shipped_match)
    assert shipped.rows.num_rows == 0
    assert [(r.reason_code, r.field) for r in shipped.rejected] == [("unknown_code", "TIPO_RECEBIVEL")]


def test_specs_without_a_reference_dir_beside_them_use_the_shipped_registry(tmp_path: Path):
    scratch = tmp_path / "drafts"
    scratch.mkdir()
    shutil.copy(CUSTODIANS_DIR / "custodia_alfa.yaml", scratch)
    (spec,) = load_specs(scratch).values()
    assert spec.asset_type_registry == load_asset_types(SHIPPED.asset_types)


def test_a_missing_registry_names_the_file(tmp_path: Path):
    with pytest.raises(SpecError, match=r"nope\.yaml: no asset type registry there \(expected reference/asset_types"):
        load_asset_types(tmp_path / "nope.yaml")


def test_nota_promissoria_rows_are_accepted():
    """NP was rejected as unknown_code before the registry learned the CVM's asset classes."""
    result = parse(csv(row("R1", TIPO_RECEBIVEL="NP"), row("R2", TIPO_RECEBIVEL="CCE")))
    assert result.rejected == []
    assert result.rows["asset_type"].to_pylist() == ["NP", "CCE"]


def test_the_codes_the_marts_know_are_unchanged_and_the_fidc_classes_are_there():
    registry = load_asset_types(SHIPPED.asset_types).asset_types
    for code, (name, category, currency) in ORIGINAL_CODES.items():
        assert (registry[code].name, registry[code].category, registry[code].currency) == (name, category, currency)
    assert {"NP", "CCE", "NCE", "CDCA", "CCI", "DEB", "CRI", "CFIDC"} <= set(registry)
    assert registry["NP"].name == "Nota promissória"
