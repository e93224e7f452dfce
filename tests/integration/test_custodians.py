"""Every shipped custodian's sample files land in Iceberg with totals equal to the generator's truth.

One simulation rendered in six formats (UPPER_SNAKE latin-1 CSV, camelCase cp1252 CSV, XLSX and XLSX in a
ZIP, snake_case UTF-8 CSV with a trailer and quota files, CNAB 444 remittances and settlements, JSON events
with mixed number formats), with corrupted rows in each; the lake must hold exactly the truth, and the
quarantine exactly the corrupted rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample
from fidc_assets.sample.truth import (
    read_acquisitions_truth,
    read_expected_quarantine,
    read_positions_truth,
    read_quotas_truth,
    read_settlements_truth,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    root = tmp_path_factory.mktemp("custodians")
    manifest = generate_sample(root / "sample", seed=11, funds=6, days=6, receivables_per_fund=250, bad_row_rate=0.01)
    lake = Lake.local(root)
    specs = load_specs(CUSTODIANS_DIR)
    matched, unmatched = scan_inbox(manifest.inbox_dir, specs)
    receive_files(lake, matched)
    report = land_slices(lake, specs, manifest.days)
    return manifest, lake, report, unmatched


def _sum(rows, key, value_fields):
    out: dict = defaultdict(lambda: [0, *([Decimal("0")] * len(value_fields))])
    for r in rows:
        acc = out[key(r)]
        acc[0] += 1
        for i, f in enumerate(value_fields, start=1):
            acc[i] += r[f]
    return {k: tuple(v) for k, v in out.items()}


def test_every_file_matches_a_custodian_and_none_is_rejected_whole(landed):
    manifest, lake, report, unmatched = landed
    assert unmatched == []
    assert set(manifest.custodians) == {
        "custodia_alfa", "custodia_beta", "custodia_gama", "custodia_delta", "custodia_epsilon", "custodia_zeta"
    }  # fmt: skip
    registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert len(registry) == sum(len(f) for f in manifest.files_by_custodian.values())
    assert {r["status"] for r in registry} == {"accepted"}, [r["error"] for r in registry if r["error"]]


def test_positions_equal_truth_per_custodian_fund_and_day(landed):
    manifest, lake, _, _ = landed
    rows = lake.read(canonical.RECEIVABLE_POSITIONS).to_pylist()
    got = _sum(rows, lambda r: (r["custodian_id"], r["fund_cnpj"], r["reference_date"]),
               ["nominal_value", "present_value", "acquisition_value", "pdd_value"])  # fmt: skip
    truth = {
        k: (t.row_count, t.nominal_value, t.present_value, t.acquisition_value, t.pdd_value)
        for k, t in read_positions_truth(manifest.truth_dir).items()
    }
    assert {k[0] for k in truth} == {"custodia_alfa", "custodia_beta", "custodia_gama", "custodia_delta"}
    assert got == truth


def test_acquisitions_equal_truth(landed):
    manifest, lake, _, _ = landed
    rows = lake.read(canonical.ACQUISITIONS).to_pylist()
    got = _sum(rows, lambda r: (r["custodian_id"], r["fund_cnpj"], r["event_date"]),
               ["nominal_value", "acquisition_value"])  # fmt: skip
    truth = {
        k: (t.row_count, t.nominal_value, t.acquisition_value)
        for k, t in read_acquisitions_truth(manifest.truth_dir).items()
    }
    assert {k[0] for k in truth} == {"custodia_epsilon", "custodia_zeta"}
    assert got == truth


def test_settlements_equal_truth_by_kind(landed):
    manifest, lake, _, _ = landed
    rows = lake.read(canonical.SETTLEMENTS).to_pylist()
    got = _sum(rows, lambda r: (r["custodian_id"], r["fund_cnpj"], r["event_date"], r["kind"]), ["amount_paid"])
    truth = {k: (t.row_count, t.amount_paid) for k, t in read_settlements_truth(manifest.truth_dir).items()}
    assert {k[3] for k in truth} >= {"liquidacao", "recompra"}
    assert got == truth


def test_fund_quotas_equal_truth(landed):
    manifest, lake, _, _ = landed
    rows = lake.read(canonical.FUND_QUOTAS).to_pylist()
    got = {
        (r["custodian_id"], r["fund_cnpj"], r["reference_date"], r["quota_class"], r["series"]):
            (r["quota_count"], r["quota_value"], r["net_assets"])
        for r in rows
    }  # fmt: skip
    truth = {k: (t.quota_count, t.quota_value, t.net_assets) for k, t in read_quotas_truth(manifest.truth_dir).items()}
    assert got == truth


def test_quarantine_holds_exactly_the_corrupted_rows_with_reasons(landed):
    manifest, lake, _, _ = landed
    got = {(q["file_name"], q["line_number"], q["reason_code"]) for q in lake.read(canonical.QUARANTINE).to_pylist()}
    expected = {(e.file_name, e.line_number, e.reason_code) for e in read_expected_quarantine(manifest.truth_dir)}
    reasons = {e[2] for e in expected}
    assert reasons >= {"unparseable_date", "unparseable_number", "missing_required", "invalid_document", "unknown_code"}
    assert got == expected


def test_documents_land_as_digits_and_zeros_lost_by_spreadsheets_come_back(landed):
    _, lake, _, _ = landed
    rows = lake.read(canonical.RECEIVABLE_POSITIONS).to_pylist()
    for r in rows:
        assert r["cedente_doc"].isdigit() and len(r["cedente_doc"]) in (11, 14)
        assert r["sacado_doc"] is None or (r["sacado_doc"].isdigit() and len(r["sacado_doc"]) in (11, 14))
    gama_cpfs = [r["sacado_doc"] for r in rows if r["custodian_id"] == "custodia_gama" and len(r["sacado_doc"]) == 11]
    assert any(doc.startswith("0") for doc in gama_cpfs)


def test_each_delivery_is_one_slice(landed):
    manifest, _, report, _ = landed
    assert {(s.custodian_id, s.entity) for s in report.slices} >= {
        ("custodia_alfa", "receivable_positions"), ("custodia_beta", "receivable_positions"),
        ("custodia_gama", "receivable_positions"), ("custodia_delta", "receivable_positions"),
        ("custodia_delta", "fund_quotas"), ("custodia_epsilon", "acquisitions"), ("custodia_epsilon", "settlements"),
        ("custodia_zeta", "acquisitions"), ("custodia_zeta", "settlements"),
    }  # fmt: skip
    assert all(isinstance(s.reference_date, dt.date) for s in report.slices)
    assert Path(manifest.inbox_dir).exists()
