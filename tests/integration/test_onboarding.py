"""A new custodian is onboarded with a YAML file only: no Python anywhere.

The layout here matches none of the shipped custodians: pipe-separated cp1252, a title line before the
header, Portuguese column names of its own, dd.mm.yy dates, comma decimals with space thousands, asset
types in words, and a trailer with the record count and the face-value total.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.documents import cnpj_check_digits, cpf_check_digits
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to

pytestmark = pytest.mark.integration

FUND = "334455660001" + cnpj_check_digits("334455660001")
CEDENTE = "778899110001" + cnpj_check_digits("778899110001")
SACADO = "123456789" + cpf_check_digits("123456789")

SPEC = textwrap.dedent(
    r"""
    id: custodia_omega
    name: Ômega Agente Fiduciário Ltda.
    files:
      - entity: receivable_positions
        pattern: '^(?P<date>\d{8})-OMEGA-(?P<fund>\d{14})\.txt$'
        name_date_format: '%d%m%Y'
        format:
          kind: delimited
          encoding: cp1252
          delimiter: '|'
          skip_rows: 1
          decimal: ','
          thousands: ' '
          date_formats: ['%d.%m.%y']
          trailer:
            match: '^FIM\|'
            record_count: {index: 1}
            sums:
              nominal_value: {index: 2}
        columns:
          fund_cnpj: CNPJ DO FUNDO
          reference_date: POSICAO EM
          receivable_id: TITULO
          asset_type:
            column: ESPECIE
            map: {Duplicata: DM, "Cédula Bancária": CCB, "Nota Comercial": NC}
          cedente_doc: CEDENTE
          cedente_name: NOME CEDENTE
          sacado_doc: DEVEDOR
          due_date: VENCE EM
          nominal_value: VALOR FACE
          present_value: VALOR ATUAL
          pdd_value: PROVISAO
          coobligation: {column: COOBRIGADO, map: {X: true, '-': false}}
    """
)


def _file_bytes(day: dt.date, rows: list[tuple[str, str, str, str]], trailer_total: str) -> bytes:
    header = (
        "CNPJ DO FUNDO|POSICAO EM|TITULO|ESPECIE|CEDENTE|NOME CEDENTE|DEVEDOR|VENCE EM|VALOR FACE|VALOR ATUAL|"
        "PROVISAO|COOBRIGADO"
    )
    lines = [f"Relatório de posição — Ômega — {day:%d/%m/%Y}", header]
    for titulo, especie, face, atual in rows:
        lines.append(
            f"{FUND}|{day:%d.%m.%y}|{titulo}|{especie}|{CEDENTE}|Cedente “Ação” Ltda|{SACADO}|"
            f"{day + dt.timedelta(days=30):%d.%m.%y}|{face}|{atual}|0,50|X"
        )
    lines.append(f"FIM|{len(rows)}|{trailer_total}")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


@pytest.fixture()
def custodians(tmp_path: Path) -> Path:
    directory = tmp_path / "custodians"
    directory.mkdir()
    (directory / "layouts").symlink_to(CUSTODIANS_DIR / "layouts")
    (directory / "custodia_omega.yaml").write_text(SPEC, encoding="utf-8")
    return directory


def test_a_custodian_defined_only_in_yaml_lands(tmp_path: Path, custodians: Path):
    specs = load_specs(custodians)
    day = dt.date(2024, 7, 2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [("T-1", "Duplicata", "1 234,56", "1 200,00"), ("T-2", "Cédula Bancária", "10 000,00", "9 500,10"),
            ("T-3", "Nota Comercial", "99,90", "98,00")]  # fmt: skip
    (inbox / f"{day:%d%m%Y}-OMEGA-{FUND}.txt").write_bytes(_file_bytes(day, rows, "11 334,46"))
    lake = Lake.local(tmp_path)

    matched, unmatched = scan_inbox(inbox, specs)
    assert unmatched == [] and len(matched) == 1
    receive_files(lake, matched)
    report = land_slices(lake, specs, [day])

    assert (report.rows_accepted, report.rows_rejected, report.files_quarantined) == (3, 0, 0)
    landed = lake.read(canonical.RECEIVABLE_POSITIONS, equal_to("custodian_id", "custodia_omega")).to_pylist()
    assert sorted(r["asset_type"] for r in landed) == ["CCB", "DM", "NC"]
    assert sum(r["nominal_value"] for r in landed) == Decimal("11334.46")
    assert {r["due_date"] for r in landed} == {day + dt.timedelta(days=30)}
    assert {r["sacado_doc"] for r in landed} == {SACADO}
    assert [r["source_line"] for r in sorted(landed, key=lambda r: r["receivable_id"])] == [3, 4, 5]
    registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert [r["status"] for r in registry] == ["accepted"]
    assert '"trailer_checked": true' in registry[0]["control_totals"]


def test_the_new_custodians_trailer_is_enforced(tmp_path: Path, custodians: Path):
    specs = load_specs(custodians)
    day = dt.date(2024, 7, 3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [("T-1", "Duplicata", "1 234,56", "1 200,00")]
    (inbox / f"{day:%d%m%Y}-OMEGA-{FUND}.txt").write_bytes(_file_bytes(day, rows, "1 234,57"))
    lake = Lake.local(tmp_path)

    matched, _ = scan_inbox(inbox, specs)
    receive_files(lake, matched)
    report = land_slices(lake, specs, [day])

    assert report.rows_accepted == 0 and report.files_quarantined == 1
    q = lake.read(canonical.QUARANTINE).to_pylist()
    assert [(r["reason_code"], r["line_number"]) for r in q] == [("control_totals_mismatch", None)]
    assert "1234.57" in q[0]["message"] and "1234.56" in q[0]["message"]


def test_a_zip_for_a_layout_without_archives_is_refused(tmp_path: Path, custodians: Path):
    """A name the pattern accepts, but a ZIP the layout never agreed to: quarantined, not guessed at."""
    spec = (custodians / "custodia_omega.yaml").read_text(encoding="utf-8")
    (custodians / "custodia_omega.yaml").write_text(spec.replace(r"\.txt$", r"\.(txt|zip)$"), encoding="utf-8")
    specs = load_specs(custodians)
    day = dt.date(2024, 7, 2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / f"{day:%d%m%Y}-OMEGA-{FUND}.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    lake = Lake.local(tmp_path)
    matched, _ = scan_inbox(inbox, specs)
    receive_files(lake, matched)
    land_slices(lake, specs, [day])
    q = lake.read(canonical.QUARANTINE).to_pylist()
    assert [(r["reason_code"], r["line_number"]) for r in q] == [("unsupported_format", None)]
    assert "does not accept ZIPs" in q[0]["message"]


def test_a_file_the_changed_spec_no_longer_matches_is_quarantined(tmp_path: Path, custodians: Path):
    """Received under one spec, landed under another whose pattern no longer takes it: said so, not dropped."""
    specs = load_specs(custodians)
    day = dt.date(2024, 7, 2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / f"{day:%d%m%Y}-OMEGA-{FUND}.txt").write_bytes(
        _file_bytes(day, [("T-1", "Duplicata", "1 234,56", "1 200,00")], "1 234,56")
    )
    lake = Lake.local(tmp_path)
    matched, _ = scan_inbox(inbox, specs)
    receive_files(lake, matched)
    spec = (custodians / "custodia_omega.yaml").read_text(encoding="utf-8")
    (custodians / "custodia_omega.yaml").write_text(spec.replace(r"\.txt$", r"\.csv$"), encoding="utf-8")
    land_slices(lake, load_specs(custodians), [day])
    q = lake.read(canonical.QUARANTINE).to_pylist()
    assert [(r["reason_code"], r["line_number"]) for r in q] == [("unmatched", None)]
    assert "no longer matches" in q[0]["message"]
    assert [r["status"] for r in lake.read(canonical.FILE_REGISTRY).to_pylist()] == ["quarantined"]
