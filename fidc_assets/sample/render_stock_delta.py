"""Render simulated stocks and quotas as custodian `custodia_delta`'s snake_case CSVs.

Custodian "Delta Trust Serviços Financeiros S.A." delivers per fund and business day:

``posicao_<FUND CNPJ, 14 digits>_<yyyymmdd>.csv`` — the stock:

* UTF-8, ``,``-separated, LF, `csv.QUOTE_MINIMAL` (names containing a comma, e.g.
  ``"Silva, Souza & Cia Ltda"``, are quoted), one header row (`HEADER`);
* ISO dates, dot decimals (``3600.00``), documents as bare digits, coobrigacao ``true``/``false``, tipo_ativo
  the code (DM, DS, CCB, CH, CC), situacao ``a_vencer``/``vencido``, moeda ``BRL``; valor_face is the open
  nominal; rows sorted by (cedente document, seu número);
* last line a trailer ``TRAILER,<number of data records>,<sum of valor_face over all data records>`` (every
  record counts, corrupted ones included: valor_face is never corrupted).

``cotas_<FUND CNPJ>_<yyyymmdd>.csv`` — quotas and PL (model: `fidc_assets.sample.quotas`), same dialect, header
`QUOTA_HEADER`, three rows (senior / mezanino / subordinada), no trailer.

Bad rows (probability `bad_row_rate` per row, reason uniform; physical line numbers, header = 1):
stock: ``unparseable_date`` (one of the four receivable dates, e.g. ``2024-02-30``), ``unparseable_number``
(valor_presente or valor_aquisicao gets an ``x``), ``missing_required`` (empty seu_numero),
``invalid_document`` (cedente_cpf_cnpj with a wrong check digit), ``unknown_code`` (tipo_ativo ``XX``);
quotas: ``unparseable_date`` (data), ``unparseable_number`` (valor_cota), ``missing_required`` (empty serie),
``invalid_document`` (fundo_cnpj), ``unknown_code`` (classe ``especial``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Sequence
from decimal import localcontext

from fidc_assets.sample.quotas import FundDayQuotas
from fidc_assets.sample.records import MONEY_CONTEXT, STATUS_OVERDUE, ZERO, Fund, Receivable, StockPosition
from fidc_assets.sample.render_common import (
    ALL_REASONS,
    BadRow,
    FileKind,
    Reason,
    RenderedFile,
    check_rate,
    impossible_date,
    letter_in_number,
    party_name,
    rate_text,
    wrong_check_digit,
)

CUSTODIAN_ID = "custodia_delta"
CUSTODIAN_NAME = "Delta Trust Serviços Financeiros S.A."
ENCODING = "utf-8"
DELIMITER = ","
LINE_TERMINATOR = "\n"
TRAILER_TAG = "TRAILER"
CURRENCY = "BRL"
UNKNOWN_ASSET = "XX"  # no registry has it (NP did this job until the registry learned nota promissória)
UNKNOWN_CLASS = "especial"

HEADER: tuple[str, ...] = (
    "fundo_cnpj", "data_posicao", "seu_numero", "numero_documento", "tipo_ativo", "cedente_cpf_cnpj",
    "cedente_nome", "sacado_cpf_cnpj", "sacado_nome", "data_emissao", "data_aquisicao", "data_vencimento",
    "data_vencimento_ajustada", "valor_face", "valor_aquisicao", "valor_presente", "valor_pdd", "faixa_pdd",
    "situacao", "coobrigacao", "taxa_cessao", "moeda",
)  # fmt: skip
QUOTA_HEADER: tuple[str, ...] = (
    "fundo_cnpj", "data", "classe", "serie", "quantidade_cotas", "valor_cota", "patrimonio_liquido",
)  # fmt: skip
_COL = {name: i for i, name in enumerate(HEADER)}
_QCOL = {name: i for i, name in enumerate(QUOTA_HEADER)}
_CORRUPTIBLE_DATES = ("data_emissao", "data_aquisicao", "data_vencimento", "data_vencimento_ajustada")
_CORRUPTIBLE_NUMBERS = ("valor_presente", "valor_aquisicao")


def stock_file_name(fund_cnpj: str, day: dt.date) -> str:
    return f"posicao_{fund_cnpj}_{day:%Y%m%d}.csv"


def quota_file_name(fund_cnpj: str, day: dt.date) -> str:
    return f"cotas_{fund_cnpj}_{day:%Y%m%d}.csv"


def _writer(buf: io.StringIO):
    return csv.writer(buf, delimiter=DELIMITER, lineterminator=LINE_TERMINATOR, quoting=csv.QUOTE_MINIMAL)


def _bad_date(rng: random.Random, day: dt.date) -> str:
    d, m = impossible_date(rng)
    return f"{day.year:04d}-{m:02d}-{d:02d}"


class DeltaStockRenderer:
    def __init__(self, fund: Fund) -> None:
        self.fund = fund
        self._static: dict[int, tuple[Receivable, list[str]]] = {}

    def _cells(self, rec: Receivable) -> list[str]:
        hit = self._static.get(id(rec))
        if hit is not None and hit[0] is rec:
            return hit[1]
        ced, sac = rec.cedente, rec.sacado
        cells = [
            self.fund.cnpj, "", rec.seu_numero, rec.numero_documento, str(rec.asset_type), ced.document,
            party_name(ced), sac.document, party_name(sac), rec.issue_date.isoformat(),
            rec.acquisition_date.isoformat(), rec.original_due_date.isoformat(), rec.adjusted_due_date.isoformat(),
            "", "", "", "", "", "", "true" if rec.coobrigacao else "false", rate_text(rec.cession_rate), CURRENCY,
        ]  # fmt: skip
        self._static[id(rec)] = (rec, cells)
        return cells

    def render(
        self, day: dt.date, positions: Sequence[StockPosition], rng: random.Random, bad_row_rate: float = 0.0
    ) -> RenderedFile:
        check_rate(bad_row_rate)
        buf = io.StringIO()
        writer = _writer(buf)
        writer.writerow(HEADER)
        accepted: list[StockPosition] = []
        corrupted: list[BadRow] = []
        iso = day.isoformat()
        c_face = _COL["valor_face"]
        with localcontext(MONEY_CONTEXT):
            total = ZERO
            for i, pos in enumerate(positions):
                if pos.reference_date != day:
                    raise ValueError(f"position of {pos.reference_date} in the stock of {day}")
                cells = list(self._cells(pos.receivable))
                cells[1] = iso
                cells[c_face : c_face + 6] = [
                    str(pos.nominal_value), str(pos.acquisition_value), str(pos.present_value), str(pos.pdd_value),
                    pos.pdd_bucket, "vencido" if pos.status == STATUS_OVERDUE else "a_vencer",
                ]  # fmt: skip
                total += pos.nominal_value
                if rng.random() < bad_row_rate:
                    corrupted.append(BadRow(i + 2, *_corrupt_stock(cells, rng, day)))
                else:
                    accepted.append(pos)
                writer.writerow(cells)
        writer.writerow((TRAILER_TAG, len(positions), total))
        cnpj = self.fund.cnpj
        return RenderedFile(
            stock_file_name(cnpj, day), CUSTODIAN_ID, FileKind.POSITIONS, cnpj, day,
            buf.getvalue().encode(ENCODING), tuple(accepted), tuple(corrupted), len(positions), total,
        )  # fmt: skip


def _corrupt_stock(cells: list[str], rng: random.Random, day: dt.date) -> tuple[Reason, str]:
    reason = ALL_REASONS[rng.randrange(len(ALL_REASONS))]
    if reason is Reason.UNPARSEABLE_DATE:
        field = _CORRUPTIBLE_DATES[rng.randrange(len(_CORRUPTIBLE_DATES))]
        value = _bad_date(rng, day)
    elif reason is Reason.UNPARSEABLE_NUMBER:
        field = _CORRUPTIBLE_NUMBERS[rng.randrange(len(_CORRUPTIBLE_NUMBERS))]
        value = letter_in_number(cells[_COL[field]])
    elif reason is Reason.MISSING_REQUIRED:
        field, value = "seu_numero", ""
    elif reason is Reason.INVALID_DOCUMENT:
        field = "cedente_cpf_cnpj"
        value = wrong_check_digit(cells[_COL[field]], rng)
    else:
        field, value = "tipo_ativo", UNKNOWN_ASSET
    cells[_COL[field]] = value
    return reason, field


def render_quotas(fund_quotas: FundDayQuotas, rng: random.Random, bad_row_rate: float = 0.0) -> RenderedFile:
    """The fund-day's quota file (three rows: senior, mezanino, subordinada)."""
    check_rate(bad_row_rate)
    buf = io.StringIO()
    writer = _writer(buf)
    writer.writerow(QUOTA_HEADER)
    day = fund_quotas.reference_date
    accepted = []
    corrupted: list[BadRow] = []
    for i, q in enumerate(fund_quotas.rows):
        cells = [
            q.fund_cnpj, day.isoformat(), q.quota_class, q.series, str(q.quota_count), str(q.quota_value),
            str(q.net_assets),
        ]  # fmt: skip
        if rng.random() < bad_row_rate:
            reason = ALL_REASONS[rng.randrange(len(ALL_REASONS))]
            if reason is Reason.UNPARSEABLE_DATE:
                field, value = "data", _bad_date(rng, day)
            elif reason is Reason.UNPARSEABLE_NUMBER:
                field, value = "valor_cota", letter_in_number(cells[_QCOL["valor_cota"]])
            elif reason is Reason.MISSING_REQUIRED:
                field, value = "serie", ""
            elif reason is Reason.INVALID_DOCUMENT:
                field, value = "fundo_cnpj", wrong_check_digit(q.fund_cnpj, rng)
            else:
                field, value = "classe", UNKNOWN_CLASS
            cells[_QCOL[field]] = value
            corrupted.append(BadRow(i + 2, reason, field))
        else:
            accepted.append(q)
        writer.writerow(cells)
    cnpj = fund_quotas.fund_cnpj
    return RenderedFile(
        quota_file_name(cnpj, day), CUSTODIAN_ID, FileKind.QUOTAS, cnpj, day, buf.getvalue().encode(ENCODING),
        tuple(accepted), tuple(corrupted), len(fund_quotas.rows),
    )  # fmt: skip
