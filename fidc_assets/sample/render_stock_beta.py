"""Render a simulated fund-day stock as custodian `custodia_beta`'s camelCase API CSV.

Custodian "Beta Custódia e Controladoria S.A." delivers one file per fund per business day:

* name ``carteira_<FUND CNPJ, 14 digits>_<yyyy-mm-dd>.csv``;
* cp1252 (some names carry `“`, `”` or `–`, which latin-1 lacks), ``;``-separated, CRLF, one header row
  (`HEADER`), no trailer;
* every text field (names, documents, codes, dates, buckets, statuses) in double quotes; numbers unquoted;
* money with a comma decimal and ``.`` thousands separators (``1.234,56``), rates in % per month with 2 to 4
  decimals (``2,35``), ``prazoAnual`` = prazo / 365 with 4 decimals (``0,1644``), dates ``dd/mm/yyyy``,
  documents punctuated, coobrigação ``SIM``/``NAO``, tipoRecebivel in words (`ASSET_WORDS`);
* ``nomeGestor``/``docGestor`` carry the fund's administrator; ``faixaPdd`` the fund's bucket (a/b/c/d/wop);
  ``valorNominal`` is the open nominal; rows sorted by (docCedente digits, seuNumero).

Bad rows (probability `bad_row_rate` per row, reason uniform): ``unparseable_date`` (one of the four
receivable dates becomes e.g. ``31/02/2024``), ``unparseable_number`` (``valorNominal`` gets an ``x``),
``missing_required`` (``seuNumero`` is ``""``), ``invalid_document`` (``docCedente`` with a wrong check
digit), ``unknown_code`` (``tipoRecebivel`` is ``"Nota Promissória X"``). Line numbers are physical
(header = 1).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from fidc_assets.lib.core.documents import format_document
from fidc_assets.sample.records import Fund, Receivable, StockPosition
from fidc_assets.sample.render_common import (
    ALL_REASONS,
    ASSET_WORDS,
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
    rate_text,
    wrong_check_digit,
)

CUSTODIAN_ID = "custodia_beta"
CUSTODIAN_NAME = "Beta Custódia e Controladoria S.A."
ENCODING = "cp1252"
DELIMITER = ";"
LINE_TERMINATOR = "\r\n"
UNKNOWN_ASSET = "Nota Promissória X"

HEADER: tuple[str, ...] = (
    "nomeFundo", "docFundo", "dataFundo", "nomeGestor", "docGestor", "nomeOriginador", "docOriginador",
    "nomeCedente", "docCedente", "nomeSacado", "docSacado", "seuNumero", "numeroDocumento", "tipoRecebivel",
    "valorNominal", "valorPresente", "valorAquisicao", "valorPdd", "faixaPdd", "dataReferencia",
    "dataVencimentoOriginal", "dataVencimentoAjustada", "dataEmissao", "dataAquisicao", "prazo", "prazoAnual",
    "situacaoRecebivel", "taxaCessao", "taxaRecebivel", "coobrigacao",
)  # fmt: skip
_COL = {name: i for i, name in enumerate(HEADER)}
_CORRUPTIBLE_DATES = ("dataVencimentoOriginal", "dataVencimentoAjustada", "dataEmissao", "dataAquisicao")
_YEAR_DAYS = Decimal(365)
_FOUR = Decimal("0.0001")


def file_name(fund_cnpj: str, day: dt.date) -> str:
    return f"carteira_{fund_cnpj}_{day.isoformat()}.csv"


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _rate(value: Decimal) -> str:
    return rate_text(value).replace(".", ",")


class BetaStockRenderer:
    """Renders one fund's daily files; caches each receivable's fixed cells between days."""

    def __init__(self, fund: Fund) -> None:
        self.fund = fund
        self._static: dict[int, tuple[Receivable, list[str]]] = {}
        adm, orig = fund.administrator, fund.originator
        self._fund_cells = [
            _q(fund.name), _q(format_document(fund.cnpj)), "", _q(adm.name), _q(format_document(adm.document)),
            _q(orig.name), _q(format_document(orig.document)),
        ]  # fmt: skip

    def _cells(self, rec: Receivable) -> list[str]:
        hit = self._static.get(id(rec))
        if hit is not None and hit[0] is rec:
            return hit[1]
        ced, sac = rec.cedente, rec.sacado
        prazo = rec.term_days
        cells = [
            *self._fund_cells,
            _q(party_name(ced)), _q(format_document(ced.document)), _q(party_name(sac)),
            _q(format_document(sac.document)), _q(rec.seu_numero), _q(rec.numero_documento),
            _q(ASSET_WORDS[rec.asset_type]),
            "", "", "", "", "", "",  # money, faixaPdd, dataReferencia
            _q(br_date(rec.original_due_date)), _q(br_date(rec.adjusted_due_date)), _q(br_date(rec.issue_date)),
            _q(br_date(rec.acquisition_date)), str(prazo),
            br_number((Decimal(prazo) / _YEAR_DAYS).quantize(_FOUR, ROUND_HALF_EVEN), 4, thousands=False),
            "", _rate(rec.cession_rate), _rate(rec.receivable_rate), _q("SIM" if rec.coobrigacao else "NAO"),
        ]  # fmt: skip
        self._static[id(rec)] = (rec, cells)
        return cells

    def render(
        self, day: dt.date, positions: Sequence[StockPosition], rng: random.Random, bad_row_rate: float = 0.0
    ) -> RenderedFile:
        check_rate(bad_row_rate)
        ref = _q(br_date(day))
        lines = [DELIMITER.join(HEADER)]
        accepted: list[StockPosition] = []
        corrupted: list[BadRow] = []
        c_fund_day, c_nominal, c_bucket = _COL["dataFundo"], _COL["valorNominal"], _COL["faixaPdd"]
        c_ref, c_status = _COL["dataReferencia"], _COL["situacaoRecebivel"]
        for i, pos in enumerate(positions):
            if pos.reference_date != day:
                raise ValueError(f"position of {pos.reference_date} in the stock of {day}")
            cells = list(self._cells(pos.receivable))
            cells[c_fund_day] = ref
            cells[c_nominal : c_nominal + 4] = [
                br_number(pos.nominal_value), br_number(pos.present_value), br_number(pos.acquisition_value),
                br_number(pos.pdd_value),
            ]  # fmt: skip
            cells[c_bucket] = _q(pos.pdd_bucket)
            cells[c_ref] = ref
            cells[c_status] = _q(pos.status)
            if rng.random() < bad_row_rate:
                corrupted.append(BadRow(i + 2, *_corrupt(cells, rng, day)))
            else:
                accepted.append(pos)
            lines.append(DELIMITER.join(cells))
        content = (LINE_TERMINATOR.join(lines) + LINE_TERMINATOR).encode(ENCODING)
        return RenderedFile(
            file_name(self.fund.cnpj, day), CUSTODIAN_ID, FileKind.POSITIONS, self.fund.cnpj, day, content,
            tuple(accepted), tuple(corrupted), len(positions),
        )  # fmt: skip


def _corrupt(cells: list[str], rng: random.Random, day: dt.date) -> tuple[Reason, str]:
    reason = ALL_REASONS[rng.randrange(len(ALL_REASONS))]
    if reason is Reason.UNPARSEABLE_DATE:
        field = _CORRUPTIBLE_DATES[rng.randrange(len(_CORRUPTIBLE_DATES))]
        d, m = impossible_date(rng)
        value = _q(f"{d:02d}/{m:02d}/{day.year}")
    elif reason is Reason.UNPARSEABLE_NUMBER:
        field = "valorNominal"
        value = letter_in_number(cells[_COL[field]])
    elif reason is Reason.MISSING_REQUIRED:
        field = "seuNumero"
        value = _q("")
    elif reason is Reason.INVALID_DOCUMENT:
        field = "docCedente"
        value = _q(wrong_check_digit(cells[_COL[field]][1:-1], rng))
    else:
        field = "tipoRecebivel"
        value = _q(UNKNOWN_ASSET)
    cells[_COL[field]] = value
    return reason, field
