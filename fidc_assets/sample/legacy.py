"""A legacy database to migrate from: `fidc-lake sample legacy`.

The simulation that renders the custodian files (`fidc_assets.sample.simulation`, same seed, funds and
receivables per fund) fills a PostgreSQL database ``legacy`` shaped like the old single-database system the
lakehouse replaces, from 2019-01-02 up to the cutover date, plus ``shadow_days`` business days after it (the
legacy kept running in parallel with the custodian files: the shadow period). Its quirks, all of which the
migration mapping (``fidc_assets/legacy/sifidc.yaml``) undoes by configuration:

* one database in LATIN1 (text is latin-1 bytes on the wire), old Portuguese abbreviations as names;
* denormalized tables: every stock row repeats the fund's punctuated CNPJ and name, the cedente's and the
  sacado's names; every quota row repeats the fund's total PL (``vl_pl_fundo``);
* ``tb_carteira`` (daily stock) has money as integer centavos (``bigint``); ``tb_movimento`` (acquisitions
  and settlements in one table) has ``numeric(15,2)`` and its dates as ``dd/mm/yyyy`` text; ``tb_cota``
  (quotas per class) has ``numeric``;
* old codes: custodians (``ALF``, ``BET``...), asset types (``DUP``, ``DSE``, ``CHQ``, ``CAR``, ``CCB``),
  status (``1`` a vencer, ``2`` vencido), movement types (``AQ``, ``LQ``, ``LP``, ``RC``, ``BX``), classes
  (``SR``, ``MZ``, ``SB``), coobrigação ``S``/``N``.

Known defects (`DEFECT_KINDS`), injected deterministically from the seed and listed, one row per affected
fund-day, in the table ``known_defects`` (the machine-readable manifest; docs/legacy.md documents them):

* ``duplicate_row``: a stock row stored twice (same content, another id);
* ``no_cedente``: a stock row whose cedente document and name are empty;
* ``wrong_pl``: one fund-month whose ``vl_pl_fundo`` was stored x100 (centavos in a numeric column).

Defects are placed before the cutover only. The parameters are in table ``legacy_sample``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
from psycopg import sql

from fidc_assets.lib.core.calendar import HISTORY_START, business_days_between, first_business_day_on_or_after
from fidc_assets.sample.custodians import EVENTS_CUSTODIANS, POSITIONS_CUSTODIANS, QUOTAS_CUSTODIAN
from fidc_assets.sample.quotas import QuotaModel, QuotaRow
from fidc_assets.sample.records import AssetType, Movement, MovementKind, StockPosition
from fidc_assets.sample.simulation import Simulation, simulate

LEGACY_DATABASE = "legacy"
DEFAULT_RECEIVABLES_PER_FUND = 150
DEFECT_KINDS = ("duplicate_row", "no_cedente", "wrong_pl")
DUPLICATES = 3
NO_CEDENTE = 2
WRONG_PL_FACTOR = 100
COPY_BATCH_ROWS = 50_000

CUSTODIAN_CODES = {
    "custodia_alfa": "ALF",
    "custodia_beta": "BET",
    "custodia_gama": "GAM",
    "custodia_delta": "DEL",
    "custodia_epsilon": "EPS",
    "custodia_zeta": "ZET",
}
ASSET_CODES = {
    AssetType.DUPLICATA_MERCANTIL: "DUP",
    AssetType.DUPLICATA_SERVICO: "DSE",
    AssetType.CHEQUE: "CHQ",
    AssetType.CARTAO: "CAR",
    AssetType.CCB: "CCB",
}
MOVEMENT_CODES = {
    MovementKind.ACQUISITION: "AQ",
    MovementKind.SETTLEMENT: "LQ",
    MovementKind.PARTIAL_SETTLEMENT: "LP",
    MovementKind.REPURCHASE: "RC",
    MovementKind.WRITE_OFF: "BX",
}
CLASS_CODES = {"senior": "SR", "mezanino": "MZ", "subordinada": "SB"}
STATUS_CODES = {"A VENCER": "1", "VENCIDO": "2"}

DDL = """
create table legacy_sample (seed integer, funds integer, months integer, cutover date, shadow_days integer,
    receivables_per_fund integer, first_day date, last_day date, generated_by text);
create table tb_fundo (cd_fundo integer primary key, nr_cnpj varchar(18), nm_fundo varchar(120),
    cd_custodiante char(3), cd_custodiante_evento char(3));
create table tb_carteira (id_carteira bigint, nr_cnpj_fundo varchar(18), nm_fundo varchar(120),
    cd_custodiante char(3), dt_posicao date, nr_seu_numero varchar(30), nr_documento varchar(30),
    cd_especie char(3), nr_doc_cedente varchar(14), nm_cedente varchar(120), nr_doc_sacado varchar(14),
    nm_sacado varchar(120), dt_emissao date, dt_aquisicao date, dt_vencto date, dt_vencto_ajust date,
    vl_nominal_cent bigint, vl_aquisicao_cent bigint, vl_presente_cent bigint, vl_pdd_cent bigint,
    cd_rating varchar(2), cd_faixa_pdd varchar(3), cd_situacao char(1), fl_coobrigacao char(1),
    pc_taxa_cessao numeric(9,4), pc_taxa_recebivel numeric(9,4), qt_prazo integer);
create table tb_movimento (id_movimento bigint, nr_cnpj_fundo varchar(18), cd_custodiante char(3),
    dt_movimento varchar(10), cd_tipo_mov char(2), nr_seu_numero varchar(30), nr_documento varchar(30),
    cd_especie char(3), nr_doc_cedente varchar(14), nm_cedente varchar(120), nr_doc_sacado varchar(14),
    nm_sacado varchar(120), dt_emissao varchar(10), dt_vencto varchar(10), vl_nominal numeric(15,2),
    vl_operacao numeric(15,2), vl_ajuste numeric(15,2), pc_taxa_cessao numeric(9,4), fl_coobrigacao char(1));
create table tb_cota (id_cota bigint, nr_cnpj_fundo varchar(18), cd_custodiante char(3), dt_posicao date,
    cd_classe char(2), cd_serie varchar(10), qt_cotas numeric(24,8), vl_cota numeric(24,8),
    vl_pl_classe numeric(18,2), vl_pl_fundo numeric(18,2));
create table known_defects (id serial primary key, kind text not null, table_name text not null,
    fund_cnpj char(14) not null, reference_date date not null, legacy_row_id bigint, pl_factor numeric,
    detail text not null);
"""
INDEXES = """
create index tb_carteira_dt on tb_carteira (dt_posicao);
create index tb_cota_dt on tb_cota (dt_posicao);
create index tb_movimento_mes on tb_movimento (substr(dt_movimento, 4, 7));
"""


def legacy_dsn(dsn: str, database: str = LEGACY_DATABASE) -> str:
    """The same server as `dsn`, database `database`."""
    from urllib.parse import urlsplit, urlunsplit

    url = urlsplit(dsn)
    return urlunsplit((url.scheme, url.netloc, "/" + database, url.query, url.fragment))


def cutover_for(months: int) -> dt.date:
    """The first day of the month `months` months after January 2019 (7 years: 2026-01-01)."""
    year, month = divmod(HISTORY_START.month - 1 + months, 12)
    return dt.date(HISTORY_START.year + year, month + 1, 1)


def punctuated_cnpj(cnpj: str) -> str:
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"


def _cent(value: Decimal) -> str:
    return str(int(value.scaleb(2)))


def _dmy(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


@dataclass(frozen=True)
class Defect:
    kind: str
    table_name: str
    fund_cnpj: str
    reference_date: dt.date
    legacy_row_id: int | None
    detail: str
    pl_factor: Decimal | None = None  # wrong_pl: the legacy's PL is the true one times this


@dataclass(frozen=True)
class LegacyParams:
    seed: int = 42
    funds: int = 20
    months: int = 84
    shadow_days: int = 10
    receivables_per_fund: int = DEFAULT_RECEIVABLES_PER_FUND

    @property
    def cutover(self) -> dt.date:
        return cutover_for(self.months)

    def days(self) -> list[dt.date]:
        """Business days from 2019-01-02 to the cutover (exclusive), then `shadow_days` more."""
        before = list(business_days_between(HISTORY_START, self.cutover - dt.timedelta(days=1)))
        after: list[dt.date] = []
        day = first_business_day_on_or_after(self.cutover)
        while len(after) < self.shadow_days:
            after.append(day)
            day = first_business_day_on_or_after(day + dt.timedelta(days=1))
        return before + after


@dataclass
class LegacyReport:
    params: LegacyParams
    dsn: str
    days: tuple[dt.date, ...]
    rows: dict[str, int] = field(default_factory=dict)
    defects: list[Defect] = field(default_factory=list)


@dataclass(frozen=True)
class _DefectPlan:
    """Where the defects go: (fund index, day index, position fraction) per row defect; a fund-month for PL."""

    duplicates: tuple[tuple[int, int, float], ...]
    no_cedente: tuple[tuple[int, int, float], ...]
    wrong_pl: tuple[int, tuple[int, int]] | None  # (fund index, (year, month))


def plan_defects(seed: int, funds: int, days: list[dt.date], cutover: dt.date) -> _DefectPlan:
    """Deterministic from the seed; row defects on distinct fund-days, all before the cutover."""
    rng = random.Random(f"{seed}|legacy-defects")
    before = [i for i, d in enumerate(days) if d < cutover]
    if funds == 0 or not before:
        return _DefectPlan((), (), None)
    cells: set[tuple[int, int]] = set()
    picks: list[tuple[int, int, float]] = []
    while len(picks) < DUPLICATES + NO_CEDENTE and len(cells) < funds * len(before):
        cell = (rng.randrange(funds), before[rng.randrange(len(before))])
        if cell not in cells:
            cells.add(cell)
            picks.append((*cell, rng.random()))
    months = sorted({(days[i].year, days[i].month) for i in before})
    wrong = (rng.randrange(funds), months[rng.randrange(len(months))])
    return _DefectPlan(tuple(picks[:DUPLICATES]), tuple(picks[DUPLICATES:]), wrong)


class _CopyBuffer:
    """Lines for one COPY ... FROM STDIN, flushed in batches (bounded memory)."""

    def __init__(self, conn: psycopg.Connection, table: str) -> None:
        self.conn, self.table = conn, table
        self.lines: list[str] = []
        self.count = 0

    def add(self, *values: object) -> None:
        self.lines.append("\t".join(r"\N" if v is None else str(v) for v in values))
        if len(self.lines) >= COPY_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        with (
            self.conn.cursor() as cur,
            cur.copy(sql.SQL("copy {} from stdin").format(sql.Identifier(self.table))) as cp,
        ):
            cp.write("\n".join(self.lines) + "\n")
        self.count += len(self.lines)
        self.lines = []


def _position_values(row_id: int, cnpj: str, fund_name: str, custodian: str, p: StockPosition) -> tuple:
    r = p.receivable
    return (
        row_id, cnpj, fund_name, custodian, p.reference_date.isoformat(), r.seu_numero, r.numero_documento,
        ASSET_CODES[r.asset_type], r.cedente.document, r.cedente.name, r.sacado.document, r.sacado.name,
        r.issue_date.isoformat(), r.acquisition_date.isoformat(), r.original_due_date.isoformat(),
        r.adjusted_due_date.isoformat(), _cent(p.nominal_value), _cent(p.acquisition_value),
        _cent(p.present_value), _cent(p.pdd_value), p.rating, p.pdd_bucket, STATUS_CODES[p.status],
        "S" if r.coobrigacao else "N", r.cession_rate, r.receivable_rate, r.term_days,
    )  # fmt: skip


def _movement_values(row_id: int, cnpj: str, custodian: str, m: Movement) -> tuple:
    r = m.receivable
    nominal = r.nominal_value if m.kind is MovementKind.ACQUISITION else m.open_nominal
    if m.kind is MovementKind.PARTIAL_SETTLEMENT:
        nominal = m.amount
    return (
        row_id, cnpj, custodian, _dmy(m.date), MOVEMENT_CODES[m.kind], r.seu_numero, r.numero_documento,
        ASSET_CODES[r.asset_type], r.cedente.document, r.cedente.name, r.sacado.document, r.sacado.name,
        _dmy(r.issue_date), _dmy(r.original_due_date), nominal, m.paid, m.adjustment, r.cession_rate,
        "S" if r.coobrigacao else "N",
    )  # fmt: skip


def _quota_values(row_id: int, cnpj: str, custodian: str, q: QuotaRow, pl: Decimal) -> tuple:
    return (row_id, cnpj, custodian, q.reference_date.isoformat(), CLASS_CODES[q.quota_class], q.series,
            q.quota_count, q.quota_value, q.net_assets, pl)  # fmt: skip


def create_database(dsn: str, database: str = LEGACY_DATABASE) -> str:
    """(Re)create `database` in LATIN1 on the server of `dsn`; returns its DSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
        conn.execute(
            sql.SQL("create database {} encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0").format(
                sql.Identifier(database)
            )
        )
    return legacy_dsn(dsn, database)


def generate_legacy(dsn: str, params: LegacyParams, database: str = LEGACY_DATABASE) -> LegacyReport:
    """Create and fill the legacy database on the server of `dsn` (dropped first when it exists)."""
    days = params.days()
    if not days:
        raise ValueError(f"no business day before the cutover {params.cutover}")
    sim = simulate(params.seed, params.funds, len(days), HISTORY_START, params.receivables_per_fund)
    assert tuple(days) == sim.business_days, "the legacy's days must be the simulation's"
    target = create_database(dsn, database)
    report = LegacyReport(params, target, sim.business_days)
    plan = plan_defects(params.seed, params.funds, days, params.cutover)
    with psycopg.connect(target) as conn:
        conn.execute("set client_encoding to 'LATIN1'")
        conn.execute(DDL)
        conn.execute(
            "insert into legacy_sample values (%s, %s, %s, %s, %s, %s, %s, %s, 'fidc-lake sample legacy')",
            [params.seed, params.funds, params.months, params.cutover, params.shadow_days,
             params.receivables_per_fund, days[0], days[-1]],
        )  # fmt: skip
        report.rows, report.defects = _fill(conn, sim, plan, days)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into known_defects (kind, table_name, fund_cnpj, reference_date, legacy_row_id, detail, "
                "pl_factor) values (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (d.kind, d.table_name, d.fund_cnpj, d.reference_date, d.legacy_row_id, d.detail, d.pl_factor)
                    for d in report.defects
                ],
            )
        conn.execute(INDEXES)
        conn.commit()
        conn.execute("analyze")
    return report


def _fill(
    conn: psycopg.Connection, sim: Simulation, plan: _DefectPlan, days: list[dt.date]
) -> tuple[dict[str, int], list[Defect]]:
    carteira = _CopyBuffer(conn, "tb_carteira")
    movimento = _CopyBuffer(conn, "tb_movimento")
    cota = _CopyBuffer(conn, "tb_cota")
    fundo = _CopyBuffer(conn, "tb_fundo")
    defects: list[Defect] = []
    dup_cells = {(f, d): x for f, d, x in plan.duplicates}
    orphan_cells = {(f, d): x for f, d, x in plan.no_cedente}
    positions_custodians = POSITIONS_CUSTODIANS
    ids = {"carteira": 0, "movimento": 0, "cota": 0}
    day_index = {d: i for i, d in enumerate(days)}
    for fi, fund in enumerate(sim.funds):
        cnpj = punctuated_cnpj(fund.cnpj)
        pos_cust = CUSTODIAN_CODES[positions_custodians[fi % len(positions_custodians)]]
        ev_cust = CUSTODIAN_CODES[EVENTS_CUSTODIANS[fi % len(EVENTS_CUSTODIANS)]]
        quota_cust = CUSTODIAN_CODES[QUOTAS_CUSTODIAN]
        fundo.add(fi + 1, cnpj, fund.name, pos_cust, ev_cust)
        quotas = QuotaModel(sim.params.seed, fund.cnpj)
        for day, positions in sim.iter_stock(fund.cnpj):
            di = day_index[day]
            orphan_at = int(orphan_cells[(fi, di)] * len(positions)) if (fi, di) in orphan_cells and positions else -1
            for k, p in enumerate(positions):
                ids["carteira"] += 1
                values = _position_values(ids["carteira"], cnpj, fund.name, pos_cust, p)
                if k == orphan_at:
                    values = (*values[:8], None, None, *values[10:])
                    defects.append(Defect("no_cedente", "tb_carteira", fund.cnpj, day, ids["carteira"],
                                          f"receivable {p.receivable.seu_numero} has no cedente (document and name "
                                          "empty): not migrated, quarantined as missing_required"))  # fmt: skip
                carteira.add(*values)
            if (fi, di) in dup_cells and positions:
                p = positions[int(dup_cells[(fi, di)] * len(positions))]
                ids["carteira"] += 1
                carteira.add(*_position_values(ids["carteira"], cnpj, fund.name, pos_cust, p))
                detail = (
                    f"receivable {p.receivable.seu_numero} of cedente {p.receivable.cedente.document} stored twice: "
                    "migrated once, the copy quarantined as duplicate_key"
                )
                defects.append(Defect("duplicate_row", "tb_carteira", fund.cnpj, day, ids["carteira"], detail))
            fd = quotas.on(day, positions)
            wrong = plan.wrong_pl is not None and plan.wrong_pl == (fi, (day.year, day.month))
            pl = fd.net_assets * WRONG_PL_FACTOR if wrong else fd.net_assets
            if wrong:
                detail = (
                    f"vl_pl_fundo stored x{WRONG_PL_FACTOR} (centavos in a numeric column) for {day:%Y-%m}: "
                    "the lake's PL is the sum of the classes"
                )
                defects.append(Defect("wrong_pl", "tb_cota", fund.cnpj, day, None, detail, Decimal(WRONG_PL_FACTOR)))
            for q in fd.rows:
                ids["cota"] += 1
                cota.add(*_quota_values(ids["cota"], cnpj, quota_cust, q, pl))
        for m in sim.movements(fund.cnpj):
            ids["movimento"] += 1
            movimento.add(*_movement_values(ids["movimento"], cnpj, ev_cust, m))
    for buf in (carteira, movimento, cota, fundo):
        buf.flush()
    rows = {"tb_carteira": carteira.count, "tb_movimento": movimento.count, "tb_cota": cota.count}
    return rows, defects


def read_defects(legacy: str) -> list[Defect]:
    """The manifest of known defects of a generated legacy database."""
    with psycopg.connect(legacy) as conn:
        rows = conn.execute(
            "select kind, table_name, fund_cnpj, reference_date, legacy_row_id, detail, pl_factor "
            "from known_defects order by id"
        ).fetchall()
    return [Defect(*r) for r in rows]


def iter_months(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """First days of the months from `first`'s to `last`'s."""
    day = first.replace(day=1)
    while day <= last:
        yield day
        day = (day + dt.timedelta(days=32)).replace(day=1)
