"""The legacy's shadow period for a custodian sample: `fidc-lake sample shadow`.

After the cutover the legacy kept running beside the custodian files for a while (the shadow period). To
compare the two sources on the same fund-days, the legacy database must hold the same funds and days as the
custodian files. `generate_shadow_legacy` renders the files of a sample again (`generator.render_files`, same
arguments, hence the same simulation and the same corrupted rows) and writes, for the sample's last
`shadow_days` business days, what the legacy took in from those same files: the accepted stock rows, quota
rows and movements, in the legacy's own tables and quirks (`fidc_assets.sample.legacy`: centavos, punctuated
CNPJs, old codes, LATIN1). The cutover is the first shadow day; the legacy has no history before it here (the
seven-year history is `generate_legacy`'s).

So that a comparison has something to find, a few differences are seeded, deterministically from the seed,
each on its own fund-day, and listed in the table ``shadow_differences`` with what they change (legacy minus
custodian files; docs/legacy.md documents them):

* ``missing_row``: a stock row of the custodian's file the legacy's import skipped: one row fewer, and that
  row's nominal, present value and PDD less;
* ``unaccrued_value``: a stock row the legacy carries at its acquisition price (its valuation skipped it):
  the present value lower by present minus acquisition value;
* ``stale_pl``: a fund-day whose quota rows are the previous business day's (the legacy's quota job did not
  run): the PL differs by the previous day's minus the day's.

Nothing else differs: every other fund-day of the shadow period equals the custodian files' accepted rows to
the centavo.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

from fidc_assets.sample.custodians import QUOTAS_CUSTODIAN, assign_custodians, resolve_custodians
from fidc_assets.sample.generator import render_files
from fidc_assets.sample.legacy import (
    CUSTODIAN_CODES,
    DDL,
    INDEXES,
    LEGACY_DATABASE,
    _CopyBuffer,
    _movement_values,
    _position_values,
    _quota_values,
    create_database,
    punctuated_cnpj,
)
from fidc_assets.sample.quotas import QuotaRow
from fidc_assets.sample.records import Movement, StockPosition
from fidc_assets.sample.render_common import FileKind
from fidc_assets.sample.render_stock_csv import RenderedStockFile
from fidc_assets.sample.simulation import simulate

SHADOW_KINDS = ("missing_row", "unaccrued_value", "stale_pl")
ZERO = Decimal("0.00")

SHADOW_DDL = """
create table shadow_differences (id serial primary key, kind text not null, fund_cnpj char(14) not null,
    reference_date date not null, legacy_row_id bigint, diff_rows integer not null, diff_nominal numeric(18,2)
    not null, diff_present numeric(18,2) not null, diff_pdd numeric(18,2) not null, diff_pl numeric(18,2)
    not null, detail text not null);
"""


@dataclass(frozen=True)
class ShadowDifference:
    """One seeded difference: legacy minus custodian files on its fund-day."""

    kind: str
    fund_cnpj: str
    reference_date: dt.date
    legacy_row_id: int | None
    diff_rows: int
    diff_nominal: Decimal
    diff_present: Decimal
    diff_pdd: Decimal
    diff_pl: Decimal
    detail: str


@dataclass(frozen=True)
class ShadowParams:
    """The custodian sample's arguments (`generate_sample`'s) and how many of its last days are shadow days."""

    seed: int = 42
    funds: int = 3
    days: int = 22
    start: dt.date = dt.date(2024, 7, 1)
    receivables_per_fund: int = 800
    bad_row_rate: float = 0.002
    custodians: tuple[str, ...] | None = None
    shadow_days: int = 5


@dataclass
class ShadowReport:
    params: ShadowParams
    dsn: str
    cutover: dt.date
    days: tuple[dt.date, ...]  # the shadow days
    rows: dict[str, int] = field(default_factory=dict)
    differences: list[ShadowDifference] = field(default_factory=list)


@dataclass
class _Accepted:
    """What a correct parser accepts from the sample's files, by fund-day."""

    positions: dict[tuple[str, dt.date], list[StockPosition]] = field(default_factory=dict)
    quotas: dict[tuple[str, dt.date], list[QuotaRow]] = field(default_factory=lambda: defaultdict(list))
    movements: dict[str, list[Movement]] = field(default_factory=lambda: defaultdict(list))


def _accepted(params: ShadowParams):
    sim = simulate(params.seed, params.funds, params.days, params.start, params.receivables_per_fund)
    assignment = assign_custodians(len(sim.funds), resolve_custodians(params.custodians))
    out = _Accepted()
    for rendered in render_files(sim, assignment, params.seed, params.bad_row_rate):
        if isinstance(rendered, RenderedStockFile):
            out.positions[(rendered.fund_cnpj, rendered.reference_date)] = rendered.accepted_positions
        elif rendered.kind is FileKind.POSITIONS:
            out.positions[(rendered.fund_cnpj, rendered.day)] = list(rendered.accepted)
        elif rendered.kind is FileKind.QUOTAS:
            out.quotas[(rendered.fund_cnpj, rendered.day)].extend(rendered.accepted)
        else:
            out.movements[rendered.fund_cnpj].extend(rendered.accepted)
    return sim, assignment, out


def _pl(rows: Sequence[QuotaRow]) -> Decimal:
    return sum((q.net_assets for q in rows), ZERO)


def generate_shadow_legacy(dsn: str, params: ShadowParams, database: str = LEGACY_DATABASE) -> ShadowReport:
    """(Re)create `database` on the server of `dsn` with the legacy's rows for the sample's shadow days."""
    if not 1 <= params.shadow_days <= params.days:
        raise ValueError(f"shadow_days must be between 1 and the sample's {params.days} days: {params.shadow_days}")
    sim, assignment, accepted = _accepted(params)
    all_days = sim.business_days
    shadow = all_days[-params.shadow_days :]
    cutover = shadow[0]
    previous = {d: all_days[i - 1] for i, d in enumerate(all_days) if i > 0}
    rng = random.Random(f"{params.seed}|shadow-differences")
    cells = [(f.cnpj, d) for f in sim.funds for d in shadow if accepted.positions.get((f.cnpj, d))]
    rng.shuffle(cells)
    stale_cells = [c for c in cells if c[1] in previous and _pl(accepted.quotas.get(c, [])) != _pl(
        accepted.quotas.get((c[0], previous[c[1]]), []))]  # fmt: skip
    plan: dict[tuple[str, dt.date], str] = {}
    for kind in SHADOW_KINDS:
        pool = stale_cells if kind == "stale_pl" else cells
        cell = next((c for c in pool if c not in plan), None)
        if cell is not None:
            plan[cell] = kind

    target = create_database(dsn, database)
    report = ShadowReport(params, target, cutover, tuple(shadow))
    with psycopg.connect(target) as conn:
        conn.execute("set client_encoding to 'LATIN1'")
        conn.execute(DDL)
        conn.execute(SHADOW_DDL)
        conn.execute(
            "insert into legacy_sample values (%s, %s, null, %s, %s, %s, %s, %s, 'fidc-lake sample shadow')",
            [params.seed, params.funds, cutover, params.shadow_days, params.receivables_per_fund, shadow[0],
             shadow[-1]],
        )  # fmt: skip
        report.rows, report.differences = _fill(conn, sim, assignment, accepted, shadow, previous, plan, rng)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into shadow_differences (kind, fund_cnpj, reference_date, legacy_row_id, diff_rows, "
                "diff_nominal, diff_present, diff_pdd, diff_pl, detail) values (%s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s)",
                [dataclasses.astuple(d) for d in report.differences],
            )
        conn.execute(INDEXES)
        conn.commit()
    return report


def _fill(conn, sim, assignment, accepted: _Accepted, shadow, previous, plan, rng):
    carteira, movimento = _CopyBuffer(conn, "tb_carteira"), _CopyBuffer(conn, "tb_movimento")
    cota, fundo = _CopyBuffer(conn, "tb_cota"), _CopyBuffer(conn, "tb_fundo")
    ids = {"carteira": 0, "movimento": 0, "cota": 0}
    differences: list[ShadowDifference] = []
    shadow_set = set(shadow)
    for fi, (fund, fc) in enumerate(zip(sim.funds, assignment, strict=True)):
        cnpj = punctuated_cnpj(fund.cnpj)
        pos_cust = CUSTODIAN_CODES[fc.positions] if fc.positions else None
        ev_cust = CUSTODIAN_CODES[fc.events] if fc.events else None
        fundo.add(fi + 1, cnpj, fund.name, pos_cust, ev_cust)
        for day in shadow:
            kind = plan.get((fund.cnpj, day))
            positions = list(accepted.positions.get((fund.cnpj, day), []))
            if kind == "missing_row":
                fresh = [i for i, p in enumerate(positions) if p.receivable.acquisition_date == day]
                p = positions.pop(rng.choice(fresh) if fresh else rng.randrange(len(positions)))
                differences.append(ShadowDifference(
                    kind, fund.cnpj, day, None, -1, -p.nominal_value, -p.present_value, -p.pdd_value, ZERO,
                    f"receivable {p.receivable.seu_numero} (acquired {p.receivable.acquisition_date}) is in the "
                    "custodian's file but not in the legacy's stock: its import skipped the row"))  # fmt: skip
            accrued = [i for i, p in enumerate(positions) if p.present_value != p.acquisition_value]
            unaccrued = rng.choice(accrued) if kind == "unaccrued_value" and accrued else None
            for k, p in enumerate(positions):
                ids["carteira"] += 1
                if k == unaccrued:
                    diff = p.acquisition_value - p.present_value
                    differences.append(ShadowDifference(
                        kind, fund.cnpj, day, ids["carteira"], 0, ZERO, diff, ZERO, ZERO,
                        f"receivable {p.receivable.seu_numero} carried at its acquisition value "
                        f"{p.acquisition_value} instead of its present value {p.present_value}: the legacy's "
                        "valuation skipped it"))  # fmt: skip
                    p = dataclasses.replace(p, present_value=p.acquisition_value)
                carteira.add(*_position_values(ids["carteira"], cnpj, fund.name, pos_cust or "", p))
            quotas = accepted.quotas.get((fund.cnpj, day), [])
            if kind == "stale_pl":
                stale = accepted.quotas[(fund.cnpj, previous[day])]
                differences.append(ShadowDifference(
                    kind, fund.cnpj, day, None, 0, ZERO, ZERO, ZERO, _pl(stale) - _pl(quotas),
                    f"quota rows of {previous[day]} repeated on {day} (the legacy's quota job did not run): "
                    f"PL {_pl(stale)} instead of {_pl(quotas)}"))  # fmt: skip
                quotas = [dataclasses.replace(q, reference_date=day) for q in stale]
            pl = _pl(quotas)
            for q in quotas:
                ids["cota"] += 1
                cota.add(*_quota_values(ids["cota"], cnpj, CUSTODIAN_CODES[QUOTAS_CUSTODIAN], q, pl))
        for m in sorted(accepted.movements.get(fund.cnpj, []), key=lambda m: m.date):
            if m.date in shadow_set and ev_cust is not None:
                ids["movimento"] += 1
                movimento.add(*_movement_values(ids["movimento"], cnpj, ev_cust, m))
    for buf in (carteira, movimento, cota, fundo):
        buf.flush()
    rows = {"tb_carteira": carteira.count, "tb_movimento": movimento.count, "tb_cota": cota.count}
    differences.sort(key=lambda d: (d.reference_date, d.fund_cnpj))
    return rows, differences


def read_shadow_differences(legacy: str) -> list[ShadowDifference]:
    """The manifest of seeded differences of a generated shadow legacy."""
    with psycopg.connect(legacy) as conn:
        rows = conn.execute(
            "select kind, fund_cnpj, reference_date, legacy_row_id, diff_rows, diff_nominal, diff_present, diff_pdd, "
            "diff_pl, detail from shadow_differences order by reference_date, fund_cnpj"
        ).fetchall()
    return [ShadowDifference(*r) for r in rows]
