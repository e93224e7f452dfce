"""The life of a receivable in a simulated book: the cedentes' dealing profiles, the terms drawn at acquisition
(dates, face value, rates, coobrigação), its fate drawn at the same time (paid on time, early, late, partially,
repurchased, or defaulted and written off), and its numbering (seu número, document number).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from fidc_assets.sample.business_days import BusinessDays
from fidc_assets.sample.records import (
    CENT,
    WRITE_OFF_DAYS,
    ZERO,
    AssetType,
    Fund,
    MovementKind,
    Party,
    Receivable,
    money,
)
from fidc_assets.sample.valuation import Valuation


@dataclass(frozen=True, slots=True)
class Fate:
    exit_date: dt.date
    exit_kind: MovementKind
    partial_date: dt.date | None = None
    partial_amount: Decimal = ZERO


@dataclass(slots=True)
class CedenteProfile:
    party: Party
    asset_types: tuple[AssetType, ...]
    asset_weights: tuple[int, ...]
    base_rate_bp: int  # cession rate in hundredths of % per month
    coob_share: float
    risk: float  # multiplies default/late probabilities
    seu_numero_style: int
    next_number: int
    next_doc: int


@dataclass(slots=True)
class Book:
    fund: Fund
    receivables: list[Receivable] = field(default_factory=list)  # in acquisition order
    fates: list[Fate] = field(default_factory=list)


# Face value buckets in reais per asset type: (low, high, integer weight), uniform within a bucket.
_VALUE_BUCKETS: dict[AssetType, tuple[tuple[int, int, int], ...]] = {
    AssetType.DUPLICATA_MERCANTIL: ((300, 2_000, 25), (2_000, 10_000, 40), (10_000, 50_000, 25),
                                    (50_000, 250_000, 10)),
    AssetType.DUPLICATA_SERVICO: ((300, 2_000, 30), (2_000, 15_000, 45), (15_000, 80_000, 25)),
    AssetType.CHEQUE: ((100, 1_000, 50), (1_000, 5_000, 40), (5_000, 20_000, 10)),
    AssetType.CARTAO: ((50, 500, 50), (500, 3_000, 40), (3_000, 15_000, 10)),
    AssetType.CCB: ((1_000, 5_000, 35), (5_000, 30_000, 45), (30_000, 150_000, 20)),
}  # fmt: skip

# Probabilities of each fate per asset type: (early, late, partial, repurchase, default); rest: on time.
_FATE_PROBS: dict[AssetType, tuple[float, float, float, float, float]] = {
    AssetType.DUPLICATA_MERCANTIL: (0.03, 0.10, 0.03, 0.03, 0.025),
    AssetType.DUPLICATA_SERVICO: (0.02, 0.12, 0.03, 0.02, 0.030),
    AssetType.CHEQUE: (0.00, 0.08, 0.00, 0.04, 0.050),
    AssetType.CARTAO: (0.05, 0.02, 0.01, 0.005, 0.003),
    AssetType.CCB: (0.04, 0.15, 0.05, 0.01, 0.040),
}
# Share of sacados that are companies, per asset type (card receivables: the acquirer is the sacado).
SACADO_COMPANY_SHARE = {
    AssetType.DUPLICATA_MERCANTIL: 0.9,
    AssetType.DUPLICATA_SERVICO: 0.85,
    AssetType.CHEQUE: 0.3,
    AssetType.CARTAO: 1.0,
    AssetType.CCB: 0.15,
}


def draw_profiles(
    rng: random.Random, cedentes: Sequence[Party], sector_assets: Sequence[tuple[AssetType, int]]
) -> list[CedenteProfile]:
    """How each cedente deals: its asset types, rate, coobrigação share, risk and numbering style."""
    asset_pool = [a for a, _ in sector_assets]
    asset_pool_weights = [w for _, w in sector_assets]
    profiles = []
    for rank, party in enumerate(cedentes):
        # each cedente deals in one main asset type, sometimes two; the largest cedentes (Zipf ranks)
        # deal in the sector's dominant type, so that the book's mix follows the sector.
        main = rng.choices(asset_pool, weights=asset_pool_weights)[0]
        if rank < 3:
            main = asset_pool[0]
        other = rng.choices(asset_pool, weights=asset_pool_weights)[0]
        types, weights = ((main,), (1,)) if other == main else ((main, other), (4, 1))
        profiles.append(
            CedenteProfile(
                party=party,
                asset_types=types,
                asset_weights=weights,
                base_rate_bp=rng.randint(140, 420),
                coob_share=0.95 if rng.random() < 0.7 else 0.05,
                risk=0.5 + 1.5 * rng.random(),
                seu_numero_style=rng.randrange(4),
                next_number=rng.randint(1, 300),
                next_doc=rng.randint(1_000, 90_000),
            )
        )
    return profiles


def draw_terms(rng: random.Random, prof: CedenteProfile, asset: AssetType, acq: dt.date, bdays: BusinessDays) -> dict:
    """Dates, face value, rates and coobrigação of a receivable acquired on `acq`."""
    if asset is AssetType.DUPLICATA_MERCANTIL:
        term = rng.choice((28, 30, 30, 35, 42, 45, 56, 60, 60, 63, 75, 90, 90, 120))
        issue = acq - dt.timedelta(days=rng.randint(0, 10))
    elif asset is AssetType.DUPLICATA_SERVICO:
        term = rng.choice((15, 20, 28, 30, 30, 45, 60, 90))
        issue = acq - dt.timedelta(days=rng.randint(0, 10))
    elif asset is AssetType.CHEQUE:
        term = rng.randint(5, 120)
        issue = acq - dt.timedelta(days=rng.randint(0, 5))
    elif asset is AssetType.CARTAO:
        term = 30 * rng.choice((1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 10, 12)) + rng.randint(0, 2)
        issue = acq - dt.timedelta(days=rng.randint(0, 20))
    else:  # CCB
        term = 30 * rng.randint(2, 12)
        issue = acq - dt.timedelta(days=rng.randint(0, 3))
    due = issue + dt.timedelta(days=term)
    if (due - acq).days < 5:
        due = acq + dt.timedelta(days=term)
    adjusted = bdays.on_or_after(due)

    buckets = _VALUE_BUCKETS[asset]
    lo, hi, _ = rng.choices(buckets, weights=[w for _, _, w in buckets])[0]
    nominal = Decimal(rng.randint(lo * 100, hi * 100)).scaleb(-2)
    if asset is AssetType.DUPLICATA_MERCANTIL and rng.random() < 0.1:
        nominal = Decimal(rng.randint(lo // 100 + 1, hi // 100) * 100).quantize(CENT)  # round invoice
    rate_bp = min(450, max(120, prof.base_rate_bp + rng.randint(-30, 30)))
    rate = Decimal(rate_bp).scaleb(-2)
    if asset is AssetType.CCB:  # the borrower's contractual rate, above the cession rate
        receivable_rate = Decimal(rate_bp * 100 + rng.randint(2_000, 25_000)).scaleb(-4)
    else:
        receivable_rate = rate.quantize(Decimal("0.0001"))
    coob = rng.random() < prof.coob_share
    return {
        "issue": issue, "acq": acq, "due": due, "adjusted": adjusted, "nominal": nominal,
        "rate": rate, "receivable_rate": receivable_rate, "coob": coob,
    }  # fmt: skip


def draw_fate(rng: random.Random, prof: CedenteProfile, asset: AssetType, d: dict, bdays: BusinessDays) -> Fate:
    """How and when the receivable of terms `d` leaves the book, drawn when it is acquired."""
    acq: dt.date = d["acq"]
    due: dt.date = d["adjusted"]
    earliest = bdays.add(acq, 1)
    p_early, p_late, p_partial, p_repurchase, p_default = _FATE_PROBS[asset]
    p_late *= prof.risk
    p_default *= prof.risk
    p_repurchase *= 2.0 if d["coob"] else 0.3
    u = rng.random()
    write_off = bdays.on_or_after(due + dt.timedelta(days=WRITE_OFF_DAYS + 1))
    nominal: Decimal = d["nominal"]

    def late_day(max_bd: int) -> dt.date:
        x = rng.random()
        return bdays.add(due, 1 + int(x * x * x * max_bd))

    if (u := u - p_default) < 0:
        return Fate(write_off, MovementKind.WRITE_OFF)
    if (u := u - p_repurchase) < 0:
        if rng.random() < 0.6:  # delinquency triggers the cedente's obligation
            when = bdays.add(due, rng.randint(1, 30))
        else:
            span = bdays.between(earliest, due)
            when = span[rng.randrange(len(span))] if span else earliest
        return Fate(max(when, earliest), MovementKind.REPURCHASE)
    if (u := u - p_partial) < 0:
        paid = money(nominal * Decimal(rng.randint(20, 80)) / Decimal(100))
        if rng.random() < 0.6:
            return Fate(late_day(60), MovementKind.SETTLEMENT, due, paid)
        return Fate(write_off, MovementKind.WRITE_OFF, due, paid)
    if (u := u - p_late) < 0:
        return Fate(late_day(90), MovementKind.SETTLEMENT)
    if u - p_early < 0:
        return Fate(max(bdays.add(due, -rng.randint(1, 5)), earliest), MovementKind.SETTLEMENT)
    return Fate(max(due, earliest), MovementKind.SETTLEMENT)


def append_receivable(book: Book, prof: CedenteProfile, d: dict, fate: Fate, valuation: Valuation) -> None:
    """Number the receivable of terms `d` (the cedente's next numbers) and add it, with its fate, to `book`."""
    number = prof.next_number
    prof.next_number += 1
    style = prof.seu_numero_style
    if style == 0:
        seu_numero = f"{number:06d}"
    elif style == 1:
        seu_numero = str(number)
    elif style == 2:
        seu_numero = f"{number:05d}-{number % 7}"
    else:
        seu_numero = f"T{number:08d}"
    asset: AssetType = d["asset"]
    doc = prof.next_doc
    prof.next_doc += 1
    if asset in (AssetType.DUPLICATA_MERCANTIL, AssetType.DUPLICATA_SERVICO):
        numero_documento = f"{doc:06d}-{number % 3 + 1}"
    elif asset is AssetType.CHEQUE:
        numero_documento = f"CH{doc:07d}"
    elif asset is AssetType.CARTAO:
        numero_documento = f"{doc * 7919 % 10**12:012d}"
    else:
        numero_documento = f"CCB{d['acq'].year}{doc:06d}"
    acq_value = valuation.present_value(d["nominal"], d["rate"], d["adjusted"], d["acq"])
    book.receivables.append(
        Receivable(
            fund_cnpj=book.fund.cnpj,
            cedente=prof.party,
            sacado=d["sacado"],
            seu_numero=seu_numero,
            numero_documento=numero_documento,
            asset_type=asset,
            issue_date=d["issue"],
            acquisition_date=d["acq"],
            original_due_date=d["due"],
            adjusted_due_date=d["adjusted"],
            nominal_value=d["nominal"],
            acquisition_value=acq_value,
            cession_rate=d["rate"],
            receivable_rate=d["receivable_rate"],
            coobrigacao=d["coob"],
        )
    )
    book.fates.append(fate)
