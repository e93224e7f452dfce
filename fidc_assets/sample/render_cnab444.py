"""Render simulated events as custodian `custodia_epsilon`'s CNAB 444 files (fixed width).

Custodian "Épsilon Securitização e Custódia DTVM" delivers per fund and business day, only when there is at
least one event:

* ``CNAB444_<FUND CNPJ, 14 digits>_<yyyymmdd>.REM``: the acquisitions (cessões) of the day, occurrence ``01``;
* ``CNAB444_LIQ_<FUND CNPJ>_<yyyymmdd>.RET``: the settlements of the day with the same detail layout,
  occurrence ``77`` liquidação, ``14`` liquidação parcial, ``75`` recompra, ``71`` baixa (write-off).

Every line is exactly 444 characters, ISO-8859-1, CRLF. Numbers right-aligned zero-padded, money with two
implied decimals, dates DDMMAA, text left-aligned space-padded (accents kept; `“”–` become `"` and `-`; names
cut to the field width). Positions (1-based, inclusive), as in FIDC.md:

Header ``0``: 1 ``0`` · 2 ``1`` · 3-9 ``REMESSA`` · 10-11 ``01`` · 12-26 ``COBRANCA`` · 27-46 originator code
(the originator's CNPJ, zero-padded to 20) · 47-76 originator name · 77-79 bank number (`BANK_NUMBER`) ·
80-94 bank name · 95-100 file date · 109-110 ``MX`` · 111-117 file sequence (per fund and file type: 1 for
the fund's first REM, 2 for the next ...) · 439-444 ``000001``. The RET header is the same.

Detail ``1``: 21-22 coobrigação (``01`` with, ``02`` without) · 35-36 CMN 2682 rating on the event day
(AA..H, left-aligned) · 38-62 seu número · 83-92 amount paid (RET: the cash received, 0 for a write-off;
REM: zeros) · 95-100 settlement date (RET; REM zeros) · 109-110 occurrence · 111-120 document number (its
last 10 characters) · 121-126 adjusted due date · 127-139 face value of the receivable (as acquired) ·
148-149 espécie (`ESPECIE`: DM ``01``, DS ``02``, CH ``03``, CC ``04``, CCB ``51``) · 151-156 issue date ·
174-192 cession term number (acquisition date yyyymmdd + the cedente's CNPJ root, zero-padded) ·
193-205 acquisition price · 206-218 rebate (zeros) · 219-220 sacado document type (``01`` CPF, ``02`` CNPJ)
· 221-234 sacado CPF/CNPJ (zero-padded) · 235-274 sacado name · 327-334 CEP · 335-380 cedente name ·
381-394 cedente CNPJ · 395-438 blanks · 439-444 sequence (line number). Everything else is blank.

Trailer ``9``: blanks, 439-444 sequence.

Bad detail lines (probability `bad_row_rate`, reason uniform; line number = physical line, header = 1;
field = the canonical field name): ``unparseable_date`` (due_date 121-126 or issue_date 151-156 such as
``300224``), ``unparseable_number`` (REM nominal_value 127-139 / RET amount_paid 83-92 gets an ``x``),
``missing_required`` (receivable_id 38-62 blank), ``invalid_document`` (sacado_doc 221-234 with a wrong check
digit), ``unknown_code`` (occurrence_code ``99``).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Sequence
from decimal import Decimal

from fidc_assets.sample.records import AssetType, Fund, Movement, MovementKind
from fidc_assets.sample.render_common import (
    ALL_REASONS,
    BadRow,
    FileKind,
    Reason,
    RenderedFile,
    check_rate,
    impossible_date,
    latin1_name,
    wrong_check_digit,
)
from fidc_assets.sample.valuation import cmn2682_rating

CUSTODIAN_ID = "custodia_epsilon"
CUSTODIAN_NAME = "Épsilon Securitização e Custódia DTVM"
ENCODING = "latin-1"
LINE_LENGTH = 444
LINE_TERMINATOR = "\r\n"
BANK_NUMBER = "999"
BANK_NAME = "EPSILON DTVM"
UNKNOWN_OCCURRENCE = "99"

OCCURRENCE = {
    MovementKind.ACQUISITION: "01",
    MovementKind.SETTLEMENT: "77",
    MovementKind.PARTIAL_SETTLEMENT: "14",
    MovementKind.REPURCHASE: "75",
    MovementKind.WRITE_OFF: "71",
}
ESPECIE = {
    AssetType.DUPLICATA_MERCANTIL: "01",
    AssetType.DUPLICATA_SERVICO: "02",
    AssetType.CHEQUE: "03",
    AssetType.CARTAO: "04",
    AssetType.CCB: "51",
}
#: (first, last) 1-based inclusive positions of the detail fields a bad line corrupts, by field name.
FIELDS = {
    "receivable_id": (38, 62),
    "amount_paid": (83, 92),
    "occurrence_code": (109, 110),
    "due_date": (121, 126),
    "nominal_value": (127, 139),
    "issue_date": (151, 156),
    "sacado_doc": (221, 234),
}


def remittance_name(fund_cnpj: str, day: dt.date) -> str:
    return f"CNAB444_{fund_cnpj}_{day:%Y%m%d}.REM"


def settlement_name(fund_cnpj: str, day: dt.date) -> str:
    return f"CNAB444_LIQ_{fund_cnpj}_{day:%Y%m%d}.RET"


def ddmmaa(day: dt.date) -> str:
    return f"{day.day:02d}{day.month:02d}{day.year % 100:02d}"


def cents(value: Decimal, width: int) -> str:
    n = int(value.scaleb(2))
    exponent = value.as_tuple().exponent  # an int for a finite value (NaN and infinities failed above)
    if n < 0 or not isinstance(exponent, int) or exponent < -2:
        raise ValueError(f"not a non-negative centavo amount: {value}")
    text = str(n).zfill(width)
    if len(text) != width:
        raise ValueError(f"{value} does not fit in {width} digits")
    return text


@functools.lru_cache(maxsize=65536)
def cep(document: str) -> str:
    return f"{random.Random(f'cep|{document}').randrange(1_000_000, 99_999_999):08d}"


class _Line:
    __slots__ = ("chars",)

    def __init__(self, record_type: str) -> None:
        self.chars = [" "] * LINE_LENGTH
        self.chars[0] = record_type

    def put(self, first: int, last: int, text: str, *, number: bool = False) -> None:
        width = last - first + 1
        text = text.zfill(width) if number else text[:width].ljust(width)
        if len(text) != width:
            raise ValueError(f"{text!r} does not fit in {first}-{last}")
        self.chars[first - 1 : last] = text

    def get(self, first: int, last: int) -> str:
        return "".join(self.chars[first - 1 : last])

    def text(self) -> str:
        return "".join(self.chars)


class CnabRenderer:
    """One fund's CNAB 444 files; keeps the file sequence numbers (call in day order)."""

    def __init__(self, fund: Fund) -> None:
        self.fund = fund
        self.sequence = {FileKind.ACQUISITIONS: 0, FileKind.SETTLEMENTS: 0}

    def render(
        self,
        kind: FileKind,
        day: dt.date,
        movements: Sequence[Movement],
        rng: random.Random,
        bad_row_rate: float = 0.0,
    ) -> RenderedFile:
        check_rate(bad_row_rate)
        if kind not in self.sequence:
            raise ValueError(f"CNAB files carry acquisitions or settlements, not {kind}")
        remittance = kind is FileKind.ACQUISITIONS
        self.sequence[kind] += 1
        fund = self.fund
        header = _Line("0")
        header.put(2, 2, "1")
        header.put(3, 9, "REMESSA")
        header.put(10, 11, "01")
        header.put(12, 26, "COBRANCA")
        header.put(27, 46, fund.originator.document, number=True)
        header.put(47, 76, latin1_name(fund.originator.document, fund.originator.name))
        header.put(77, 79, BANK_NUMBER)
        header.put(80, 94, BANK_NAME)
        header.put(95, 100, ddmmaa(day))
        header.put(109, 110, "MX")
        header.put(111, 117, str(self.sequence[kind]), number=True)
        header.put(439, 444, "1", number=True)
        lines = [header.text()]
        accepted: list[Movement] = []
        corrupted: list[BadRow] = []
        for m in movements:
            if m.date != day or (m.kind is MovementKind.ACQUISITION) != remittance:
                raise ValueError(f"{m.kind} of {m.date} in the {kind} file of {day}")
            line = self._detail(m, remittance)
            number = len(lines) + 1
            line.put(439, 444, str(number), number=True)
            if rng.random() < bad_row_rate:
                corrupted.append(BadRow(number, *_corrupt(line, rng, day, remittance)))
            else:
                accepted.append(m)
            lines.append(line.text())
        trailer = _Line("9")
        trailer.put(439, 444, str(len(lines) + 1), number=True)
        lines.append(trailer.text())
        name = remittance_name(fund.cnpj, day) if remittance else settlement_name(fund.cnpj, day)
        content = (LINE_TERMINATOR.join(lines) + LINE_TERMINATOR).encode(ENCODING)
        return RenderedFile(
            name, CUSTODIAN_ID, kind, fund.cnpj, day, content, tuple(accepted), tuple(corrupted), len(movements)
        )

    def _detail(self, m: Movement, remittance: bool) -> _Line:
        rec = m.receivable
        ced, sac = rec.cedente, rec.sacado
        line = _Line("1")
        line.put(21, 22, "01" if rec.coobrigacao else "02")
        overdue = max(0, (m.date - rec.adjusted_due_date).days)
        line.put(35, 36, cmn2682_rating(overdue, rec.coobrigacao)[0])
        line.put(38, 62, rec.seu_numero)
        line.put(83, 92, "0" if remittance else cents(m.paid, 10), number=True)
        line.put(95, 100, "000000" if remittance else ddmmaa(m.date))
        line.put(109, 110, OCCURRENCE[m.kind])
        line.put(111, 120, rec.numero_documento[-10:])
        line.put(121, 126, ddmmaa(rec.adjusted_due_date))
        line.put(127, 139, cents(rec.nominal_value, 13))
        line.put(148, 149, ESPECIE[rec.asset_type])
        line.put(151, 156, ddmmaa(rec.issue_date))
        line.put(174, 192, f"{rec.acquisition_date:%Y%m%d}{ced.document[:8]}", number=True)
        line.put(193, 205, cents(rec.acquisition_value, 13))
        line.put(206, 218, "0", number=True)
        line.put(219, 220, "02" if sac.is_company else "01")
        line.put(221, 234, sac.document, number=True)
        line.put(235, 274, latin1_name(sac.document, sac.name))
        line.put(327, 334, cep(sac.document))
        line.put(335, 380, latin1_name(ced.document, ced.name))
        line.put(381, 394, ced.document, number=True)
        return line


def _corrupt(line: _Line, rng: random.Random, day: dt.date, remittance: bool) -> tuple[Reason, str]:
    reason = ALL_REASONS[rng.randrange(len(ALL_REASONS))]
    if reason is Reason.UNPARSEABLE_DATE:
        field = ("due_date", "issue_date")[rng.randrange(2)]
        d, m = impossible_date(rng)
        value = f"{d:02d}{m:02d}{day.year % 100:02d}"
    elif reason is Reason.UNPARSEABLE_NUMBER:
        field = "nominal_value" if remittance else "amount_paid"
        text = line.get(*FIELDS[field])
        value = text[:-4] + "x" + text[-3:]
    elif reason is Reason.MISSING_REQUIRED:
        field, value = "receivable_id", ""
    elif reason is Reason.INVALID_DOCUMENT:
        field = "sacado_doc"
        value = wrong_check_digit(line.get(*FIELDS[field]), rng)
    else:
        field, value = "occurrence_code", UNKNOWN_OCCURRENCE
    line.put(*FIELDS[field], value)
    return reason, field
