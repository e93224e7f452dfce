"""Every file-level failure: the whole file is quarantined with a message an analyst understands, its raw
bytes are kept in the archive, and not one canonical row of it exists."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import xlsxwriter

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.documents import cnpj_check_digits
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake.archive import read_archived
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to

pytestmark = pytest.mark.integration

FUND = "223344550001" + cnpj_check_digits("223344550001")
CEDENTE = "667788990001" + cnpj_check_digits("667788990001")
DAY = dt.date(2024, 7, 2)
ALFA_HEADER = (
    "NOME_FUNDO;DOC_FUNDO;DATA_FUNDO;NOME_ORIGINADOR;DOC_ORIGINADOR;NOME_CEDENTE;DOC_CEDENTE;NOME_SACADO;DOC_SACADO;"
    "SEU_NUMERO;NU_DOCUMENTO;TIPO_RECEBIVEL;VALOR_NOMINAL;VALOR_PRESENTE;VALOR_AQUISICAO;VALOR_PDD;FAIXA_PDD;"
    "DATA_REFERENCIA;DATA_VENCIMENTO_ORIGINAL;DATA_VENCIMENTO_AJUSTADA;DATA_EMISSAO;DATA_AQUISICAO;PRAZO;"
    "PRAZO_ATUAL;SITUACAO_RECEBIVEL;TAXA_CESSAO;TX_RECEBIVEL;COOBRIGACAO"
)
DELTA_HEADER = (
    "fundo_cnpj,data_posicao,seu_numero,numero_documento,tipo_ativo,cedente_cpf_cnpj,cedente_nome,sacado_cpf_cnpj,"
    "sacado_nome,data_emissao,data_aquisicao,data_vencimento,data_vencimento_ajustada,valor_face,valor_aquisicao,"
    "valor_presente,valor_pdd,faixa_pdd,situacao,coobrigacao,taxa_cessao,moeda"
)


def _delta_row(n: int, face: str = "1000.00") -> str:
    return (
        f"{FUND},2024-07-02,S{n},D{n},DM,{CEDENTE},Cedente,{CEDENTE},Sacado,2024-06-01,2024-06-03,2024-08-01,"
        f"2024-08-01,{face},950.00,980.00,4.90,a,A VENCER,true,1.5,BRL"
    )


def _delta(rows: int, trailer: str | None) -> bytes:
    lines = [DELTA_HEADER, *(_delta_row(i) for i in range(rows))]
    if trailer is not None:
        lines.append(trailer)
    return ("\n".join(lines) + "\n").encode()


def _cnab_line(kind: str, seq: int, body: dict[tuple[int, int], str] | None = None) -> str:
    line = [" "] * 444
    line[0] = kind
    for (start, end), text in (body or {}).items():
        width = end - start + 1
        line[start - 1 : end] = list(text.rjust(width, "0") if text.isdigit() else text.ljust(width)[:width])
    line[438:444] = list(f"{seq:06d}")
    return "".join(line)


def _cnab(details: int, trailer_seq: int | None) -> bytes:
    lines = [_cnab_line("0", 1, {(95, 100): "020724"})]
    for i in range(details):
        lines.append(
            _cnab_line("1", i + 2, {(38, 62): f"R{i}", (109, 110): "01", (121, 126): "010824", (127, 139): "100000",
                                    (148, 149): "01", (193, 205): "95000", (381, 394): CEDENTE})
        )  # fmt: skip
    if trailer_seq is not None:
        lines.append(_cnab_line("9", trailer_seq))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _xlsx(sheet: str) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet(sheet)
    ws.write_row(2, 0, ["DOC_FUNDO", "SEU_NUMERO"])
    wb.close()
    return buf.getvalue()


def _zip(members: dict[str, bytes | int]) -> bytes:
    """A ZIP; an int member is that many zero bytes, streamed (a small file that expands enormously)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            if isinstance(content, int):
                with zf.open(name, "w", force_zip64=True) as out:
                    block = bytes(1 << 20)
                    for _ in range(content // len(block)):
                        out.write(block)
            else:
                zf.writestr(name, content)
    return buf.getvalue()


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


alfa_name = f"ESTOQUE_{FUND}_{DAY:%Y%m%d}.csv"
delta_name = f"posicao_{FUND}_{DAY:%Y%m%d}.csv"
gama_name = f"ESTOQUE_GAMA_{FUND}_{DAY:%Y%m%d}"
cnab_name = f"CNAB444_{FUND}_{DAY:%Y%m%d}.REM"
zeta_name = f"aquisicoes_{FUND}_{DAY:%Y%m%d}.json"

CASES: dict[str, tuple[str, str, Callable[[], bytes], str, str]] = {
    # id: (file name, entity, content, reason code, phrase the message must contain)
    "empty": (alfa_name, "receivable_positions", lambda: b"", "empty_file", "the file is empty"),
    "header only": (alfa_name, "receivable_positions", lambda: (ALFA_HEADER + "\r\n").encode("latin-1"), "no_rows",
                    "no data rows"),
    "missing columns": (alfa_name, "receivable_positions", lambda: b"NOME_FUNDO;DOC_FUNDO\r\nX;1\r\n",
                        "missing_columns", "VALOR_NOMINAL"),
    "wrong encoding": (delta_name, "receivable_positions",
                       lambda: _delta(1, "TRAILER,1,1000.00").replace(b"Cedente", "Cedente Ação".encode("latin-1")),
                       "wrong_encoding", "not valid utf-8"),
    "truncated (no trailer)": (delta_name, "receivable_positions", lambda: _delta(3, None), "truncated_file",
                               "looks truncated"),
    "trailer count differs": (delta_name, "receivable_positions", lambda: _delta(3, "TRAILER,4,3000.00"),
                              "control_totals_mismatch", "trailer says 4 records but the file has 3"),
    "trailer total differs": (delta_name, "receivable_positions", lambda: _delta(3, "TRAILER,3,3000.01"),
                              "control_totals_mismatch", "3000.01"),
    "trailer count not a number": (delta_name, "receivable_positions", lambda: _delta(2, "TRAILER,dois,2000.00"),
                                   "bad_trailer", "'dois' is not a number"),
    "zip with two workbooks": (gama_name + ".zip", "receivable_positions",
                               lambda: _zip({"a.xlsx": _xlsx("Estoque"), "b.xlsx": _xlsx("Estoque")}),
                               "archive_ambiguous", "send one file per ZIP"),
    "not a workbook": (gama_name + ".xlsx", "receivable_positions", lambda: b"this is not a spreadsheet",
                       "unreadable", "not a readable XLSX"),
    "workbook without the sheet": (gama_name + ".xlsx", "receivable_positions", lambda: _xlsx("Outra"),
                                   "missing_sheet", "no sheet 'Estoque'"),
    "zip bomb": (gama_name + ".zip", "receivable_positions", lambda: _zip({"estoque.xlsx": 300 << 20}),
                 "archive_too_large", "more than the"),
    "zip without the workbook": (gama_name + ".zip", "receivable_positions", lambda: _zip({"leia-me.txt": b"oi"}),
                                 "archive_member_missing", "leia-me.txt"),
    "damaged zip": (gama_name + ".zip", "receivable_positions", lambda: b"PK\x03\x04garbage", "unreadable",
                    "not a valid ZIP"),
    "cnab without trailer": (cnab_name, "acquisitions", lambda: _cnab(2, None), "truncated_file",
                             "no trailer record"),
    "cnab trailer count differs": (cnab_name, "acquisitions", lambda: _cnab(2, 9), "control_totals_mismatch",
                                   "trailer says 7 records but the file has 2"),
    "truncated json": (zeta_name, "acquisitions", lambda: b'{"data": {"aquisicoes": [{"seuNumero": "1"', "unreadable",
                       "not valid JSON"),
    "json without the records": (zeta_name, "acquisitions", lambda: _json({"data": {"outros": []}}), "missing_records",
                                 "data.aquisicoes"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_unusable_file_is_quarantined_whole_and_kept(tmp_path: Path, case: str):
    name, entity, content, reason, phrase = CASES[case]
    specs = load_specs(CUSTODIANS_DIR)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    original = content()
    (inbox / name).write_bytes(original)
    lake = Lake.local(tmp_path)

    matched, unmatched = scan_inbox(inbox, specs)
    assert unmatched == [], f"{name} should match a shipped custodian"
    receive_files(lake, matched)
    report = land_slices(lake, specs, [DAY])

    assert report.rows_accepted == 0
    registry = lake.read(canonical.FILE_REGISTRY).to_pylist()
    assert [r["status"] for r in registry] == ["quarantined"]
    assert phrase in registry[0]["error"], registry[0]["error"]
    assert name in registry[0]["error"]
    quarantine = lake.read(canonical.QUARANTINE).to_pylist()
    assert [(q["reason_code"], q["line_number"], q["file_name"]) for q in quarantine] == [(reason, None, name)]
    assert read_archived(registry[0]["archive_uri"]) == original
    rows = lake.read(canonical.ENTITIES[entity], equal_to("source_file_sha256", registry[0]["sha256"]))
    assert rows.num_rows == 0
