"""The sample's CVM reports (fidc_assets.sample.render_cvm) read from the shipped spec alone: every tab the
reconciliation needs, both identity prefixes by date, and the seeded duplicates resolved as the domain
note says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fidc_assets.lib.core.shipped import SHIPPED
from fidc_assets.lib.regulatory.reader import read_report
from fidc_assets.lib.regulatory.spec import load_cvm_spec
from fidc_assets.sample.generator import generate_sample

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
RECON_TABS = {"I", "IV", "V", "VI", "VII", "X_2", "X_4"}


@pytest.fixture(scope="module")
def spec():
    return load_cvm_spec(SHIPPED.root / "cvm" / "inf_mensal.yaml")


def reports(out: Path, start: dt.date, days: int, funds: int = 3):
    spec = load_cvm_spec(SHIPPED.root / "cvm" / "inf_mensal.yaml")
    manifest = generate_sample(out, seed=11, funds=funds, days=days, start=start, receivables_per_fund=120)
    assert manifest.cvm_dir is not None
    return manifest, {
        rel: read_report(manifest.cvm_dir / rel, Path(rel).name, "0" * 64, spec, NOW) for rel in manifest.cvm_files
    }


def test_sample_reports_land_from_the_spec_with_the_seeded_duplicates(tmp_path):
    manifest, read = reports(tmp_path, dt.date(2024, 7, 1), days=5)
    assert list(read) == ["2024-08-05/inf_mensal_fidc_202407.zip", "2024-09-02/inf_mensal_fidc_202407.zip"]
    seeded = {s.kind: s.fund_cnpj for s in manifest.cvm_seeded}
    for report in read.values():
        assert {t.tab for t in report.tabs} == RECON_TABS
        assert all(t.layout == "current" and not t.rejected for t in report.tabs)
        by_tab = {t.tab: t for t in report.tabs}
        assert by_tab["I"].identical_rows == 1
        assert by_tab["IV"].kind_duplicates == 1
        funds = {r["cnpj_fundo_classe"] for r in by_tab["IV"].rows.to_pylist()}
        assert funds == {f.cnpj for f in manifest.funds} - {seeded["missing_fund"]}
        assert by_tab["X_2"].rows.num_rows == 3 * len(funds)  # senior, mezzanine, junior
        assert by_tab["X_4"].rows.num_rows == 0
    first, second = (read[k] for k in sorted(read))
    pdd = "tab_i2a11_vl_reducao_recup"

    def pdd_of(report):
        tab_i = next(t for t in report.tabs if t.tab == "I")
        return {r["cnpj_fundo_classe"]: r[pdd] for r in tab_i.rows.to_pylist()}

    assert pdd_of(first)[seeded["republished"]] is None
    assert pdd_of(second)[seeded["republished"]] is not None


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # October 2020: every tab before its switch; November 2020: I-VII switched, X_2 and X_4 not yet
        (dt.date(2020, 10, 27), {("2020-10", "I"): "previous", ("2020-10", "X_2"): "previous",
                                 ("2020-11", "I"): "current", ("2020-11", "VII"): "current",
                                 ("2020-11", "X_2"): "previous"}),
        (dt.date(2023, 9, 27), {("2023-09", "X_2"): "previous", ("2023-10", "X_2"): "current",
                                ("2023-10", "X_4"): "current", ("2023-09", "IV"): "current"}),
    ],
)  # fmt: skip
def test_both_identity_prefixes_by_date(tmp_path, start, expected):
    _, read = reports(tmp_path, start, days=6, funds=2)
    layouts = {
        (f"{t.period:%Y-%m}", t.tab): t.layout for report in read.values() for t in report.tabs if not t.rejected
    }
    for key, layout in expected.items():
        assert layouts[key] == layout, key
    rows = [t for report in read.values() for t in report.tabs]
    assert all(not t.rejected for t in rows)
    for t in rows:  # tab I gained four columns at its switch: null before it
        if t.tab == "I":
            gained = ("CLASSE_UNICA", "CLASSE", "CNPJ_CLASSE", "TAB_I2C5_VL_COTA_FIF")
            assert t.missing_columns == (gained if t.layout == "previous" else ())
