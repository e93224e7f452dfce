"""The legacy mapping, the cutover rule and the defect plan: pure functions, no database."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from fidc_assets.lib.core.canonical import RECEIVABLE_POSITIONS
from fidc_assets.lib.core.errors import SpecError
from fidc_assets.lib.core.months import months_between, parse_month
from fidc_assets.lib.legacy.cutover import CUSTODIAN, LEGACY, CutoverRule, rule_from, shadow_compare
from fidc_assets.lib.legacy.mapping import DEFAULT_SPEC, LegacyColumn, default_spec, load_legacy_spec
from fidc_assets.lib.legacy.migration import convert, dedupe, map_batch
from fidc_assets.sample.legacy import LegacyParams, cutover_for, plan_defects, punctuated_cnpj
from fidc_assets.settings import Settings

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_centavos_dates_digits_and_codes_are_converted():
    cents = convert(pa.array(["123456", "-5", None]), LegacyColumn(column="x", parse="centavos"), pa.decimal128(18, 2))
    assert cents.to_pylist() == [Decimal("1234.56"), Decimal("-0.05"), None]
    dmy = LegacyColumn(column="x", parse="date", date_format="%d/%m/%Y")
    assert convert(pa.array(["02/01/2019"]), dmy, pa.date32()).to_pylist() == [dt.date(2019, 1, 2)]
    digits = convert(pa.array(["12.345.678/0001-90"]), LegacyColumn(column="x", parse="digits"), pa.string())
    assert digits.to_pylist() == ["12345678000190"]
    codes = LegacyColumn(column="x", map={"S": True, "N": False})
    assert convert(pa.array(["S", "N ", "X"]), codes, pa.bool_()).to_pylist() == [True, False, None]


def _carteira_batch(**overrides) -> pa.RecordBatch:
    row = {
        "id_carteira": "7", "nr_cnpj_fundo": "12.345.678/0001-90", "cd_custodiante": "ALF", "dt_posicao": "2019-01-02",
        "nr_seu_numero": "0001", "nr_documento": "D1", "cd_especie": "DUP", "nr_doc_cedente": "11222333000181",
        "nm_cedente": "Comércio São João Ltda", "nr_doc_sacado": "12345678909", "nm_sacado": "José",
        "dt_emissao": "2018-12-20", "dt_aquisicao": "2018-12-21", "dt_vencto": "2019-02-01",
        "dt_vencto_ajust": "2019-02-01", "vl_nominal_cent": "100000", "vl_aquisicao_cent": "95000",
        "vl_presente_cent": "97012", "vl_pdd_cent": "485", "cd_rating": "A", "cd_faixa_pdd": "a", "cd_situacao": "1",
        "fl_coobrigacao": "N", "pc_taxa_cessao": "2.3500", "pc_taxa_recebivel": "2.3500", "qt_prazo": "42",
    }  # fmt: skip
    rows = [row | {"id_carteira": str(8 + i)} | o for i, o in enumerate(overrides.get("more", []))]
    return pa.RecordBatch.from_pylist([row, *rows], schema=pa.schema([(k, pa.string()) for k in row]))


def test_a_legacy_stock_row_maps_to_the_canonical_model_with_lineage():
    spec = default_spec()
    table = spec.tables[0]
    rows, rejected = map_batch(_carteira_batch(), spec, table, "legacy:tb_carteira:2019-01", NOW)
    assert len(rejected) == 0
    r = rows.to_pylist()[0]
    assert (r["fund_cnpj"], r["custodian_id"], r["asset_type"], r["status"]) == (
        "12345678000190", "custodia_alfa", "DM", "A VENCER",
    )  # fmt: skip
    assert (r["nominal_value"], r["present_value"], r["pdd_value"]) == (
        Decimal("1000.00"), Decimal("970.12"), Decimal("4.85"),
    )  # fmt: skip
    assert r["coobligation"] is False and r["term_days"] == 42 and r["cedente_name"] == "Comércio São João Ltda"
    assert (r["source"], r["source_line"], r["file_date"], r["currency"]) == ("legacy", 7, dt.date(2019, 1, 2), "BRL")


def test_rows_without_cedente_or_with_unknown_codes_are_rejected_with_a_reason():
    spec = default_spec()
    batch = _carteira_batch(more=[{"nr_doc_cedente": None, "nm_cedente": None}, {"cd_especie": "XYZ"}])
    rows, rejected = map_batch(batch, spec, spec.tables[0], "b", NOW)
    assert rows.num_rows == 1
    assert sorted(zip(rejected.row_ids, rejected.reasons, strict=True)) == [
        (8, "missing_required"),
        (9, "unknown_code"),
    ]


def test_a_duplicated_key_lands_once_the_lowest_legacy_id_first():
    spec = default_spec()
    batch = _carteira_batch(more=[{}, {"nr_seu_numero": "0002"}])  # id 8 repeats id 7's key
    rows, _ = map_batch(batch, spec, spec.tables[0], "b", NOW)
    kept, dups = dedupe(rows, RECEIVABLE_POSITIONS)
    assert kept.sort_by("source_line")["source_line"].to_pylist() == [7, 9]
    assert dups["source_line"].to_pylist() == [8]


def test_a_mapping_error_names_the_file_the_key_and_what_is_expected(tmp_path: Path):
    text = DEFAULT_SPEC
    broken = text.read_text(encoding="utf-8").replace(
        "      present_value: {column: vl_presente_cent, parse: centavos}\n", ""
    )
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(
        SpecError, match=r"broken\.yaml: tables\.0: .*required receivable_positions fields \['present_value'\]"
    ):
        load_legacy_spec(path)


def test_months_and_partition_keys():
    assert parse_month("2019-03-01") == parse_month("2019-03") == dt.date(2019, 3, 1)
    assert months_between(dt.date(2019, 11, 5), dt.date(2020, 2, 1)) == [
        dt.date(2019, 11, 1), dt.date(2019, 12, 1), dt.date(2020, 1, 1), dt.date(2020, 2, 1),
    ]  # fmt: skip
    assert cutover_for(84) == dt.date(2026, 1, 1) and cutover_for(3) == dt.date(2019, 4, 1)
    assert punctuated_cnpj("12345678000190") == "12.345.678/0001-90"


def test_legacy_days_run_to_the_cutover_then_the_shadow_days():
    days = LegacyParams(funds=1, months=2, shadow_days=3).days()
    assert days[0] == dt.date(2019, 1, 2)
    before = [d for d in days if d < dt.date(2019, 3, 1)]
    assert days[len(before) :] == [dt.date(2019, 3, 1), dt.date(2019, 3, 6), dt.date(2019, 3, 7)]  # carnival 4-5


def test_defects_are_deterministic_distinct_and_before_the_cutover():
    days = LegacyParams(funds=3, months=4, shadow_days=5).days()
    a = plan_defects(11, 3, days, cutover_for(4))
    assert a == plan_defects(11, 3, days, cutover_for(4))
    assert a != plan_defects(12, 3, days, cutover_for(4))
    cells = [(f, d) for f, d, _ in (*a.duplicates, *a.no_cedente)]
    assert len(cells) == len(set(cells)) == 5
    assert all(days[d] < cutover_for(4) for _, d in cells)
    assert a.wrong_pl is not None and dt.date(*a.wrong_pl[1], 1) < cutover_for(4)


def _rows(items):
    return pa.Table.from_pylist(
        [
            {"fund_cnpj": f, "reference_date": d, "source": s, "nominal_value": Decimal(n), "present_value": Decimal(n)}
            for f, d, s, n in items
        ],
        schema=pa.schema([("fund_cnpj", pa.string()), ("reference_date", pa.date32()), ("source", pa.string()),
                          ("nominal_value", pa.decimal128(18, 2)), ("present_value", pa.decimal128(18, 2))]),
    )  # fmt: skip


def test_the_cutover_rule_counts_each_fund_day_once():
    cut = dt.date(2026, 1, 1)
    before, after = dt.date(2025, 12, 30), dt.date(2026, 1, 2)
    rows = _rows([
        ("A", before, LEGACY, "10"), ("A", before, CUSTODIAN, "11"),
        ("A", after, LEGACY, "20"), ("A", after, CUSTODIAN, "20"), ("A", after, CUSTODIAN, "1"),
        ("B", after, LEGACY, "5"),
    ])  # fmt: skip
    rule = CutoverRule(cut)
    kept = rule.authoritative(rows)
    assert sorted(zip(kept["reference_date"].to_pylist(), kept["source"].to_pylist(), strict=True)) == [
        (before, LEGACY), (after, CUSTODIAN), (after, CUSTODIAN),
    ]  # fmt: skip
    assert rule.source_for("A", before) == LEGACY and rule.source_for("A", cut) == CUSTODIAN
    # a fund moved later keeps its legacy rows until its own date
    late = CutoverRule(cut, {"B": dt.date(2026, 2, 1)})
    kept_b = late.authoritative(rows)
    assert ("B", LEGACY) in zip(kept_b["fund_cnpj"].to_pylist(), kept_b["source"].to_pylist(), strict=True)


def test_shadow_mode_reports_only_fund_days_with_both_sources():
    rule = CutoverRule(dt.date(2026, 1, 1))
    after = dt.date(2026, 1, 2)
    rows = _rows([("A", after, LEGACY, "20"), ("A", after, CUSTODIAN, "20"), ("A", after, CUSTODIAN, "1"),
                  ("B", after, LEGACY, "5")])  # fmt: skip
    (diff,) = shadow_compare(rows, rule)
    assert (diff.fund_cnpj, diff.counted, diff.legacy.rows, diff.custodian.rows) == ("A", CUSTODIAN, 1, 2)
    assert diff.differences == {"rows": -1, "nominal": Decimal("-1"), "present": Decimal("-1")} and not diff.equal
    assert diff.describe() == f"A {after} counted custodian_file: rows -1, nominal -1.00, present -1.00"


def test_shadow_mode_compares_pdd_and_the_pl_of_the_quota_classes():
    rule = CutoverRule(dt.date(2026, 1, 1))
    before, after = dt.date(2025, 12, 30), dt.date(2026, 1, 2)
    rows = _rows([("A", after, LEGACY, "20"), ("A", after, CUSTODIAN, "20"), ("A", before, LEGACY, "7"),
                  ("A", before, CUSTODIAN, "7"), ("B", after, LEGACY, "3"), ("B", after, CUSTODIAN, "3")])  # fmt: skip
    rows = rows.append_column("pdd_value", pa.array([Decimal("1.00"), Decimal("0.50"), None, None, None, None],
                                                    pa.decimal128(18, 2)))  # fmt: skip
    quotas = pa.Table.from_pylist(
        [{"fund_cnpj": f, "reference_date": d, "source": s, "net_assets": Decimal(v)}
         for f, d, s, v in [("A", after, LEGACY, "10.00"), ("A", after, LEGACY, "5.00"), ("A", after, CUSTODIAN,
                            "15.00"), ("A", before, LEGACY, "9.00"), ("A", before, CUSTODIAN, "9.01"),
                            ("B", after, CUSTODIAN, "4.00")]],
        schema=pa.schema([("fund_cnpj", pa.string()), ("reference_date", pa.date32()), ("source", pa.string()),
                          ("net_assets", pa.decimal128(18, 2))]),
    )  # fmt: skip
    got = {(d.fund_cnpj, d.reference_date): d for d in shadow_compare(rows, rule, quotas)}
    assert set(got) == {("A", before), ("A", after), ("B", after)}
    # A after: PL 10 + 5 = 15 on both sides, PDD 1.00 vs 0.50 (null counts as zero)
    assert got[("A", after)].differences == {"pdd": Decimal("0.50")}
    assert got[("A", before)].counted == LEGACY and got[("A", before)].differences == {"pl": Decimal("-0.01")}
    # B: the legacy has no quota rows that day, so there is no PL to compare; the stock is equal
    assert got[("B", after)].equal and got[("B", after)].legacy.pl is None


def test_the_cutover_date_comes_from_the_mapping_or_the_environment():
    """The settings read FIDC_LEGACY_CUTOVER (validated there); the rule takes the mapping's date or that one."""
    assert rule_from(dt.date(2026, 1, 1), Settings.from_env({}).legacy.cutover).cutover == dt.date(2026, 1, 1)
    override = Settings.from_env({"FIDC_LEGACY_CUTOVER": "2025-07-01"}).legacy.cutover
    assert rule_from(dt.date(2026, 1, 1), override).cutover == dt.date(2025, 7, 1)
    with pytest.raises(ValueError, match="FIDC_LEGACY_CUTOVER must be an ISO date"):
        Settings.from_env({"FIDC_LEGACY_CUTOVER": "01/07/2025"})


def test_resolve_keeps_one_source_per_fund_day_and_whatever_has_no_rival():
    import datetime as dt

    import pyarrow as pa

    from fidc_assets.lib.legacy.cutover import CutoverRule

    d1, d2 = dt.date(2025, 12, 30), dt.date(2026, 1, 2)
    rows = pa.table(
        {
            "reference_date": [d1, d1, d2, d2, d1, d2],
            "fund_cnpj": ["A", "A", "A", "A", "B", "C"],
            "source": ["legacy", "custodian_file", "legacy", "custodian_file", "custodian_file", "legacy"],
            "n": [1, 2, 3, 4, 5, 6],
        }
    )
    kept = CutoverRule(dt.date(2026, 1, 1)).resolve(rows)
    # A: both sources on both days → legacy before the cutover, files from it; B (files only, before the
    # cutover) and C (legacy only, after it) have no rival and are kept
    assert kept.sort_by("n")["n"].to_pylist() == [1, 4, 5, 6]
