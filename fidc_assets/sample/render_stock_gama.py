"""Render a simulated fund-day stock as custodian `custodia_gama`'s XLSX portal export.

Custodian "Gama Administração Fiduciária Ltda" delivers one workbook per fund per business day:

* name ``ESTOQUE_GAMA_<FUND CNPJ, 14 digits>_<yyyymmdd>.xlsx``; on every fifth simulated business day (index
  i with i % 5 == 4) the workbook arrives instead inside ``ESTOQUE_GAMA_<cnpj>_<yyyymmdd>.zip`` (that single
  member, deflated, ZipInfo date 1980-01-01 00:00:00, so the bytes are deterministic);
* one sheet, ``Estoque``: row 1 a title cell ``Posição de Estoque - <fund name> - dd/mm/yyyy``, row 2 blank,
  row 3 the header (the same 28 UPPER_SNAKE columns as `custodia_alfa`), data from row 4;
* money as numeric cells (two decimals, format ``#,##0.00``), dates as date cells (``dd/mm/yyyy``), PRAZO and
  PRAZO_ATUAL as integers, rates as numbers (% per month), COOBRIGACAO ``S``/``N``, TIPO_RECEBIVEL the code
  (DM, DS, CCB, CH, CC);
* documents as punctuated text cells, except DOC_SACADO of people (CPF), written as a numeric cell: a CPF
  starting with 0 loses its leading zeros (as in the real exports);
* the document's creation time is fixed (`CREATED`), so the same stock gives the same bytes;
* rows sorted by (adjusted due date, cedente document, seu número).

Bad rows (probability `bad_row_rate` per row, reason uniform), `line_number` = the sheet row:
``unparseable_date`` (a date column holds the text ``31/02/2024``), ``unparseable_number`` (VALOR_NOMINAL is
the text ``1x34,50``), ``missing_required`` (SEU_NUMERO blank), ``invalid_document`` (DOC_CEDENTE with a
wrong check digit), ``unknown_code`` (TIPO_RECEBIVEL ``XX``). For a zipped workbook the quarantine file name
is the ZIP's (the file delivered).
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from collections.abc import Sequence

import xlsxwriter
from xlsxwriter.format import Format

from fidc_assets.lib.core.documents import format_document
from fidc_assets.sample.records import Fund, StockPosition
from fidc_assets.sample.render_common import (
    ALL_REASONS,
    BadRow,
    FileKind,
    Reason,
    RenderedFile,
    br_date,
    br_number,
    check_rate,
    impossible_date,
    letter_in_number,
    party_name,
    wrong_check_digit,
)
from fidc_assets.sample.render_stock_csv import HEADER

CUSTODIAN_ID = "custodia_gama"
CUSTODIAN_NAME = "Gama Administração Fiduciária Ltda"
ENCODING = "xlsx"
SHEET_NAME = "Estoque"
HEADER_ROW = 3  # 1-based sheet row of the header; data from HEADER_ROW + 1
ZIP_EVERY = 5  # business day index i is zipped when i % ZIP_EVERY == ZIP_EVERY - 1
CREATED = dt.datetime(2024, 1, 1, 0, 0, 0)
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
UNKNOWN_ASSET = "XX"  # no registry has it (NP did this job until the registry learned nota promissória)

_COL = {name: i for i, name in enumerate(HEADER)}
_CORRUPTIBLE_DATES = ("DATA_VENCIMENTO_ORIGINAL", "DATA_VENCIMENTO_AJUSTADA", "DATA_EMISSAO", "DATA_AQUISICAO")


def _order(pos: StockPosition) -> tuple:
    rec = pos.receivable
    return (rec.adjusted_due_date, rec.cedente.document, rec.seu_numero)


def xlsx_name(fund_cnpj: str, day: dt.date) -> str:
    return f"ESTOQUE_GAMA_{fund_cnpj}_{day:%Y%m%d}.xlsx"


def zip_name(fund_cnpj: str, day: dt.date) -> str:
    return f"ESTOQUE_GAMA_{fund_cnpj}_{day:%Y%m%d}.zip"


def is_zipped(day_index: int) -> bool:
    return day_index % ZIP_EVERY == ZIP_EVERY - 1


def zip_single(member_name: str, data: bytes) -> bytes:
    """A ZIP holding `data` as `member_name`, deflated, with fixed metadata (deterministic bytes)."""
    info = zipfile.ZipInfo(member_name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return buf.getvalue()


class GamaStockRenderer:
    def __init__(self, fund: Fund) -> None:
        self.fund = fund
        self._fund_doc = format_document(fund.cnpj)
        self._orig = (fund.originator.name, format_document(fund.originator.document))

    def render(
        self,
        day: dt.date,
        positions: Sequence[StockPosition],
        rng: random.Random,
        bad_row_rate: float = 0.0,
        zipped: bool = False,
    ) -> RenderedFile:
        check_rate(bad_row_rate)
        fund = self.fund
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True})
        wb.set_properties({"created": CREATED, "title": f"Estoque {fund.cnpj} {day:%Y%m%d}", "author": "Gama"})
        ws = wb.add_worksheet(SHEET_NAME)
        date_fmt = wb.add_format({"num_format": "dd/mm/yyyy"})
        money_fmt = wb.add_format({"num_format": "#,##0.00"})
        rate_fmt = wb.add_format({"num_format": "0.00##"})
        bold = wb.add_format({"bold": True})
        ws.write_string(0, 0, f"Posição de Estoque - {fund.name} - {br_date(day)}", bold)
        for c, name in enumerate(HEADER):
            ws.write_string(HEADER_ROW - 1, c, name, bold)
        ws_string, ws_number = ws.write_string, ws.write_number

        def ws_date(row: int, col: int, day: dt.date, cell_format: Format) -> None:
            # xlsxwriter writes a date as its midnight (and documents dates); its annotation says datetime
            ws.write_datetime(row, col, dt.datetime(day.year, day.month, day.day), cell_format)

        orig_name, orig_doc = self._orig
        accepted: list[StockPosition] = []
        corrupted: list[BadRow] = []
        ordered = sorted(positions, key=_order)
        col = _COL
        for i, pos in enumerate(ordered):
            if pos.reference_date != day:
                raise ValueError(f"position of {pos.reference_date} in the stock of {day}")
            r = HEADER_ROW + i  # 0-based row index of sheet row HEADER_ROW + 1 + i
            rec = pos.receivable
            ced, sac = rec.cedente, rec.sacado
            bad = rng.random() < bad_row_rate
            reason, field = _pick(rng) if bad else (None, "")
            ws_string(r, 0, fund.name)
            ws_string(r, 1, self._fund_doc)
            ws_date(r, 2, day, date_fmt)
            ws_string(r, 3, orig_name)
            ws_string(r, 4, orig_doc)
            ws_string(r, 5, party_name(ced))
            ws_string(r, 6, format_document(ced.document))
            ws_string(r, 7, party_name(sac))
            if sac.is_company:
                ws_string(r, 8, format_document(sac.document))
            else:
                ws_number(r, 8, int(sac.document))
            if reason is not Reason.MISSING_REQUIRED:  # a blank cell is simply not written
                ws_string(r, 9, rec.seu_numero)
            ws_string(r, 10, rec.numero_documento)
            ws_string(r, 11, str(rec.asset_type))
            ws_number(r, 12, float(pos.nominal_value), money_fmt)
            ws_number(r, 13, float(pos.present_value), money_fmt)
            ws_number(r, 14, float(pos.acquisition_value), money_fmt)
            ws_number(r, 15, float(pos.pdd_value), money_fmt)
            ws_string(r, 16, pos.pdd_bucket)
            ws_date(r, 17, day, date_fmt)
            ws_date(r, 18, rec.original_due_date, date_fmt)
            ws_date(r, 19, rec.adjusted_due_date, date_fmt)
            ws_date(r, 20, rec.issue_date, date_fmt)
            ws_date(r, 21, rec.acquisition_date, date_fmt)
            ws_number(r, 22, rec.term_days)
            ws_number(r, 23, pos.days_to_due)
            ws_string(r, 24, pos.status)
            ws_number(r, 25, float(rec.cession_rate), rate_fmt)
            ws_number(r, 26, float(rec.receivable_rate), rate_fmt)
            ws_string(r, 27, "S" if rec.coobrigacao else "N")
            if reason is None:
                accepted.append(pos)
                continue
            c = col[field]
            if reason is Reason.UNPARSEABLE_DATE:
                d, m = impossible_date(rng)
                ws_string(r, c, f"{d:02d}/{m:02d}/{day.year}")
            elif reason is Reason.UNPARSEABLE_NUMBER:
                ws_string(r, c, letter_in_number(br_number(pos.nominal_value, thousands=False)))
            elif reason is Reason.INVALID_DOCUMENT:
                ws_string(r, c, wrong_check_digit(format_document(ced.document), rng))
            elif reason is Reason.UNKNOWN_CODE:
                ws_string(r, c, UNKNOWN_ASSET)
            corrupted.append(BadRow(r + 1, reason, field))
        ws.set_column(0, len(HEADER) - 1, 16)
        wb.close()
        content = buf.getvalue()
        name = xlsx_name(fund.cnpj, day)
        if zipped:
            content = zip_single(name, content)
            name = zip_name(fund.cnpj, day)
        return RenderedFile(
            name, CUSTODIAN_ID, FileKind.POSITIONS, fund.cnpj, day, content, tuple(accepted), tuple(corrupted),
            len(ordered),
        )  # fmt: skip


_FIELD_BY_REASON = {
    Reason.UNPARSEABLE_NUMBER: "VALOR_NOMINAL",
    Reason.MISSING_REQUIRED: "SEU_NUMERO",
    Reason.INVALID_DOCUMENT: "DOC_CEDENTE",
    Reason.UNKNOWN_CODE: "TIPO_RECEBIVEL",
}


def _pick(rng: random.Random) -> tuple[Reason, str]:
    reason = ALL_REASONS[rng.randrange(len(ALL_REASONS))]
    if reason is Reason.UNPARSEABLE_DATE:
        return reason, _CORRUPTIBLE_DATES[rng.randrange(len(_CORRUPTIBLE_DATES))]
    return reason, _FIELD_BY_REASON[reason]
