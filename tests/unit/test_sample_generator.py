from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import re
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import pytest

from fidc_assets.lib.core.calendar import is_business_day
from fidc_assets.lib.core.documents import format_document, is_valid_cnpj, is_valid_document, only_digits
from fidc_assets.sample.generator import generate_sample
from fidc_assets.sample.truth import DayTruth, ExpectedQuarantine, read_expected_quarantine, read_manifest, read_truth
from tests.conftest import sha256_tree

HEADER = (
    "NOME_FUNDO;DOC_FUNDO;DATA_FUNDO;NOME_ORIGINADOR;DOC_ORIGINADOR;NOME_CEDENTE;DOC_CEDENTE;NOME_SACADO;"
    "DOC_SACADO;SEU_NUMERO;NU_DOCUMENTO;TIPO_RECEBIVEL;VALOR_NOMINAL;VALOR_PRESENTE;VALOR_AQUISICAO;VALOR_PDD;"
    "FAIXA_PDD;DATA_REFERENCIA;DATA_VENCIMENTO_ORIGINAL;DATA_VENCIMENTO_AJUSTADA;DATA_EMISSAO;DATA_AQUISICAO;"
    "PRAZO;PRAZO_ATUAL;SITUACAO_RECEBIVEL;TAXA_CESSAO;TX_RECEBIVEL;COOBRIGACAO"
).split(";")
FILE_NAME = re.compile(r"^ESTOQUE_(\d{14})_(\d{8})\.csv$")
MONEY = re.compile(r"^\d+,\d{2}$")
RATE = re.compile(r"^\d+,\d{2,4}$")
INTEGER = re.compile(r"^-?\d+$")
DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
DATE_FIELDS = ("DATA_FUNDO", "DATA_REFERENCIA", "DATA_VENCIMENTO_ORIGINAL", "DATA_VENCIMENTO_AJUSTADA",
               "DATA_EMISSAO", "DATA_AQUISICAO")  # fmt: skip
MONEY_FIELDS = ("VALOR_NOMINAL", "VALOR_PRESENTE", "VALOR_AQUISICAO", "VALOR_PDD")
DOC_FIELDS = ("DOC_FUNDO", "DOC_ORIGINADOR", "DOC_CEDENTE", "DOC_SACADO")
REQUIRED = ("DOC_FUNDO", "DOC_CEDENTE", "DOC_SACADO", "SEU_NUMERO", *MONEY_FIELDS, *DATE_FIELDS)
CENT = Decimal("0.01")
ALFA_ONLY = ("custodia_alfa",)
TRUTH_FILES = {
    "positions_daily.csv", "quarantine_expected.csv", "manifest.json", "acquisitions_daily.csv",
    "settlements_daily.csv", "fund_quotas.csv", "control_totals.csv", "cvm_discrepancies.csv",
}  # fmt: skip


class Rejected(Exception):
    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason, field)
        self.reason, self.field = reason, field


def strict_parse(values: list[str]) -> dict:
    """A strict reader of one data row, written independently of the generator."""
    if len(values) != len(HEADER):
        raise Rejected("malformed_row", "")
    row = dict(zip(HEADER, values, strict=True))
    for name in REQUIRED:
        if not row[name]:
            raise Rejected("missing_required", name)
    out: dict = dict(row)
    for name in DATE_FIELDS:
        try:
            out[name] = parse_date(row[name])
        except ValueError:
            raise Rejected("unparseable_date", name) from None
    for name in MONEY_FIELDS:
        if not MONEY.match(row[name]):
            raise Rejected("unparseable_number", name)
        try:
            out[name] = Decimal(row[name].replace(",", "."))
        except InvalidOperation:
            raise Rejected("unparseable_number", name) from None
    for name in DOC_FIELDS:
        if not valid_document_text(row[name]):
            raise Rejected("invalid_document", name)
    return out


@functools.lru_cache(maxsize=65536)
def valid_document_text(text: str) -> bool:
    """A CPF/CNPJ with valid check digits, bare or correctly punctuated."""
    digits = only_digits(text)
    return is_valid_document(digits) and text in (digits, format_document(digits))


@functools.lru_cache(maxsize=4096)
def parse_date(text: str) -> dt.date:
    """Strict dd/mm/yyyy (dt.date rejects 31/02)."""
    m = DATE.fullmatch(text)
    if not m:
        raise ValueError(text)
    return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_a")
    # the defaults (3 funds x 22 days x 800 receivables), custodia_alfa only; the other custodians' formats
    # are tested in test_sample_formats.py
    manifest = generate_sample(out, custodians=ALFA_ONLY)
    return out, manifest


@pytest.fixture(scope="module")
def parsed(sample):
    """{file name: (lines, [(line_number, parsed row or Rejected)])}"""
    out, manifest = sample
    result = {}
    for name in manifest.files:
        raw = (out / "inbox" / name).read_bytes()
        text = raw.decode("latin-1")
        rows = list(csv.reader(text.splitlines(), delimiter=";"))
        parsed_rows = []
        for i, values in enumerate(rows[1:], start=2):
            try:
                parsed_rows.append((i, strict_parse(values)))
            except Rejected as exc:
                parsed_rows.append((i, exc))
        result[name] = (raw, rows, parsed_rows)
    return result


def test_deterministic(sample, tmp_path):
    out, _ = sample
    again = generate_sample(tmp_path / "b", custodians=ALFA_ONLY)
    first, second = sha256_tree(out), sha256_tree(tmp_path / "b")
    assert first == second
    # + funds.yaml, the fund registry; + the CVM reports (render_cvm)
    assert len(first) == len(again.files) + len(TRUTH_FILES) + 1 + len(again.cvm_files)
    assert {p.name for p in (out / "truth").iterdir()} == TRUTH_FILES


def test_regenerating_in_place_is_idempotent(tmp_path):
    generate_sample(tmp_path, seed=9, funds=2, days=3, receivables_per_fund=80)
    first = sha256_tree(tmp_path)
    generate_sample(tmp_path, seed=9, funds=2, days=3, receivables_per_fund=80)
    assert sha256_tree(tmp_path) == first


def test_seed_changes_output(tmp_path):
    a = generate_sample(tmp_path / "a", seed=1, funds=1, days=2, receivables_per_fund=50)
    b = generate_sample(tmp_path / "b", seed=2, funds=1, days=2, receivables_per_fund=50)
    assert a.funds != b.funds
    assert sha256_tree(tmp_path / "a") != sha256_tree(tmp_path / "b")


def test_manifest(sample):
    out, manifest = sample
    doc = read_manifest(out / "truth")
    assert doc["seed"] == 42 and manifest.seed == 42
    assert doc["custodian_id"] == manifest.custodian_id == "custodia_alfa"
    assert doc["parameters"] == {"seed": 42, "funds": 3, "days": 22, "start": "2024-07-01",
                                 "receivables_per_fund": 800, "bad_row_rate": 0.002}  # fmt: skip
    assert [f["cnpj"] for f in doc["funds"]] == [f.cnpj for f in manifest.funds]
    assert [f["name"] for f in doc["funds"]] == [f.name for f in manifest.funds]
    assert doc["days"] == [d.isoformat() for d in manifest.days]
    assert len(manifest.days) == 22 and all(is_business_day(d) for d in manifest.days)
    assert dt.date(2024, 7, 1) == manifest.days[0]
    inbox = sorted(p.name for p in (out / "inbox").iterdir())
    assert doc["files"] == inbox == list(manifest.files)
    assert len(inbox) == 3 * 22
    for name in inbox:
        assert hashlib.sha256((out / "inbox" / name).read_bytes()).hexdigest() == doc["file_sha256"][name]
    for f in manifest.funds:
        assert is_valid_cnpj(f.cnpj)
    assert str(out) not in (out / "truth" / "manifest.json").read_text(encoding="utf-8")


def test_file_shape(sample, parsed):
    out, manifest = sample
    truth = read_truth(out / "truth")
    corrupted = Counter(q.file_name for q in read_expected_quarantine(out / "truth"))
    fund_names = {f.cnpj: f.name for f in manifest.funds}
    accented = False
    for name, (raw, rows, _) in parsed.items():
        m = FILE_NAME.match(name)
        assert m, name
        cnpj, day = m.group(1), dt.datetime.strptime(m.group(2), "%Y%m%d").date()
        assert is_business_day(day) and cnpj in fund_names
        text = raw.decode("latin-1")
        accented |= not text.isascii()
        assert raw.endswith(b"\r\n")
        assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")  # CRLF only
        assert b'"' not in raw
        assert rows[0] == HEADER
        assert all(len(r) == len(HEADER) for r in rows)
        assert len(rows) == truth[(cnpj, day)].row_count + corrupted[name] + 1
        for r in rows[1:]:
            assert r[0] == fund_names[cnpj]
            assert only_digits(r[1]) == cnpj
    assert accented
    assert sum(t.row_count for t in truth.values()) == manifest.row_count
    assert set(truth) == {(f.cnpj, d) for f in manifest.funds for d in manifest.days}


def test_quarantine_is_exactly_what_a_strict_parser_rejects(sample, parsed):
    out, _ = sample
    expected = read_expected_quarantine(out / "truth")
    assert expected and all(isinstance(q, ExpectedQuarantine) for q in expected)
    found = [
        ExpectedQuarantine(name, line, row.reason, row.field)
        for name, (_, _, rows) in sorted(parsed.items())
        for line, row in rows
        if isinstance(row, Rejected)
    ]
    assert found == expected
    total_rows = sum(len(rows) for _, _, rows in parsed.values())
    assert 0.0005 < len(expected) / total_rows < 0.006  # bad_row_rate = 0.002
    fields = {
        "unparseable_date": {"DATA_VENCIMENTO_ORIGINAL", "DATA_VENCIMENTO_AJUSTADA", "DATA_EMISSAO",
                             "DATA_AQUISICAO"},
        "unparseable_number": {"VALOR_NOMINAL"},
        "missing_required": {"SEU_NUMERO"},
        "invalid_document": {"DOC_CEDENTE"},
    }  # fmt: skip
    for q in expected:
        assert q.field in fields[q.reason_code]
    assert {q.reason_code for q in expected} == set(fields)


def test_reparsing_reproduces_truth(sample, parsed):
    out, _ = sample
    truth = read_truth(out / "truth")
    quarantined = {(q.file_name, q.line_number) for q in read_expected_quarantine(out / "truth")}
    for name, (_, _, rows) in parsed.items():
        m = FILE_NAME.match(name)
        assert m is not None
        key = (m.group(1), dt.datetime.strptime(m.group(2), "%Y%m%d").date())
        good = [row for line, row in rows if (name, line) not in quarantined]
        got = DayTruth(
            row_count=len(good),
            nominal_value=sum((r["VALOR_NOMINAL"] for r in good), Decimal("0.00")),
            present_value=sum((r["VALOR_PRESENTE"] for r in good), Decimal("0.00")),
            acquisition_value=sum((r["VALOR_AQUISICAO"] for r in good), Decimal("0.00")),
            pdd_value=sum((r["VALOR_PDD"] for r in good), Decimal("0.00")),
        )
        assert got == truth[key], name
        for v in (got.nominal_value, got.present_value, got.acquisition_value, got.pdd_value):
            assert v.as_tuple().exponent == -2


def test_truth_file_format(sample):
    out, _ = sample
    lines = (out / "truth" / "positions_daily.csv").read_bytes().decode("utf-8").split("\n")
    header = "fund_cnpj,reference_date,row_count,nominal_value,present_value,acquisition_value,pdd_value"
    assert lines[0] == header + ",custodian_id"
    assert lines[-1] == ""
    for line in lines[1:-1]:
        cnpj, day, count, *money, custodian = line.split(",")
        assert custodian == "custodia_alfa"
        assert len(cnpj) == 14 and dt.date.fromisoformat(day) and count.isdigit()
        assert all(re.fullmatch(r"\d+\.\d{2}", v) for v in money)
    q = (out / "truth" / "quarantine_expected.csv").read_text(encoding="utf-8").splitlines()
    assert q[0] == "file_name,line_number,reason_code,field"
    truth = read_truth(out / "truth")
    assert all(isinstance(t.nominal_value, Decimal) and isinstance(d, dt.date) for (_, d), t in truth.items())


def test_valid_rows_content(parsed):
    unpunctuated = total = 0
    statuses, buckets, coob = Counter(), Counter(), Counter()
    for name, (_, _, rows) in parsed.items():
        m = FILE_NAME.match(name)
        assert m is not None
        day = dt.datetime.strptime(m.group(2), "%Y%m%d").date()
        good = [row for _, row in rows if not isinstance(row, Rejected)]
        keys = [(only_digits(r["DOC_CEDENTE"]), r["SEU_NUMERO"]) for r in good]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        for r in good:
            total += 1
            docs = [r[f] for f in DOC_FIELDS]
            if all(d.isdigit() for d in docs):
                unpunctuated += 1
            else:
                assert not any(d.isdigit() for d in docs)  # a row is punctuated or not as a whole
            assert r["DATA_FUNDO"] == r["DATA_REFERENCIA"] == day
            for f in ("DATA_REFERENCIA", "DATA_AQUISICAO", "DATA_VENCIMENTO_AJUSTADA"):
                assert is_business_day(r[f])
            assert r["DATA_EMISSAO"] <= r["DATA_AQUISICAO"] <= day
            assert r["DATA_VENCIMENTO_ORIGINAL"] <= r["DATA_VENCIMENTO_AJUSTADA"]
            assert RATE.match(r["TAXA_CESSAO"]) and RATE.match(r["TX_RECEBIVEL"])
            assert INTEGER.match(r["PRAZO"]) and INTEGER.match(r["PRAZO_ATUAL"])
            assert int(r["PRAZO"]) == (r["DATA_VENCIMENTO_AJUSTADA"] - r["DATA_AQUISICAO"]).days
            to_due = (r["DATA_VENCIMENTO_AJUSTADA"] - day).days
            assert int(r["PRAZO_ATUAL"]) == to_due
            assert r["TIPO_RECEBIVEL"] in {"DM", "DS", "CCB", "CH", "CC"}
            overdue = max(0, -to_due)
            assert r["SITUACAO_RECEBIVEL"] == ("VENCIDO" if overdue else "A VENCER")
            statuses[r["SITUACAO_RECEBIVEL"]] += 1
            buckets[r["FAIXA_PDD"]] += 1
            coob[r["COOBRIGACAO"]] += 1
            nominal, pv, acq, pdd = (r[f] for f in MONEY_FIELDS)
            assert acq <= pv <= nominal
            if overdue:
                assert pv == nominal
            pct = _cmn2682(overdue, r["COOBRIGACAO"] == "SIM")
            assert pdd == (pv * pct).quantize(CENT, rounding=ROUND_HALF_EVEN)
    assert 0.06 < unpunctuated / total < 0.14
    assert set(statuses) == {"A VENCER", "VENCIDO"}
    assert set(buckets) <= {"a", "b", "c", "d", "wop"} and {"a", "b", "c"} <= set(buckets)
    assert set(coob) == {"SIM", "NAO"}


def _cmn2682(days_overdue: int, coobrigacao: bool) -> Decimal:
    if days_overdue == 0:
        return Decimal("0") if coobrigacao else Decimal("0.005")
    for limit, pct in ((14, "0.005"), (30, "0.01"), (60, "0.03"), (90, "0.10"), (120, "0.30"), (150, "0.50"),
                       (180, "0.70")):  # fmt: skip
        if days_overdue <= limit:
            return Decimal(pct)
    return Decimal("1")


def test_no_and_all_bad_rows(tmp_path):
    clean = generate_sample(tmp_path / "clean", funds=1, days=3, receivables_per_fund=60, bad_row_rate=0.0)
    assert read_expected_quarantine(clean.truth_dir) == []
    assert clean.corrupted_count == 0
    clean = generate_sample(
        tmp_path / "clean1", funds=1, days=3, receivables_per_fund=60, bad_row_rate=0.0, custodians=ALFA_ONLY
    )
    assert read_expected_quarantine(clean.truth_dir) == []
    assert clean.corrupted_count == 0
    dirty = generate_sample(
        tmp_path / "dirty", funds=1, days=3, receivables_per_fund=60, bad_row_rate=1.0, custodians=ALFA_ONLY
    )
    truth = read_truth(dirty.truth_dir)
    assert all(t.row_count == 0 and t.nominal_value == Decimal("0.00") for t in truth.values())
    reasons = Counter(q.reason_code for q in read_expected_quarantine(dirty.truth_dir))
    assert set(reasons) == {"unparseable_date", "unparseable_number", "missing_required", "invalid_document"}
    assert sum(reasons.values()) == dirty.corrupted_count
    with pytest.raises(ValueError):
        generate_sample(tmp_path / "x", bad_row_rate=1.5)


def test_render_helpers_and_single_file():
    import dataclasses

    from fidc_assets.sample.render_stock_csv import (
        format_date,
        format_money,
        format_rate,
        render_stock_csv,
        stock_file_name,
    )
    from fidc_assets.sample.simulation import simulate

    assert format_money(Decimal("3600.00")) == "3600,00"
    assert format_money(Decimal("0.00")) == "0,00"
    with pytest.raises(ValueError):
        format_money(Decimal("1.5"))
    assert format_rate(Decimal("2.35")) == "2,35"
    assert format_rate(Decimal("2.3500")) == "2,35"
    assert format_rate(Decimal("3.5845")) == "3,5845"
    assert format_rate(Decimal("1.2")) == "1,20"
    assert format_date(dt.date(2024, 7, 1)) == "01/07/2024"
    assert stock_file_name("12345678000195", dt.date(2024, 7, 1)) == "ESTOQUE_12345678000195_20240701.csv"

    sim = simulate(seed=1, funds=1, days=1, receivables_per_fund=40)
    fund, day = sim.funds[0], sim.business_days[0]
    stock = sim.stock(fund.cnpj, day)
    rendered = render_stock_csv(fund, day, list(reversed(stock)))  # rows get sorted
    assert rendered == render_stock_csv(fund, day, stock)
    assert rendered.corrupted == () and list(rendered.positions) == stock
    lines = rendered.content.decode("latin-1").split("\r\n")
    assert lines[0].split(";") == HEADER and lines[-1] == "" and len(lines) == len(stock) + 2
    bad = dataclasses.replace(stock[0], present_value=Decimal("1.005"))
    with pytest.raises(ValueError):
        render_stock_csv(fund, day, [bad])
