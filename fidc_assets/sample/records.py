"""The canonical records the simulation produces (`Fund`, `Party`, `Receivable`, `StockPosition`, `Movement`)
and the conventions they share: money in centavos (ROUND_HALF_EVEN, a private decimal context), the asset
types and movement kinds, the stock statuses. Renderers turn these records into custodian files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Decimal context for every money computation (independent of the caller's thread context).
MONEY_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)

#: A defaulted receivable is written off on the first business day more than this many calendar days after
#: its due date (so the CMN 2682 rating H never appears in a stock).
WRITE_OFF_DAYS = 180

STATUS_PERFORMING = "A VENCER"
STATUS_OVERDUE = "VENCIDO"


class AssetType(StrEnum):
    DUPLICATA_MERCANTIL = "DM"
    DUPLICATA_SERVICO = "DS"
    CCB = "CCB"
    CHEQUE = "CH"
    CARTAO = "CC"


ASSET_TYPE_NAMES = {
    AssetType.DUPLICATA_MERCANTIL: "Duplicata Mercantil",
    AssetType.DUPLICATA_SERVICO: "Duplicata de Serviço",
    AssetType.CCB: "Cédula de Crédito Bancário",
    AssetType.CHEQUE: "Cheque",
    AssetType.CARTAO: "Recebível de Cartão",
}


class MovementKind(StrEnum):
    ACQUISITION = "AQUISICAO"
    SETTLEMENT = "LIQUIDACAO"
    PARTIAL_SETTLEMENT = "LIQUIDACAO_PARCIAL"
    REPURCHASE = "RECOMPRA"
    WRITE_OFF = "BAIXA"


def money(value: Decimal | int | str) -> Decimal:
    """`value` rounded to centavos, ROUND_HALF_EVEN."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN, context=MONEY_CONTEXT)


# ----------------------------------------------------------------------------------------------------------
# Canonical records


@dataclass(frozen=True, slots=True)
class Party:
    """A person (CPF, 11 digits) or a company/fund (CNPJ, 14 digits); `document` is bare digits."""

    document: str
    name: str

    @property
    def is_company(self) -> bool:
        return len(self.document) == 14


@dataclass(frozen=True, slots=True)
class Fund:
    cnpj: str
    name: str
    sector: str
    administrator: Party
    originator: Party
    cedentes: tuple[Party, ...]
    sacados: tuple[Party, ...]


@dataclass(frozen=True, slots=True)
class Receivable:
    """A receivable as acquired by the fund (static attributes). Key: (cedente document, seu_numero)."""

    fund_cnpj: str
    cedente: Party
    sacado: Party
    seu_numero: str
    numero_documento: str
    asset_type: AssetType
    issue_date: dt.date
    acquisition_date: dt.date
    original_due_date: dt.date
    adjusted_due_date: dt.date  # next business day when the original due date is not one
    nominal_value: Decimal  # face value
    acquisition_value: Decimal  # price paid: nominal discounted at cession_rate, acquisition → due
    cession_rate: Decimal  # % per month (2 decimals)
    receivable_rate: Decimal  # the instrument's own rate, % per month (up to 4 decimals)
    coobrigacao: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.cedente.document, self.seu_numero)

    @property
    def term_days(self) -> int:
        """prazo: calendar days from acquisition to the adjusted due date."""
        return (self.adjusted_due_date - self.acquisition_date).days


@dataclass(slots=True)
class StockPosition:
    """One receivable in a fund's stock at the end of `reference_date`.

    Treat as immutable. Not declared frozen only for speed: millions are built per sample, and a frozen
    dataclass's `__init__` is five times slower.
    """

    receivable: Receivable
    reference_date: dt.date
    nominal_value: Decimal  # open nominal (face value less partial payments)
    acquisition_value: Decimal  # acquisition value of the open part
    present_value: Decimal
    pdd_value: Decimal
    days_overdue: int
    days_to_due: int  # prazo_atual: negative when overdue
    rating: str  # CMN 2682, AA..H
    provision_rate: Decimal  # CMN 2682 provision (0.005 = 0.5 %)
    pdd_bucket: str  # the fund's faixa_pdd: a/b/c/d/wop
    status: str  # "A VENCER" / "VENCIDO"


@dataclass(frozen=True, slots=True)
class Movement:
    """An event on a receivable on business day `date` (after the day's stock is struck, it is gone).

    `amount` is what the event does to the book: acquisition: price paid; partial: nominal paid off;
    settlement and write-off: the open nominal closed; repurchase: the PV paid by the cedente.
    `open_nominal` is the open nominal just before the event (acquisition: the face value). `paid` is the cash
    the fund pays (acquisition) or receives, and `adjustment` = paid - open nominal for exits (see
    `settlement_cash`), 0 for acquisitions and partial payments.
    """

    fund_cnpj: str
    date: dt.date
    kind: MovementKind
    receivable: Receivable
    amount: Decimal
    open_nominal: Decimal = ZERO
    paid: Decimal = ZERO
    adjustment: Decimal = ZERO
