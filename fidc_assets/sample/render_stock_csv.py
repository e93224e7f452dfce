"""Render a simulated fund-day stock as custodian `custodia_alfa`'s daily stock CSV.

Custodian "Alfa Serviços Fiduciários DTVM" delivers one file per fund per business day:

* name ``ESTOQUE_<FUND CNPJ, 14 digits>_<YYYYMMDD>.csv``;
* latin-1, ``;``-separated, CRLF line endings, one header row (`HEADER`), no trailer, no quoting (text
  fields never contain ``;``, quotes or line breaks);
* money with a comma decimal and no thousands separator (``3600,00``), rates in % per month with 2 to 4
  decimals (``2,35``, ``3,5845``), dates ``dd/mm/yyyy``, coobrigação ``SIM``/``NAO``;
* CPF/CNPJ punctuated (``12.345.678/0001-95``, ``123.456.789-09``) except on about 10 % of the rows,
  where all the row's documents are bare digits;
* rows sorted by (DOC_CEDENTE digits, SEU_NUMERO); DATA_FUNDO = DATA_REFERENCIA = the stock's day;
  PRAZO = calendar days from acquisition to the adjusted due date, PRAZO_ATUAL = calendar days from the
  reference date to the adjusted due date (negative when overdue).

With `bad_row_rate` > 0, each row is corrupted with that probability so that a strict parser must reject it
(see `CorruptionReason`); the corruptions are returned with their physical line numbers (header = line 1).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter

from fidc_assets.lib.core.documents import format_document
from fidc_assets.sample.records import Fund, Receivable, StockPosition
from fidc_assets.sample.render_common import check_rate

CUSTODIAN_ID = "custodia_alfa"
CUSTODIAN_NAME = "Alfa Serviços Fiduciários DTVM"
ENCODING = "latin-1"
DELIMITER = ";"
LINE_TERMINATOR = "\r\n"
UNPUNCTUATED_SHARE = 0.10

HEADER: tuple[str, ...] = (
    "NOME_FUNDO", "DOC_FUNDO", "DATA_FUNDO", "NOME_ORIGINADOR", "DOC_ORIGINADOR", "NOME_CEDENTE",
    "DOC_CEDENTE", "NOME_SACADO", "DOC_SACADO", "SEU_NUMERO", "NU_DOCUMENTO", "TIPO_RECEBIVEL",
    "VALOR_NOMINAL", "VALOR_PRESENTE", "VALOR_AQUISICAO", "VALOR_PDD", "FAIXA_PDD", "DATA_REFERENCIA",
    "DATA_VENCIMENTO_ORIGINAL", "DATA_VENCIMENTO_AJUSTADA", "DATA_EMISSAO", "DATA_AQUISICAO", "PRAZO",
    "PRAZO_ATUAL", "SITUACAO_RECEBIVEL", "TAXA_CESSAO", "TX_RECEBIVEL", "COOBRIGACAO",
)  # fmt: skip
_COL = {name: i for i, name in enumerate(HEADER)}
_FOUR_MONEY = re.compile(r"\d+\.\d\d;\d+\.\d\d;\d+\.\d\d;\d+\.\d\d")
_ROW_ORDER = attrgetter("receivable.cedente.document", "receivable.seu_numero")
_CORRUPTIBLE_DATES = (
    "DATA_VENCIMENTO_ORIGINAL",
    "DATA_VENCIMENTO_AJUSTADA",
    "DATA_EMISSAO",
    "DATA_AQUISICAO",
)


class CorruptionReason(StrEnum):
    """Why a strict parser must reject a corrupted row (the quarantine reason codes)."""

    UNPARSEABLE_DATE = "unparseable_date"  # an impossible date such as 31/02/2024
    UNPARSEABLE_NUMBER = "unparseable_number"  # VALOR_NOMINAL such as 12x4,50
    MISSING_REQUIRED = "missing_required"  # empty SEU_NUMERO (part of the key)
    INVALID_DOCUMENT = "invalid_document"  # DOC_CEDENTE with a wrong check digit


_REASONS = tuple(CorruptionReason)


@dataclass(frozen=True, slots=True)
class CorruptedRow:
    line_number: int  # 1-based physical line; the header is line 1
    reason_code: CorruptionReason
    field: str  # the CSV column corrupted
    position: StockPosition  # what the row would have said


@dataclass(frozen=True, slots=True)
class RenderedStockFile:
    file_name: str
    fund_cnpj: str
    reference_date: dt.date
    content: bytes
    positions: tuple[StockPosition, ...]  # in row order: row i is on line i + 2
    corrupted: tuple[CorruptedRow, ...]

    @property
    def accepted_positions(self) -> list[StockPosition]:
        """The positions on rows a correct parser accepts."""
        bad = {c.line_number for c in self.corrupted}
        return [p for i, p in enumerate(self.positions) if i + 2 not in bad]


def stock_file_name(fund_cnpj: str, day: dt.date) -> str:
    return f"ESTOQUE_{fund_cnpj}_{day:%Y%m%d}.csv"


def render_rng(seed: int, fund_cnpj: str, day: dt.date) -> random.Random:
    """The generator deciding punctuation and corruption of one file (independent of the other files)."""
    return random.Random(f"{seed}|{CUSTODIAN_ID}|{fund_cnpj}|{day.isoformat()}")


def format_money(value: Decimal) -> str:
    """`Decimal('3600.00')` → `'3600,00'` (values must already have exactly two places)."""
    if value.as_tuple().exponent != -2:
        raise ValueError(f"money must have exactly 2 decimal places: {value!r}")
    return str(value).replace(".", ",")


def format_rate(value: Decimal) -> str:
    """% per month with 2 to 4 decimals: `2.35` → `'2,35'`, `3.5845` → `'3,5845'`."""
    text = f"{value:.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return text.replace(".", ",")


def format_date(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


class StockCsvRenderer:
    """Renders one fund's daily stock files; caches each receivable's fixed text between days."""

    def __init__(self, fund: Fund) -> None:
        self.fund = fund
        # id(receivable) -> (receivable, fixed text parts), one cache per punctuation style
        self._static: dict[bool, dict[int, tuple[Receivable, str, str, str]]] = {False: {}, True: {}}
        self._fund_doc = (fund.cnpj, format_document(fund.cnpj))

    def _static_parts(self, rec: Receivable, punctuated: bool) -> tuple[Receivable, str, str, str]:
        cache = self._static[punctuated]
        parts = cache.get(id(rec))
        if parts is None or parts[0] is not rec:
            doc = format_document if punctuated else str
            orig, ced, sac = self.fund.originator, rec.cedente, rec.sacado
            parts = (
                rec,
                DELIMITER.join(
                    (
                        orig.name, doc(orig.document), ced.name, doc(ced.document), sac.name,
                        doc(sac.document), rec.seu_numero, rec.numero_documento, str(rec.asset_type),
                    )
                ),
                DELIMITER.join(
                    (
                        format_date(rec.original_due_date), format_date(rec.adjusted_due_date),
                        format_date(rec.issue_date), format_date(rec.acquisition_date), str(rec.term_days),
                    )
                ),
                DELIMITER.join(
                    (
                        format_rate(rec.cession_rate), format_rate(rec.receivable_rate),
                        "SIM" if rec.coobrigacao else "NAO",
                    )
                ),
            )  # fmt: skip
            cache[id(rec)] = parts
        return parts

    def render(
        self,
        day: dt.date,
        positions: Sequence[StockPosition],
        rng: random.Random,
        bad_row_rate: float = 0.0,
        unpunctuated_share: float = UNPUNCTUATED_SHARE,
    ) -> RenderedStockFile:
        check_rate(bad_row_rate)
        fund = self.fund
        ref = format_date(day)
        prefixes = {punct: DELIMITER.join((fund.name, self._fund_doc[punct], ref)) for punct in (False, True)}
        ordered = sorted(positions, key=_ROW_ORDER)
        lines = [DELIMITER.join(HEADER)]
        append = lines.append
        corrupted: list[CorruptedRow] = []
        caches = self._static
        rand = rng.random
        money_ok = _FOUR_MONEY.fullmatch
        for i, pos in enumerate(ordered):
            if pos.reference_date != day:
                raise ValueError(f"position of {pos.reference_date} in the stock of {day}")
            # Always two draws per row, so one row's fate does not shift the next rows' draws.
            punctuated = rand() >= unpunctuated_share
            bad = rand() < bad_row_rate
            rec = pos.receivable
            parts = caches[punctuated].get(id(rec))
            if parts is None or parts[0] is not rec:
                parts = self._static_parts(rec, punctuated)
            # Money has exactly two places: str() of the four at once, checked, then one replace.
            money = f"{pos.nominal_value};{pos.present_value};{pos.acquisition_value};{pos.pdd_value}"
            if not money_ok(money):
                raise ValueError(f"money must be non-negative with exactly 2 decimal places: {money}")
            line = (
                f"{prefixes[punctuated]};{parts[1]};{money.replace('.', ',')};{pos.pdd_bucket};{ref};"
                f"{parts[2]};{pos.days_to_due};{pos.status};{parts[3]}"
            )
            if bad:
                line, reason, field = _corrupt(line, rng, day)
                corrupted.append(CorruptedRow(i + 2, reason, field, pos))
            append(line)
        content = (LINE_TERMINATOR.join(lines) + LINE_TERMINATOR).encode(ENCODING)
        return RenderedStockFile(
            stock_file_name(fund.cnpj, day), fund.cnpj, day, content, tuple(ordered), tuple(corrupted)
        )


def _corrupt(line: str, rng: random.Random, day: dt.date) -> tuple[str, CorruptionReason, str]:
    fields = line.split(DELIMITER)
    reason = _REASONS[rng.randrange(len(_REASONS))]
    if reason is CorruptionReason.UNPARSEABLE_DATE:
        field = _CORRUPTIBLE_DATES[rng.randrange(len(_CORRUPTIBLE_DATES))]
        pattern = ("31/02/{y}", "30/02/{y}", "31/04/{y}", "00/{m:02d}/{y}", "15/13/{y}")[rng.randrange(5)]
        value = pattern.format(y=day.year, m=day.month)
    elif reason is CorruptionReason.UNPARSEABLE_NUMBER:
        field = "VALOR_NOMINAL"
        text = fields[_COL[field]]
        integer = text.split(",")[0]
        value = text[:2] + "x" + text[3:] if len(integer) >= 3 else text[:1] + "x" + text[1:]
    elif reason is CorruptionReason.MISSING_REQUIRED:
        field = "SEU_NUMERO"
        value = ""
    else:
        field = "DOC_CEDENTE"
        text = fields[_COL[field]]
        wrong = (int(text[-1]) + rng.randint(1, 9)) % 10
        value = text[:-1] + str(wrong)
    fields[_COL[field]] = value
    return DELIMITER.join(fields), reason, field


def render_stock_csv(
    fund: Fund,
    day: dt.date,
    positions: Sequence[StockPosition],
    *,
    rng: random.Random | None = None,
    bad_row_rate: float = 0.0,
    unpunctuated_share: float = UNPUNCTUATED_SHARE,
) -> RenderedStockFile:
    """One fund-day stock as `custodia_alfa`'s CSV (see the module docstring for the format).

    `rng` decides punctuation and corruption; by default `render_rng(0, fund.cnpj, day)`. To render many
    days of one fund, reuse a `StockCsvRenderer` (it caches each receivable's fixed text).
    """
    if rng is None:
        rng = render_rng(0, fund.cnpj, day)
    return StockCsvRenderer(fund).render(day, positions, rng, bad_row_rate, unpunctuated_share)
