"""Render simulated events as custodian `custodia_zeta`'s JSON API dumps.

Custodian "Zeta Administradora de Recursos Ltda" delivers per fund and business day, only when there is at
least one event (UTF-8, `json.dumps(indent=2, ensure_ascii=False)`, LF, final newline):

* ``aquisicoes_<FUND CNPJ, 14 digits>_<yyyymmdd>.json``:
  ``{"dataDaPosicao": "<ISO day>", "fundo": {"cnpj": "<punctuated>"}, "data": {"aquisicoes": [...]}}``,
  records ``cedente, cpfCnpjCedente (punctuated), nomeSacado, cpfCnpjSacado (punctuated), seuNumero,
  numeroDocumento, tipoRecebivel (DM/DS/CCB/CH/CC), dataEmissao, dataVencimento (adjusted, ISO),
  taxaAquisicao (% per month), valorCompra (acquisition price), valorVencimento (face value), coobrigacao``;
* ``liquidacoes_<FUND CNPJ>_<yyyymmdd>.json``: the same envelope with ``{"data": {"movimentos": [...]}}``,
  records ``identificacaoCedente (bare digits), sacado, identificacaoSacado (bare digits), seuNumero,
  documento, txAquisicao, valorPago, ajuste, stRecebivel, tipoMovimento``: valorPago is the cash received
  and ajuste = valorPago - open nominal (see `Simulation.settlement_cash`: 0 on the due date, negative when
  early or repurchased before the due date, positive late charges, -open nominal for a write-off; 0 for a
  partial payment, whose valorPago is the amount paid off); stRecebivel ``BAIXADO`` for BAIXA, else
  ``LIQUIDADO``; tipoMovimento LIQUIDACAO / LIQUIDACAO_PARCIAL / RECOMPRA / BAIXA.

Numbers are written, deterministically per value (by its centavos, `number_style`), as a JSON number
(``12699.03``), a Brazilian string without (``"12699,03"``) or with thousands separators (``"12.699,03"``).
Records are in an arbitrary but deterministic order (shuffled by the file's generator).

Bad records (probability `bad_row_rate`, reason uniform; line number = 1-based index in the array):
acquisitions: ``unparseable_date`` (dataVencimento or dataEmissao such as ``2024-02-30``),
``unparseable_number`` (valorCompra ``"1x699,03"``), ``missing_required`` (seuNumero null),
``invalid_document`` (cpfCnpjCedente with a wrong check digit), ``unknown_code`` (tipoRecebivel ``XX``);
settlements (no dates in the records): ``unparseable_number`` (valorPago), ``missing_required``,
``invalid_document`` (identificacaoCedente), ``unknown_code`` (tipoMovimento ``ESTORNO``).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fidc_assets.lib.core.documents import format_document
from fidc_assets.sample.records import Fund, Movement, MovementKind
from fidc_assets.sample.render_common import (
    ALL_REASONS,
    BadRow,
    FileKind,
    Reason,
    RenderedFile,
    br_number,
    check_rate,
    impossible_date,
    letter_in_number,
    party_name,
    wrong_check_digit,
)

CUSTODIAN_ID = "custodia_zeta"
CUSTODIAN_NAME = "Zeta Administradora de Recursos Ltda"
ENCODING = "utf-8"
UNKNOWN_ASSET = "XX"  # no registry has it (NP did this job until the registry learned nota promissória)
UNKNOWN_MOVEMENT = "ESTORNO"
STATUS = {MovementKind.WRITE_OFF: "BAIXADO"}  # every other settlement kind: LIQUIDADO
_SETTLEMENT_REASONS = tuple(r for r in ALL_REASONS if r is not Reason.UNPARSEABLE_DATE)


def acquisitions_name(fund_cnpj: str, day: dt.date) -> str:
    return f"aquisicoes_{fund_cnpj}_{day:%Y%m%d}.json"


def settlements_name(fund_cnpj: str, day: dt.date) -> str:
    return f"liquidacoes_{fund_cnpj}_{day:%Y%m%d}.json"


def number_style(value: Decimal) -> int:
    """0: JSON number, 1: ``"12699,03"``, 2: ``"12.699,03"``; by the value's centavos (deterministic)."""
    n = abs(int(value.scaleb(2)))
    return (0, 0, 1, 1, 2)[(n * 7 + n // 100) % 5]


def number(value: Decimal, places: int = 2) -> float | str:
    style = number_style(value)
    if style == 0:
        return float(value)
    return br_number(value, places, thousands=style == 2)


class JsonEventsRenderer:
    def __init__(self, fund: Fund) -> None:
        self.fund = fund

    def render(
        self,
        kind: FileKind,
        day: dt.date,
        movements: Sequence[Movement],
        rng: random.Random,
        bad_row_rate: float = 0.0,
    ) -> RenderedFile:
        check_rate(bad_row_rate)
        acquisitions = kind is FileKind.ACQUISITIONS
        if kind not in (FileKind.ACQUISITIONS, FileKind.SETTLEMENTS):
            raise ValueError(f"JSON events carry acquisitions or settlements, not {kind}")
        order = list(movements)
        rng.shuffle(order)
        records: list[dict[str, Any]] = []
        accepted: list[Movement] = []
        corrupted: list[BadRow] = []
        for i, m in enumerate(order, start=1):
            if m.date != day or (m.kind is MovementKind.ACQUISITION) != acquisitions:
                raise ValueError(f"{m.kind} of {m.date} in the {kind} file of {day}")
            record = _acquisition(m) if acquisitions else _settlement(m)
            if rng.random() < bad_row_rate:
                corrupted.append(BadRow(i, *_corrupt(record, rng, day, acquisitions)))
            else:
                accepted.append(m)
            records.append(record)
        doc = {
            "dataDaPosicao": day.isoformat(),
            "fundo": {"cnpj": format_document(self.fund.cnpj)},
            "data": {"aquisicoes" if acquisitions else "movimentos": records},
        }
        content = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(ENCODING)
        cnpj = self.fund.cnpj
        name = acquisitions_name(cnpj, day) if acquisitions else settlements_name(cnpj, day)
        return RenderedFile(name, CUSTODIAN_ID, kind, cnpj, day, content, tuple(accepted), tuple(corrupted), len(order))


def _acquisition(m: Movement) -> dict[str, Any]:
    rec = m.receivable
    ced, sac = rec.cedente, rec.sacado
    return {
        "cedente": party_name(ced),
        "cpfCnpjCedente": format_document(ced.document),
        "nomeSacado": party_name(sac),
        "cpfCnpjSacado": format_document(sac.document),
        "seuNumero": rec.seu_numero,
        "numeroDocumento": rec.numero_documento,
        "tipoRecebivel": str(rec.asset_type),
        "dataEmissao": rec.issue_date.isoformat(),
        "dataVencimento": rec.adjusted_due_date.isoformat(),
        "taxaAquisicao": number(rec.cession_rate),
        "valorCompra": number(rec.acquisition_value),
        "valorVencimento": number(rec.nominal_value),
        "coobrigacao": rec.coobrigacao,
    }


def _settlement(m: Movement) -> dict[str, Any]:
    rec = m.receivable
    return {
        "identificacaoCedente": rec.cedente.document,
        "sacado": party_name(rec.sacado),
        "identificacaoSacado": rec.sacado.document,
        "seuNumero": rec.seu_numero,
        "documento": rec.numero_documento,
        "txAquisicao": number(rec.cession_rate),
        "valorPago": number(m.paid),
        "ajuste": number(m.adjustment),
        "stRecebivel": STATUS.get(m.kind, "LIQUIDADO"),
        "tipoMovimento": str(m.kind),
    }


def _corrupt(record: dict[str, Any], rng: random.Random, day: dt.date, acquisitions: bool) -> tuple[Reason, str]:
    reasons = ALL_REASONS if acquisitions else _SETTLEMENT_REASONS
    reason = reasons[rng.randrange(len(reasons))]
    if reason is Reason.UNPARSEABLE_DATE:
        field = ("dataVencimento", "dataEmissao")[rng.randrange(2)]
        d, mo = impossible_date(rng)
        record[field] = f"{day.year:04d}-{mo:02d}-{d:02d}"
    elif reason is Reason.UNPARSEABLE_NUMBER:
        field = "valorCompra" if acquisitions else "valorPago"
        value = record[field]
        text = value if isinstance(value, str) else br_number(Decimal(repr(value)), thousands=False)
        record[field] = letter_in_number(text)
    elif reason is Reason.MISSING_REQUIRED:
        field = "seuNumero"
        record[field] = None
    elif reason is Reason.INVALID_DOCUMENT:
        field = "cpfCnpjCedente" if acquisitions else "identificacaoCedente"
        record[field] = wrong_check_digit(record[field], rng)
    else:
        field = "tipoRecebivel" if acquisitions else "tipoMovimento"
        record[field] = UNKNOWN_ASSET if acquisitions else UNKNOWN_MOVEMENT
    return reason, field
