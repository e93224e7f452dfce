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


EXPECTING = GOOD.replace(
    "custodians: [custodia_alfa]}",
    "custodians: [custodia_alfa],\n"
    '      expected: [{custodian: custodia_alfa, entity: receivable_positions, due: "18:30"}]}',
)


def test_expectations_load_with_their_due_time(tmp_path: Path):
    [expectation] = load_fund_registry(_write(tmp_path, EXPECTING)).funds[0].expected
    assert (expectation.custodian, expectation.entity, expectation.business_days_after) == (
        "custodia_alfa",
        "receivable_positions",
        0,
    )
    assert expectation.due_time.isoformat() == "18:30:00"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('due: "18:30"', "due: 18:30", "got the number 1110"),  # YAML 1.1 sexagesimal: 18*60 + 30
        ('due: "18:30"', 'due: "24:00"', "due must be 'HH:MM' (00:00 to 23:59, São Paulo time), got '24:00'"),
        ('due: "18:30"', 'due: "18:30\\n"', "got '18:30\\n'"),
        ('due: "18:30"', 'due: "6:30"', "got '6:30'"),
        ("entity: receivable_positions", "entity: estoque", "entity must be one of"),
        ("custodian: custodia_alfa,", "custodian: custodia_beta,", "got 'custodia_beta'"),
        ('due: "18:30"}', 'due: "18:30", business_days_after: -1}', "business_days_after"),
        ('due: "18:30"}', 'due: "18:30", by: "19:00"}', "by"),
    ],
)
def test_bad_expectations_name_the_entry_expected_and_got(tmp_path: Path, old: str, new: str, message: str):
    assert old in EXPECTING
    path = _write(tmp_path, EXPECTING.replace(old, new))
    with pytest.raises(FundRegistryError) as err:
        load_fund_registry(path)
    text = str(err.value)
    assert str(path) in text and "funds.0" in text and message in text


def test_the_same_file_expected_twice_is_an_error(tmp_path: Path):
    entry = "{custodian: custodia_alfa, entity: receivable_positions, due: '18:30'}"
    path = _write(tmp_path, EXPECTING.replace("expected: [", f"expected: [{entry}, "))
    with pytest.raises(FundRegistryError, match=r"fund 17556821000101 \(FIDC A\): expected\[1\].*expected twice"):
        load_fund_registry(path)


@pytest.mark.parametrize("manager_id", ["evil\n", "evil\r\n", "aurora\x00", "aurórea", "a" * 42])
def test_manager_ids_are_matched_whole(tmp_path: Path, manager_id: str):
    # issue 13: `$` with re.match accepted "evil\n", which then became a PostgreSQL role with a newline
    with pytest.raises(ValueError, match="lower-case letters"):
        FundRegistry.model_validate({"managers": [{"id": manager_id, "name": "x"}]})


def test_a_cnpj_in_fullwidth_digits_is_not_a_cnpj():
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "17556821000101")
    with pytest.raises(ValueError, match="not a valid CNPJ"):
        FundRegistry.model_validate(
            {
                "managers": [{"id": "aurora", "name": "A"}],
                "funds": [{"cnpj": fullwidth, "name": "F", "manager": "aurora"}],
            }
        )
