"""What the custodian renderers share: the rendered-file record, bad-row bookkeeping, seeded generators,
display names and number formatting.

Every renderer turns part of one `Simulation` into the bytes of one custodian file and reports exactly which
records a strict parser must reject (`BadRow`) and which it must accept, so the generator can write the
ground truth without parsing its own output.

Line-number convention for `BadRow.line_number` (1-based):
    delimited and fixed-width files: the physical line (a header is line 1); XLSX: the sheet row number;
    JSON: the index of the record in its array.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fidc_assets.sample.records import AssetType, Party


class Reason(StrEnum):
    """Why a strict parser must reject a corrupted record (the quarantine reason codes)."""

    UNPARSEABLE_DATE = "unparseable_date"  # an impossible date such as 31/02/2024 or 300224
    UNPARSEABLE_NUMBER = "unparseable_number"  # a number with a letter in it
    MISSING_REQUIRED = "missing_required"  # an empty key field (seu número)
    INVALID_DOCUMENT = "invalid_document"  # a CPF/CNPJ with a wrong check digit
    UNKNOWN_CODE = "unknown_code"  # a value-mapped code absent from the map (asset type, occurrence ...)


ALL_REASONS: tuple[Reason, ...] = tuple(Reason)


class FileKind(StrEnum):
    POSITIONS = "positions"
    ACQUISITIONS = "acquisitions"
    SETTLEMENTS = "settlements"
    QUOTAS = "quotas"


@dataclass(frozen=True, slots=True)
class BadRow:
    line_number: int  # see the module docstring
    reason_code: Reason
    field: str  # the column / key / field name that was corrupted


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One inbox file plus what a correct parser must find in it.

    `accepted` holds the simulation records behind the rows a strict parser accepts: `StockPosition`s
    (positions), `Movement`s (acquisitions, settlements) or `QuotaRow`s (quotas).
    """

    file_name: str
    custodian_id: str
    kind: FileKind
    fund_cnpj: str
    day: dt.date
    content: bytes
    accepted: tuple[Any, ...]
    corrupted: tuple[BadRow, ...]
    record_count: int  # data records written, corrupted ones included
    control_total: Decimal | None = None  # trailer sum, when the format has one


def file_rng(seed: int, custodian_id: str, kind: str, fund_cnpj: str, day: dt.date) -> random.Random:
    """The generator deciding the layout choices and corruptions of one file (independent of other files)."""
    return random.Random(f"{seed}|{custodian_id}|{kind}|{fund_cnpj}|{day.isoformat()}")


def check_rate(bad_row_rate: float) -> None:
    if not 0.0 <= bad_row_rate <= 1.0:
        raise ValueError(f"bad_row_rate must be in [0, 1], got {bad_row_rate}")


# ----------------------------------------------------------------------------------------------------------
# Display names: how the newer custodians' systems spell party names

_TRADE_NAMES = ("Bom Preço", "Casa Nova", "Ponto Certo", "Sol Nascente", "Boa Vista", "Estrela Azul", "Pão Nosso")
_BRANCHES = ("Filial Sul", "Filial Norte", "Unidade Centro", "Matriz", "Filial Oeste")
_PARTNERS = (
    "Silva", "Souza", "Oliveira", "Costa", "Almeida", "Rocha", "Ferreira", "Lima", "Araújo", "Teixeira",
    "Gonçalves", "Magalhães",
)  # fmt: skip
_LEGAL_SUFFIXES = (" & Cia Ltda", " Ltda", " S.A.", " Eireli")
#: cp1252 characters absent from latin-1 used in display names, and their latin-1 stand-ins.
CP1252_ONLY = {"\u201c": '"', "\u201d": '"', "\u2013": "-"}
_TO_LATIN1 = str.maketrans(CP1252_ONLY)


@functools.lru_cache(maxsize=65536)
def display_name(document: str, name: str) -> str:
    """The party's name as the newer custodians' systems hold it (deterministic per document).

    Most names are unchanged. About 5 % of companies carry a trade name in typographic quotes before the
    legal suffix (`Comércio Ipiranga “Bom Preço” Ltda`), about 4 % a branch after an en dash
    (`Transportes Itajaí Ltda – Filial Sul`), and about 6 % are partnerships whose name has a comma
    (`Silva, Souza & Cia Ltda`). `“`, `”` and `–` exist in cp1252 but not in latin-1.
    """
    if len(document) != 14:
        return name
    rng = random.Random(f"display-name|{document}")
    u = rng.random()
    if u < 0.05:
        trade = _TRADE_NAMES[rng.randrange(len(_TRADE_NAMES))]
        cut = min((i for i in (name.find(s) for s in _LEGAL_SUFFIXES) if i > 0), default=len(name))
        return f"{name[:cut]} \u201c{trade}\u201d{name[cut:]}"
    if u < 0.09:
        return f"{name} \u2013 {_BRANCHES[rng.randrange(len(_BRANCHES))]}"
    if u < 0.15:
        a, b = rng.sample(_PARTNERS, 2)
        return f"{a}, {b} & Cia Ltda"
    return name


def latin1_name(document: str, name: str) -> str:
    """`display_name` with the cp1252-only characters replaced by latin-1 ones."""
    return display_name(document, name).translate(_TO_LATIN1)


def party_name(party: Party) -> str:
    return display_name(party.document, party.name)


# ----------------------------------------------------------------------------------------------------------
# Formatting

_BR_SWAP = str.maketrans({",": ".", ".": ","})


def br_number(value: Decimal, places: int = 2, thousands: bool = True) -> str:
    """`Decimal('1234.5')` → `'1.234,50'` (or `'1234,50'` without thousands separators)."""
    text = f"{value:,.{places}f}" if thousands else f"{value:.{places}f}"
    return text.translate(_BR_SWAP)


def br_date(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def rate_text(value: Decimal) -> str:
    """% per month with 2 to 4 decimals and a dot: `2.35`, `3.5845`."""
    text = f"{value:.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return text


def wrong_check_digit(text: str, rng: random.Random) -> str:
    """`text` (a document, punctuated or not) with its last digit changed, so the check digits fail."""
    wrong = (int(text[-1]) + rng.randint(1, 9)) % 10
    return text[:-1] + str(wrong)


def letter_in_number(text: str) -> str:
    """A number's text with its second character replaced by `x` (`'12699,03'` → `'1x699,03'`)."""
    if len(text) < 2:
        return "x" + text
    if not text[1].isdigit():  # '1.234,56' or '1,50': keep the separator, hit the first digit
        return "x" + text[1:]
    return text[:1] + "x" + text[2:]


#: Impossible dates by pattern: (day, month) pairs (the year is the file's).
IMPOSSIBLE_DAY_MONTH = ((31, 2), (30, 2), (31, 4), (0, 7), (15, 13))


def impossible_date(rng: random.Random) -> tuple[int, int]:
    return IMPOSSIBLE_DAY_MONTH[rng.randrange(len(IMPOSSIBLE_DAY_MONTH))]


ASSET_WORDS = {
    AssetType.DUPLICATA_MERCANTIL: "Duplicata Mercantil",
    AssetType.DUPLICATA_SERVICO: "Duplicata de Serviço",
    AssetType.CCB: "CCB",
    AssetType.CHEQUE: "Cheque",
    AssetType.CARTAO: "Cartão de Crédito",
}
