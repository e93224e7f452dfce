"""The sample funds' CVM Informe Mensal, rendered from the same simulation as the custodian files, in the
real published layout: `inf_mensal_fidc_<YYYYMM>.zip` with one `;`-separated latin-1 file per tab
(`inf_mensal_fidc_tab_<TAB>_<YYYYMM>.csv`), '.' decimals, ISO dates, punctuated CNPJ, empty = null.

What the administrator filed is what its books hold: the figures are those of the records a correct parser
accepts from the custodian files (`RenderedFile.accepted`), on the month's last sample day, so a correct
lakehouse agrees with every figure except the seeded discrepancies. DT_COMPTC is the month's last calendar
day (the sample may end before it: then the report describes the last sample day). Tabs rendered: I, IV,
V, VI, VII, X_2 (the reconciliation's) and X_4 (header only: the sample has no quota issues or
amortizations), every other column empty, as in real reports of funds that do not use them. Each tab takes
the identity prefix of its date: `CNPJ_FUNDO;DENOM_SOCIAL;DT_COMPTC` before its switch month (2020-11 for
I-VII, 2023-10 for X_2 and X_4), `TP_FUNDO_CLASSE;CNPJ_FUNDO_CLASSE;DENOM_SOCIAL;DT_COMPTC` from it (and
tab I's four columns of 2020-11 only from then).

Figures: PL (tab IV, = tab I TAB_I_VL_ATIVO: the sample has no liabilities) = the accepted quota rows' net
assets; direitos creditórios at present value: TAB_I2A (without coobrigação: the fund takes the risk) and
TAB_I2B (with coobrigação), their PDD in TAB_I2A11/TAB_I2B11 (positive); tab V (I2A) and VI (I2B): to-mature
present value by days to due (A1..A10) and overdue installments by days overdue (B1..B10: the receivable's
open face value, each sample receivable being one installment); tab VII A1/A2: the month's accepted
acquisitions (count, price paid); X_2: one row per quota class (`Subclasse Senior Serie 1`, `Subclasse
Subordinada Cota Mezanino | Serie 1`, `Subclasse Subordinada | Serie Unica`), quantity and value.

Seeded discrepancies (`Seeded`, written to `truth/cvm_discrepancies.csv` with the status a correct
reconciliation gives each; like the legacy's known defects, deterministic and listed). With n funds in
simulation order, the last one is fund n-1 and "fund a" is fund 0, "fund b" fund 1 mod (n-1):

* ``pl_differs``: fund a's PL (tab IV and TAB_I_VL_ATIVO) is published R$ 1,234.56 higher: `unexplained`;
* ``identical_row``: fund a's tab I row is published twice, byte for byte: one is kept, nothing flagged;
* ``quota_value_off``: fund b's junior class value in X_2 is published x1000: subordination is a
  `published_data_defect`;
* ``fundo_classe_duplicate``: fund b's tab IV row is published both as `Classe` and as `Fundo`: the
  `Classe` row is kept, nothing flagged;
* ``republished``: the month is published twice; the first publication has no PDD for fund b, the
  re-publication (a later download folder) corrects it: once the re-publication is landed nothing is
  flagged, with the first alone fund b's PDD is `unexplained`;
* ``missing_fund``: fund n-1 (n >= 2) is absent from the month: its report is a `published_data_defect`.

Output: `<out>/cvm/<publication date>/inf_mensal_fidc_<YYYYMM>.zip`; the first publication in the folder
of the 5th of the next month, the re-publication in the folder of the 2nd of the month after.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from fidc_assets.lib.core.documents import format_cnpj
from fidc_assets.sample.quotas import QuotaRow
from fidc_assets.sample.records import ZERO, Fund, Movement, StockPosition

CVM_DIR = "cvm"
DISCREPANCIES_FILE = "cvm_discrepancies.csv"
PL_DIFFERENCE = Decimal("1234.56")
QUOTA_VALUE_FACTOR = 1000
#: The identity prefixes and the switch month of each rendered tab (the domain note).
CURRENT = ("TP_FUNDO_CLASSE", "CNPJ_FUNDO_CLASSE", "DENOM_SOCIAL", "DT_COMPTC")
PREVIOUS = ("CNPJ_FUNDO", "DENOM_SOCIAL", "DT_COMPTC")
SWITCH = {"I": dt.date(2020, 11, 1), "IV": dt.date(2020, 11, 1), "V": dt.date(2020, 11, 1),
          "VI": dt.date(2020, 11, 1), "VII": dt.date(2020, 11, 1), "X_2": dt.date(2023, 10, 1),
          "X_4": dt.date(2023, 10, 1)}  # fmt: skip
TAB_I_SINCE_2020_11 = ("CLASSE_UNICA", "CLASSE", "CNPJ_CLASSE", "TAB_I2C5_VL_COTA_FIF")
_CEDENTES = [f"TAB_I2{x}12_{c}_CEDENTE_{n}" for x in "AB" for n in range(1, 10) for c in ("CPF_CNPJ", "PR")]
_I2 = ["VL_CRED_VENC_AD", "VL_CRED_VENC_INAD", "VL_TOTAL_PARCELA_INAD", "VL_CRED_INAD", "VL_CRED_DIRCRED_PERFM",
       "VL_CRED_VENCIDO_PENDENTE", "VL_CRED_EMP_RECUP", "VL_CRED_RECEITA_PUBLICA", "VL_CRED_ACAO_JUDIC",
       "VL_CRED_FATOR_RISCO", "VL_CRED_DIVERSO", "VL_REDUCAO_RECUP"]  # fmt: skip
_I2_NUMBERS = ["1", "2", "21", "3", "4", "5", "6", "7", "8", "9", "10", "11"]


def _tab_i_columns() -> list[str]:
    head = ["CLASSE_UNICA", "CNPJ_ADMIN", "ADMIN", "CLASSE", "CNPJ_CLASSE", "CONDOM", "FUNDO_EXCLUSIVO",
            "COTST_INTERESSE", "PRAZO_CONVERSAO_COTA", "TP_PRAZO_CONVERSAO_COTA", "PRAZO_PAGTO_RESGATE",
            "TP_PRAZO_PAGTO_RESGATE", "TAB_I_VL_ATIVO", "TAB_I1_VL_DISP", "TAB_I2_VL_CARTEIRA"]  # fmt: skip
    out = list(head)
    for x, what in (("A", "RISCO"), ("B", "SEM_RISCO")):
        out.append(f"TAB_I2{x}_VL_DIRCRED_{what}")
        out += [f"TAB_I2{x}{n}_{c}" for n, c in zip(_I2_NUMBERS, _I2, strict=True)]
        out += [c for c in _CEDENTES if c.startswith(f"TAB_I2{x}12")]
    out += ["TAB_I2C_VL_VLMOB", "TAB_I2C1_VL_DEBENTURE", "TAB_I2C2_VL_CRI", "TAB_I2C3_VL_NP_COMERC",
            "TAB_I2C4_VL_LETRA_FINANC", "TAB_I2C5_VL_COTA_FUNDO_ICVM555", "TAB_I2C5_VL_COTA_FIF", "TAB_I2C6_VL_OUTRO",
            "TAB_I2D_VL_TITPUB_FED", "TAB_I2E_VL_CDB", "TAB_I2F_VL_OPER_COMPROM", "TAB_I2G_VL_OUTRO_RF",
            "TAB_I2H_VL_COTA_FIDC", "TAB_I2I_VL_COTA_FIDC_NP", "TAB_I2J_VL_CONTRATO_FUTURO", "TAB_I2_DEBENTURE_CRI",
            "TAB_I2_COTA_FIDC", "TAB_I2_VL_OUTRO_ATIVO", "TAB_I3_VL_POSICAO_DERIV", "TAB_I3A_VL_MERCADO_TERMO",
            "TAB_I3B_VL_MERCADO_OPCAO", "TAB_I3C_VL_MERCADO_FUTURO", "TAB_I3D_VL_DIFER_SWAP", "TAB_I3E_VL_COBERTURA",
            "TAB_I3F_VL_DEPOSITO_MARGEM", "TAB_I4_VL_OUTRO_ATIVO", "TAB_I4A_VL_CPRAZO",
            "TAB_I4B_VL_LPRAZO"]  # fmt: skip
    return out


#: Days bounds of the tab V/VI buckets: A1 (to mature in up to 30 days) .. A10 (over 1080), B1 (1-30 days
#: overdue) .. B10.
BUCKET_BOUNDS = (30, 60, 90, 120, 150, 180, 360, 720, 1080)
_BUCKET_SUFFIX = [str(b) for b in BUCKET_BOUNDS] + ["MAIOR_1080"]


def _tab_v_columns(t: str) -> list[str]:
    out = [f"TAB_{t}_A_VL_DIRCRED_PRAZO"] + [f"TAB_{t}_A{i}_VL_PRAZO_VENC_{s}" for i, s in enumerate(_BUCKET_SUFFIX, 1)]
    out += [f"TAB_{t}_B_VL_DIRCRED_INAD"] + [f"TAB_{t}_B{i}_VL_INAD_{s}" for i, s in enumerate(_BUCKET_SUFFIX, 1)]
    out += [f"TAB_{t}_C_VL_DIRCRED_ANTECIPADO"]
    return out + [f"TAB_{t}_C{i}_VL_ANTECIPADO_{s}" for i, s in enumerate(_BUCKET_SUFFIX, 1)]


_VII = ["A1_1_QT_DIRCRED_RISCO", "A1_2_VL_DIRCRED_RISCO", "A2_1_QT_DIRCRED_SEM_RISCO", "A2_2_VL_DIRCRED_SEM_RISCO",
        "A3_1_QT_DIRCRED_VENC_AD", "A3_2_VL_DIRCRED_VENC_AD", "A4_1_QT_DIRCRED_VENC_INAD", "A4_2_VL_DIRCRED_VENC_INAD",
        "A5_1_QT_DIRCRED_INAD", "A5_2_VL_DIRCRED_INAD", "B1_1_QT_CEDENTE", "B1_2_VL_CEDENTE", "B1_3_VL_CONTAB_CEDENTE",
        "B2_1_QT_PREST", "B2_2_VL_PREST", "B2_3_VL_CONTAB_PREST", "B3_1_QT_TERCEIRO", "B3_2_VL_TERCEIRO",
        "B3_3_VL_CONTAB_TERCEIRO", "C_1_QT_SUBST", "C_2_VL_SUBST", "C_3_VL_CONTAB_SUBST", "D_1_QT_RECOMPRA",
        "D_2_VL_RECOMPRA", "D_3_VL_CONTAB_RECOMPRA"]  # fmt: skip
COLUMNS: dict[str, list[str]] = {
    "I": _tab_i_columns(),
    "IV": ["TAB_IV_A_VL_PL", "TAB_IV_B_VL_PL_MEDIO"],
    "V": _tab_v_columns("V"),
    "VI": _tab_v_columns("VI"),
    "VII": [f"TAB_VII_{c}" for c in _VII],
    "X_2": ["TAB_X_CLASSE_SERIE", "TAB_X_QT_COTA", "TAB_X_VL_COTA"],
    "X_4": ["TAB_X_TP_OPER", "TAB_X_CLASSE_SERIE", "TAB_X_VL_TOTAL", "TAB_X_QT_COTA"],
}
CLASS_LABELS = {
    "senior": "Subclasse Senior Serie 1",
    "mezanino": "Subclasse Subordinada Cota Mezanino | Serie 1",
    "subordinada": "Subclasse Subordinada | Serie Unica",
}


@dataclass(frozen=True)
class Seeded:
    """One seeded discrepancy: where, what, and the status a correct reconciliation gives it (or `handled`
    when the landing resolves it and nothing may be flagged)."""

    kind: str
    fund_cnpj: str
    month: dt.date
    figure: str
    expected_status: str


@dataclass
class FundMonth:
    """What one fund's report for one month is made of: the accepted records of its last sample day."""

    fund: Fund
    month: dt.date
    day: dt.date
    positions: list[StockPosition] = field(default_factory=list)
    quotas: list[QuotaRow] = field(default_factory=list)
    acquisitions: list[Movement] = field(default_factory=list)


@dataclass(frozen=True)
class Publication:
    relative_path: str  # under <out>/cvm/
    content: bytes


def month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _fmt(value: Decimal | int | None) -> str:
    return "" if value is None else f"{value}"


def _money(values) -> Decimal:
    return sum(values, ZERO)


def _bucket(days: int) -> int:
    """0-based bucket index of a number of days (1-30 → 0, ..., over 1080 → 9); 0 days goes with 1-30."""
    for i, bound in enumerate(BUCKET_BOUNDS):
        if days <= bound:
            return i
    return len(BUCKET_BOUNDS)


def _tab_v(positions: list[StockPosition], tab: str) -> dict[str, str]:
    to_mature = [ZERO] * 10
    overdue = [ZERO] * 10
    for p in positions:
        if p.days_overdue > 0:
            overdue[_bucket(p.days_overdue)] += p.nominal_value
        else:
            to_mature[_bucket(max(p.days_to_due, 0))] += p.present_value
    out = {
        f"TAB_{tab}_A_VL_DIRCRED_PRAZO": _fmt(_money(to_mature)),
        f"TAB_{tab}_B_VL_DIRCRED_INAD": _fmt(_money(overdue)),
    }
    for i, s in enumerate(_BUCKET_SUFFIX):
        out[f"TAB_{tab}_A{i + 1}_VL_PRAZO_VENC_{s}"] = _fmt(to_mature[i])
        out[f"TAB_{tab}_B{i + 1}_VL_INAD_{s}"] = _fmt(overdue[i])
    return out


def _figures(fm: FundMonth, pdd: bool) -> dict[str, list[dict[str, str]]]:
    """Tab → rows (column → text) of one fund-month."""
    pl = _money(q.net_assets for q in fm.quotas)
    risk = [p for p in fm.positions if not p.receivable.coobrigacao]
    coob = [p for p in fm.positions if p.receivable.coobrigacao]
    tab_i: dict[str, str] = {"CLASSE_UNICA": "S", "CNPJ_ADMIN": format_cnpj(fm.fund.administrator.document),
                             "ADMIN": fm.fund.administrator.name, "CONDOM": "FECHADO", "FUNDO_EXCLUSIVO": "N",
                             "TAB_I_VL_ATIVO": _fmt(pl)}  # fmt: skip
    portfolio = _money(p.present_value for p in fm.positions)
    tab_i["TAB_I1_VL_DISP"] = _fmt(pl - portfolio)
    tab_i["TAB_I2_VL_CARTEIRA"] = _fmt(portfolio)
    for x, group in (("A", risk), ("B", coob)):
        suffix = "RISCO" if x == "A" else "SEM_RISCO"
        performing = [p for p in group if p.days_overdue == 0]
        late = [p for p in group if p.days_overdue > 0]
        tab_i[f"TAB_I2{x}_VL_DIRCRED_{suffix}"] = _fmt(_money(p.present_value for p in group))
        tab_i[f"TAB_I2{x}1_VL_CRED_VENC_AD"] = _fmt(_money(p.present_value for p in performing))
        tab_i[f"TAB_I2{x}3_VL_CRED_INAD"] = _fmt(_money(p.present_value for p in late))
        tab_i[f"TAB_I2{x}21_VL_TOTAL_PARCELA_INAD"] = _fmt(_money(p.nominal_value for p in late))
        if pdd:
            tab_i[f"TAB_I2{x}11_VL_REDUCAO_RECUP"] = _fmt(_money(p.pdd_value for p in group))
    acquired = {False: [m for m in fm.acquisitions if not m.receivable.coobrigacao],
                True: [m for m in fm.acquisitions if m.receivable.coobrigacao]}  # fmt: skip
    tab_vii = {
        "TAB_VII_A1_1_QT_DIRCRED_RISCO": _fmt(len(acquired[False])),
        "TAB_VII_A1_2_VL_DIRCRED_RISCO": _fmt(_money(m.paid for m in acquired[False])),
        "TAB_VII_A2_1_QT_DIRCRED_SEM_RISCO": _fmt(len(acquired[True])),
        "TAB_VII_A2_2_VL_DIRCRED_SEM_RISCO": _fmt(_money(m.paid for m in acquired[True])),
    }
    x_2 = [
        {"TAB_X_CLASSE_SERIE": CLASS_LABELS[q.quota_class], "TAB_X_QT_COTA": _fmt(q.quota_count),
         "TAB_X_VL_COTA": _fmt(q.quota_value)}
        for q in fm.quotas
    ]  # fmt: skip
    return {"I": [tab_i], "IV": [{"TAB_IV_A_VL_PL": _fmt(pl)}], "V": [_tab_v(risk, "V")], "VI": [_tab_v(coob, "VI")],
            "VII": [tab_vii], "X_2": x_2, "X_4": []}  # fmt: skip


def _line(values: Sequence[str]) -> str:
    return ";".join(values) + "\n"


def render_month(
    month: dt.date, fund_months: Sequence[FundMonth], seeded: set[tuple[str, str]], first_publication: bool
) -> bytes:
    """The zip of one month; `seeded`: (kind, fund cnpj) of the discrepancies to render."""
    buffer = io.BytesIO()
    period = f"{month:%Y%m}"
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for tab, columns in COLUMNS.items():
            current = month >= SWITCH[tab]
            names = [c for c in columns if current or tab != "I" or c not in TAB_I_SINCE_2020_11]
            lines = [_line([*(CURRENT if current else PREVIOUS), *names])]
            for fm in fund_months:
                cnpj = fm.fund.cnpj
                if ("missing_fund", cnpj) in seeded:
                    continue
                pdd = not (first_publication and ("republished", cnpj) in seeded)
                rows = _figures(fm, pdd)[tab]
                for row in rows:
                    if ("pl_differs", cnpj) in seeded and tab in ("I", "IV"):
                        key = "TAB_I_VL_ATIVO" if tab == "I" else "TAB_IV_A_VL_PL"
                        row[key] = _fmt(Decimal(row[key]) + PL_DIFFERENCE)
                    junior = tab == "X_2" and row["TAB_X_CLASSE_SERIE"] == CLASS_LABELS["subordinada"]
                    if ("quota_value_off", cnpj) in seeded and junior:
                        row["TAB_X_VL_COTA"] = _fmt(Decimal(row["TAB_X_VL_COTA"]) * QUOTA_VALUE_FACTOR)
                    ident = [format_cnpj(cnpj), fm.fund.name, month_end(month).isoformat()]
                    line = _line([*(["Classe", *ident] if current else ident), *(row.get(c, "") for c in names)])
                    lines.append(line)
                    if ("identical_row", cnpj) in seeded and tab == "I":
                        lines.append(line)
                    if ("fundo_classe_duplicate", cnpj) in seeded and tab == "IV" and current:
                        lines.append(line.replace("Classe;", "Fundo;", 1))
            # a fixed member time (the month's end): the same arguments give byte-identical zips
            info = zipfile.ZipInfo(f"inf_mensal_fidc_tab_{tab}_{period}.csv", month_end(month).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, "".join(lines).encode("latin-1"))
    return buffer.getvalue()


def plan_seeded(funds: Sequence[Fund], months: Sequence[dt.date]) -> list[Seeded]:
    """Where the discrepancies go (see the module docstring): the first month of the sample."""
    if not funds or not months:
        return []
    n, month = len(funds), months[0]
    a = funds[0].cnpj
    b = funds[1 % max(n - 1, 1)].cnpj if n > 1 else a
    out = [
        Seeded("pl_differs", a, month, "pl", "unexplained"),
        Seeded("identical_row", a, month, "report", "handled"),
        Seeded("quota_value_off", b, month, "subordination", "published_data_defect"),
        Seeded("fundo_classe_duplicate", b, month, "report", "handled"),
        Seeded("republished", b, month, "pdd", "handled"),
    ]
    if n >= 2:
        out.append(Seeded("missing_fund", funds[-1].cnpj, month, "report", "published_data_defect"))
    return out


def publication_dirs(month: dt.date) -> tuple[str, str]:
    """(first publication's folder, re-publication's folder): the 5th of the next month, the 2nd after."""
    first = month_end(month) + dt.timedelta(days=5)
    second = month_end(month_end(month) + dt.timedelta(days=1)) + dt.timedelta(days=2)
    return first.isoformat(), second.isoformat()


def render_publications(fund_months: Sequence[FundMonth], seeded: Sequence[Seeded]) -> list[Publication]:
    """Every zip of the sample: each month once, and the seeded month twice (first publication, then the
    re-publication)."""
    by_month: dict[dt.date, list[FundMonth]] = {}
    for fm in fund_months:
        by_month.setdefault(fm.month, []).append(fm)
    out = []
    for month, fms in sorted(by_month.items()):
        marks = {(s.kind, s.fund_cnpj) for s in seeded if s.month == month}
        first_dir, second_dir = publication_dirs(month)
        name = f"inf_mensal_fidc_{month:%Y%m}.zip"
        republished = any(k == "republished" for k, _ in marks)
        out.append(Publication(f"{first_dir}/{name}", render_month(month, fms, marks, first_publication=True)))
        if republished:
            out.append(Publication(f"{second_dir}/{name}", render_month(month, fms, marks, first_publication=False)))
    return out
