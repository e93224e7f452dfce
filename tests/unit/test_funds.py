"""The fund registry (funds.yaml): validation with messages that name the entry, merge, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from fidc_assets.lib.core.funds import (
    FundRegistry,
    FundRegistryError,
    load_fund_registry,
    write_fund_registry,
)

GOOD = """
managers:
  - {id: aurora, name: Aurora Gestão}
funds:
  - {cnpj: "17.556.821/0001-01", name: FIDC A, manager: aurora, custodians: [custodia_alfa]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "funds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_registry_loads_with_documents_as_digits(tmp_path: Path):
    registry = load_fund_registry(_write(tmp_path, GOOD))
    assert registry.cnpjs == ["17556821000101"]
    fund = registry.fund("17556821000101")
    assert fund is not None and fund.custodians == ("custodia_alfa",)


def test_a_missing_registry_is_empty(tmp_path: Path):
    assert load_fund_registry(tmp_path / "nothing.yaml") == FundRegistry()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("17.556.821/0001-01", "17556821000102"), "not a valid CNPJ"),
        (GOOD.replace("manager: aurora", "manager: boreal"), "manager 'boreal' is not in managers"),
        (GOOD + '  - {cnpj: "17556821000101", name: FIDC B, manager: aurora}\n', "fund CNPJs repeat"),
        (GOOD.replace("id: aurora", "id: Aurora-1").replace("manager: aurora", "manager: Aurora-1"), "lower-case"),
        (GOOD.replace("custodians:", "custodianz:"), "custodianz"),
        ("funds: [unclosed", "not valid YAML"),
    ],
)
def test_bad_registries_say_what_is_wrong(tmp_path: Path, text: str, message: str):
    path = _write(tmp_path, text)
    with pytest.raises(FundRegistryError) as err:
        load_fund_registry(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_merge_keeps_existing_entries_and_appends_new_ones(tmp_path: Path):
    base = load_fund_registry(_write(tmp_path, GOOD))
    other = FundRegistry.model_validate(
        {
            "managers": [{"id": "aurora", "name": "renamed"}, {"id": "boreal", "name": "Boreal"}],
            "funds": [
                {"cnpj": "17556821000101", "name": "renamed", "manager": "aurora"},
                {"cnpj": "11222333000181", "name": "FIDC B", "manager": "boreal"},
            ],
        }
    )
    merged = base.merged_with(other)
    assert merged.cnpjs == ["17556821000101", "11222333000181"]
    fund = merged.fund("17556821000101")
    assert fund is not None and fund.name == "FIDC A" and merged.managers[0].name == "Aurora Gestão"
    out = tmp_path / "out" / "funds.yaml"
    write_fund_registry(out, merged)
    assert load_fund_registry(out) == merged
