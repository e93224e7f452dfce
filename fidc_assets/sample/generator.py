"""Sample data set: a simulated custodian inbox plus the ground truth a correct pipeline must reproduce.

``generate_sample(out_dir, ..., custodians=None)`` renders one simulation (`fidc_assets.sample.simulation`)
into the files of up to six custodians and writes

* ``out_dir/inbox/``: the custodian files (one renderer module per format):

  ===================  ===========  ==========================================  ================================
  custodian            role         files                                       module
  ===================  ===========  ==========================================  ================================
  ``custodia_alfa``    positions    ``ESTOQUE_<cnpj>_<yyyymmdd>.csv``            `render_stock_csv`
  ``custodia_beta``    positions    ``carteira_<cnpj>_<yyyy-mm-dd>.csv``         `render_stock_beta`
  ``custodia_gama``    positions    ``ESTOQUE_GAMA_<cnpj>_<yyyymmdd>.xlsx|.zip`` `render_stock_gama`
  ``custodia_delta``   positions,   ``posicao_<cnpj>_<yyyymmdd>.csv``,           `render_stock_delta`
                       quotas       ``cotas_<cnpj>_<yyyymmdd>.csv``
  ``custodia_epsilon`` events       ``CNAB444_<cnpj>_<yyyymmdd>.REM``,           `render_cnab444`
                                    ``CNAB444_LIQ_<cnpj>_<yyyymmdd>.RET``
  ``custodia_zeta``    events       ``aquisicoes_<cnpj>_<yyyymmdd>.json``,       `render_events_json`
                                    ``liquidacoes_<cnpj>_<yyyymmdd>.json``
  ===================  ===========  ==========================================  ================================

  Assignment (no fund-day is reported twice): fund *i* (simulation order) gets its daily stock from the
  *i*-th (mod n) requested positions custodian in the order alfa, beta, gama, delta; its acquisitions and
  settlements from the *i*-th (mod n) requested events custodian in the order epsilon, zeta (none
  requested: no event files); its quotas from ``custodia_delta`` when it is requested (every fund).
  Event files exist only for days with at least one event. Each format has deliberately corrupted records
  (``bad_row_rate``, per record, deterministic).

* ``out_dir/funds.yaml``: the fund registry of the simulated administrator (every fund, its manager, its
  custodians; see `fidc_assets.lib.core.funds`), which `fidc-lake demo` installs as FIDC_FUNDS.

* ``out_dir/truth/`` (UTF-8, ``,``-separated, dot decimals, LF):

  * ``positions_daily.csv``: per fund and day, the row count and exact sums of nominal, present,
    acquisition and PDD values over the rows a correct parser accepts (corrupted rows excluded), then
    custodian_id (last column);
  * ``acquisitions_daily.csv``: custodian_id, fund_cnpj, event_date, row_count, nominal_value (face value),
    acquisition_value (price paid) over accepted records; only keys with at least one accepted record;
  * ``settlements_daily.csv``: custodian_id, fund_cnpj, event_date, kind (liquidacao, liquidacao_parcial,
    recompra, baixa), row_count, amount_paid (cash received: 0 for baixa); only keys with an accepted record;
  * ``fund_quotas.csv``: custodian_id, fund_cnpj, reference_date, quota_class, series, quota_count,
    quota_value, net_assets, one row per accepted quota row (model: `fidc_assets.sample.quotas`);
  * ``control_totals.csv``: file_name, record_count, sum_valor_face of every ``custodia_delta`` stock file
    (what its trailer says; all records, corrupted ones included);
  * ``quarantine_expected.csv``: file_name, line_number, reason_code, field of every corrupted record;
    line_number: delimited and fixed-width files the 1-based physical line (header = 1), XLSX the sheet
    row, JSON the 1-based index of the record in its array; for a zipped workbook the ZIP's name;
  * ``manifest.json``: seed, parameters, custodians, funds with their custodians (``fund_custodians``),
    days, files (with sha256) and files by custodian.

The output depends only on the arguments: the same arguments give byte-identical files (no clock, no
absolute paths, no machine-dependent arithmetic). With ``custodians=("custodia_alfa",)`` the inbox and
``quarantine_expected.csv`` are byte-identical to the single-custodian generator's, and
``positions_daily.csv`` is too once its trailing custodian_id column is removed. Files already in
``out_dir`` that this generator does not produce are left alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME, FundRegistry, Manager, write_fund_registry
from fidc_assets.lib.core.funds import Fund as RegistryFund
from fidc_assets.sample import (
    render_cnab444,
    render_events_json,
    render_stock_beta,
    render_stock_csv,
    render_stock_delta,
    render_stock_gama,
)
from fidc_assets.sample.quotas import QuotaModel, QuotaRow
from fidc_assets.sample.records import MONEY_CONTEXT, ZERO, Movement, MovementKind, StockPosition
from fidc_assets.sample.render_common import FileKind, RenderedFile, check_rate, file_rng
from fidc_assets.sample.render_stock_csv import StockCsvRenderer, render_rng
from fidc_assets.sample.simulation import simulate

INBOX_DIR = "inbox"
TRUTH_DIR = "truth"
POSITIONS_FILE = "positions_daily.csv"
QUARANTINE_FILE = "quarantine_expected.csv"
ACQUISITIONS_FILE = "acquisitions_daily.csv"
SETTLEMENTS_FILE = "settlements_daily.csv"
QUOTAS_FILE = "fund_quotas.csv"
CONTROL_TOTALS_FILE = "control_totals.csv"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1

ALFA = render_stock_csv.CUSTODIAN_ID
BETA = render_stock_beta.CUSTODIAN_ID
GAMA = render_stock_gama.CUSTODIAN_ID
DELTA = render_stock_delta.CUSTODIAN_ID
EPSILON = render_cnab444.CUSTODIAN_ID
ZETA = render_events_json.CUSTODIAN_ID
#: Positions custodians in assignment order (fund i → the i-th, mod n, of those requested).
POSITIONS_CUSTODIANS: tuple[str, ...] = (ALFA, BETA, GAMA, DELTA)
#: Events (acquisitions + settlements) custodians in assignment order.
EVENTS_CUSTODIANS: tuple[str, ...] = (EPSILON, ZETA)
#: Renders every fund's quotas when requested.
QUOTAS_CUSTODIAN = DELTA
ALL_CUSTODIANS: tuple[str, ...] = (*POSITIONS_CUSTODIANS, *EVENTS_CUSTODIANS)
CUSTODIAN_NAMES = {
    ALFA: render_stock_csv.CUSTODIAN_NAME,
    BETA: render_stock_beta.CUSTODIAN_NAME,
    GAMA: render_stock_gama.CUSTODIAN_NAME,
    DELTA: render_stock_delta.CUSTODIAN_NAME,
    EPSILON: render_cnab444.CUSTODIAN_NAME,
    ZETA: render_events_json.CUSTODIAN_NAME,
}
CUSTODIAN_ENCODINGS = {
    ALFA: render_stock_csv.ENCODING,
    BETA: render_stock_beta.ENCODING,
    GAMA: render_stock_gama.ENCODING,
    DELTA: render_stock_delta.ENCODING,
    EPSILON: render_cnab444.ENCODING,
    ZETA: render_events_json.ENCODING,
}
# Kept for callers of the single-custodian generator.
CUSTODIAN_ID = ALFA
CUSTODIAN_NAME = CUSTODIAN_NAMES[ALFA]
ENCODING = CUSTODIAN_ENCODINGS[ALFA]

#: Canonical settlement kinds (canonical.SETTLEMENTS.kind) by movement kind.
SETTLEMENT_KINDS = {
    MovementKind.SETTLEMENT: "liquidacao",
    MovementKind.PARTIAL_SETTLEMENT: "liquidacao_parcial",
    MovementKind.REPURCHASE: "recompra",
    MovementKind.WRITE_OFF: "baixa",
}

POSITIONS_COLUMNS = (
    "fund_cnpj", "reference_date", "row_count", "nominal_value", "present_value", "acquisition_value",
    "pdd_value",
)  # fmt: skip
#: What positions_daily.csv holds: the original columns, then the custodian.
POSITIONS_TRUTH_COLUMNS = (*POSITIONS_COLUMNS, "custodian_id")
QUARANTINE_COLUMNS = ("file_name", "line_number", "reason_code", "field")
ACQUISITIONS_COLUMNS = (
    "custodian_id", "fund_cnpj", "event_date", "row_count", "nominal_value", "acquisition_value",
)  # fmt: skip
SETTLEMENTS_COLUMNS = ("custodian_id", "fund_cnpj", "event_date", "kind", "row_count", "amount_paid")
QUOTAS_COLUMNS = (
    "custodian_id", "fund_cnpj", "reference_date", "quota_class", "series", "quota_count", "quota_value",
    "net_assets",
)  # fmt: skip
CONTROL_TOTALS_COLUMNS = ("file_name", "record_count", "sum_valor_face")


@dataclass(frozen=True, slots=True)
class DayTruth:
    """What a correct pipeline must find in one fund-day file (corrupted rows excluded)."""

    row_count: int
    nominal_value: Decimal
    present_value: Decimal
    acquisition_value: Decimal
    pdd_value: Decimal


@dataclass(frozen=True, slots=True)
class AcquisitionTruth:
    row_count: int
    nominal_value: Decimal  # face value
    acquisition_value: Decimal  # price paid


@dataclass(frozen=True, slots=True)
class SettlementTruth:
    row_count: int
    amount_paid: Decimal


@dataclass(frozen=True, slots=True)
class QuotaTruth:
    quota_count: Decimal
    quota_value: Decimal
    net_assets: Decimal


@dataclass(frozen=True, slots=True)
class ControlTotal:
    record_count: int
    sum_valor_face: Decimal


@dataclass(frozen=True, slots=True)
class ExpectedQuarantine:
    file_name: str
    line_number: int  # see the module docstring (physical line / sheet row / JSON record index)
    reason_code: str  # unparseable_date / unparseable_number / missing_required / invalid_document / unknown_code
    field: str  # the column / field corrupted


@dataclass(frozen=True, slots=True)
class FundInfo:
    cnpj: str
    name: str


@dataclass(frozen=True, slots=True)
class FundCustodians:
    """Which custodian reports what for one fund (None: nobody)."""

    positions: str | None
    events: str | None
    quotas: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"positions": self.positions, "events": self.events, "quotas": self.quotas}


@dataclass(frozen=True)
class SampleManifest:
    out_dir: Path
    inbox_dir: Path
    truth_dir: Path
    seed: int
    custodian_id: str  # the first requested custodian (custodia_alfa when requested)
    funds: tuple[FundInfo, ...]
    days: tuple[dt.date, ...]
    files: tuple[str, ...]  # inbox file names, sorted
    row_count: int  # accepted stock rows over all positions files
    corrupted_count: int  # corrupted records over all files
    parameters: dict[str, Any] = field(default_factory=dict)
    custodians: tuple[str, ...] = ()  # requested, in ALL_CUSTODIANS order
    fund_custodians: dict[str, FundCustodians] = field(default_factory=dict)  # by fund CNPJ
    files_by_custodian: dict[str, tuple[str, ...]] = field(default_factory=dict)  # sorted names
    row_counts: dict[str, int] = field(default_factory=dict)  # accepted records by entity

    @property
    def paths(self) -> list[Path]:
        return [self.inbox_dir / name for name in self.files]


def resolve_custodians(custodians: Sequence[str] | str | None) -> tuple[str, ...]:
    """The requested custodians in `ALL_CUSTODIANS` order (None: all of them)."""
    if custodians is None:
        return ALL_CUSTODIANS
    wanted = {custodians} if isinstance(custodians, str) else set(custodians)
    unknown = sorted(wanted - set(ALL_CUSTODIANS))
    if unknown:
        raise ValueError(f"unknown custodians {unknown}; known: {list(ALL_CUSTODIANS)}")
    if not wanted:
        raise ValueError("at least one custodian is needed")
    return tuple(c for c in ALL_CUSTODIANS if c in wanted)


#: The simulated administrator's clients: fund i is managed by manager i mod 3 (the BI tenants).
SAMPLE_MANAGERS = (
    Manager(id="aurora", name="Aurora Gestão de Recursos Ltda"),
    Manager(id="boreal", name="Boreal Capital Gestora Ltda"),
    Manager(id="cerrado", name="Cerrado Investimentos Ltda"),
)


def sample_fund_registry(funds: Sequence, fund_custodians: dict[str, FundCustodians]) -> FundRegistry:
    """The fund registry (funds.yaml) of a sample: every simulated fund, its manager and custodians."""
    entries = []
    for i, f in enumerate(funds):
        fc = fund_custodians[f.cnpj]
        custodians = tuple(dict.fromkeys(c for c in (fc.positions, fc.events, fc.quotas) if c is not None))
        manager = SAMPLE_MANAGERS[i % len(SAMPLE_MANAGERS)].id
        entries.append(RegistryFund(cnpj=f.cnpj, name=f.name, manager=manager, custodians=custodians))
    used = {e.manager for e in entries}
    return FundRegistry(managers=tuple(m for m in SAMPLE_MANAGERS if m.id in used), funds=tuple(entries))


def assign_custodians(fund_count: int, custodians: Sequence[str]) -> list[FundCustodians]:
    """Fund i's custodians: the i-th (mod n) requested positions and events custodians; quotas: delta."""
    positions = [c for c in POSITIONS_CUSTODIANS if c in custodians]
    events = [c for c in EVENTS_CUSTODIANS if c in custodians]
    quotas = QUOTAS_CUSTODIAN if QUOTAS_CUSTODIAN in custodians else None
    return [
        FundCustodians(
            positions[i % len(positions)] if positions else None,
            events[i % len(events)] if events else None,
            quotas,
        )
        for i in range(fund_count)
    ]


class _Collector:
    """Writes inbox files and accumulates the truth."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        self.hashes: dict[str, str] = {}
        self.by_custodian: dict[str, list[str]] = defaultdict(list)
        self.quarantine: list[ExpectedQuarantine] = []
        self.positions: dict[tuple[str, dt.date], tuple[str, DayTruth]] = {}
        self.acquisitions: dict[tuple[str, str, dt.date], list] = {}
        self.settlements: dict[tuple[str, str, dt.date, str], list] = {}
        self.quotas: list[tuple[str, QuotaRow]] = []
        self.control_totals: list[tuple[str, int, Decimal]] = []

    def _write(self, custodian: str, name: str, content: bytes) -> None:
        if name in self.hashes:
            raise ValueError(f"{name} rendered twice")
        (self.inbox / name).write_bytes(content)
        self.hashes[name] = hashlib.sha256(content).hexdigest()
        self.by_custodian[custodian].append(name)

    def _positions(self, custodian: str, cnpj: str, day: dt.date, accepted: Sequence[StockPosition]) -> None:
        with localcontext(MONEY_CONTEXT):
            self.positions[(cnpj, day)] = (
                custodian,
                DayTruth(
                    row_count=len(accepted),
                    nominal_value=sum((p.nominal_value for p in accepted), ZERO),
                    present_value=sum((p.present_value for p in accepted), ZERO),
                    acquisition_value=sum((p.acquisition_value for p in accepted), ZERO),
                    pdd_value=sum((p.pdd_value for p in accepted), ZERO),
                ),
            )

    def add_alfa(self, rendered: render_stock_csv.RenderedStockFile) -> None:
        self._write(ALFA, rendered.file_name, rendered.content)
        self._positions(ALFA, rendered.fund_cnpj, rendered.reference_date, rendered.accepted_positions)
        self.quarantine.extend(
            ExpectedQuarantine(rendered.file_name, c.line_number, str(c.reason_code), c.field)
            for c in rendered.corrupted
        )

    def add(self, rendered: RenderedFile) -> None:
        cust, cnpj, day = rendered.custodian_id, rendered.fund_cnpj, rendered.day
        self._write(cust, rendered.file_name, rendered.content)
        self.quarantine.extend(
            ExpectedQuarantine(rendered.file_name, b.line_number, str(b.reason_code), b.field)
            for b in rendered.corrupted
        )
        kind = rendered.kind
        with localcontext(MONEY_CONTEXT):
            if kind is FileKind.POSITIONS:
                self._positions(cust, cnpj, day, rendered.accepted)
                if rendered.control_total is not None:
                    self.control_totals.append((rendered.file_name, rendered.record_count, rendered.control_total))
            elif kind is FileKind.QUOTAS:
                self.quotas.extend((cust, q) for q in rendered.accepted)
            elif kind is FileKind.ACQUISITIONS:
                for m in rendered.accepted:
                    acc = self.acquisitions.setdefault((cust, cnpj, day), [0, ZERO, ZERO])
                    acc[0] += 1
                    acc[1] += m.receivable.nominal_value
                    acc[2] += m.paid
            else:
                for m in rendered.accepted:
                    acc = self.settlements.setdefault((cust, cnpj, day, SETTLEMENT_KINDS[m.kind]), [0, ZERO])
                    acc[0] += 1
                    acc[1] += m.paid


def render_files(
    sim, assignment: Sequence[FundCustodians], seed: int, bad_row_rate: float
) -> Iterator[RenderedFile | render_stock_csv.RenderedStockFile]:
    """Every file of a sample, in delivery order, rendered (content, accepted and corrupted records) but not
    written: `generate_sample` writes them and sums the truth; tests that need the accepted records themselves
    (a reference implementation of the marts) read them from here."""
    for fund, fc in zip(sim.funds, assignment, strict=True):
        cnpj = fund.cnpj
        quota_model = QuotaModel(seed, cnpj) if fc.quotas else None
        if fc.positions is not None or quota_model is not None:
            alfa = StockCsvRenderer(fund) if fc.positions == ALFA else None
            beta = render_stock_beta.BetaStockRenderer(fund) if fc.positions == BETA else None
            gama = render_stock_gama.GamaStockRenderer(fund) if fc.positions == GAMA else None
            delta = render_stock_delta.DeltaStockRenderer(fund) if fc.positions == DELTA else None
            for i, (day, positions) in enumerate(sim.iter_stock(cnpj)):
                if alfa is not None:
                    yield alfa.render(day, positions, render_rng(seed, cnpj, day), bad_row_rate)
                elif beta is not None:
                    yield beta.render(day, positions, file_rng(seed, BETA, "positions", cnpj, day), bad_row_rate)
                elif gama is not None:
                    rng = file_rng(seed, GAMA, "positions", cnpj, day)
                    yield gama.render(day, positions, rng, bad_row_rate, zipped=render_stock_gama.is_zipped(i))
                elif delta is not None:
                    yield delta.render(day, positions, file_rng(seed, DELTA, "positions", cnpj, day), bad_row_rate)
                if quota_model is not None:
                    rng = file_rng(seed, QUOTAS_CUSTODIAN, "quotas", cnpj, day)
                    yield render_stock_delta.render_quotas(quota_model.on(day, positions), rng, bad_row_rate)
        if fc.events is not None:
            renderer = (render_cnab444.CnabRenderer if fc.events == EPSILON else render_events_json.JsonEventsRenderer)(
                fund
            )
            by_day: dict[tuple[dt.date, FileKind], list[Movement]] = defaultdict(list)
            for m in sim.movements(cnpj):
                kind = FileKind.ACQUISITIONS if m.kind is MovementKind.ACQUISITION else FileKind.SETTLEMENTS
                by_day[(m.date, kind)].append(m)
            for day in sim.business_days:
                for kind in (FileKind.ACQUISITIONS, FileKind.SETTLEMENTS):
                    moves = by_day.get((day, kind))
                    if moves:
                        rng = file_rng(seed, fc.events, str(kind), cnpj, day)
                        yield renderer.render(kind, day, moves, rng, bad_row_rate)


def generate_sample(
    out_dir: Path,
    seed: int = 42,
    funds: int = 3,
    days: int = 22,
    start: dt.date = dt.date(2024, 7, 1),
    receivables_per_fund: int = 800,
    bad_row_rate: float = 0.002,
    custodians: Sequence[str] | None = None,
) -> SampleManifest:
    """Simulate `funds` funds over `days` business days and write inbox files and truth under `out_dir`.

    `custodians`: which of `ALL_CUSTODIANS` deliver files (None: all six); see the module docstring for the
    fund assignment.
    """
    check_rate(bad_row_rate)
    requested = resolve_custodians(custodians)
    out_dir = Path(out_dir)
    inbox = out_dir / INBOX_DIR
    truth_dir = out_dir / TRUTH_DIR
    inbox.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)

    sim = simulate(seed, funds, days, start, receivables_per_fund)
    assignment = assign_custodians(len(sim.funds), requested)
    out = _Collector(inbox)
    for rendered in render_files(sim, assignment, seed, bad_row_rate):
        if isinstance(rendered, render_stock_csv.RenderedStockFile):
            out.add_alfa(rendered)
        else:
            out.add(rendered)

    _write_csv(
        truth_dir / POSITIONS_FILE,
        POSITIONS_TRUTH_COLUMNS,
        [
            (cnpj, day.isoformat(), t.row_count, t.nominal_value, t.present_value, t.acquisition_value,
             t.pdd_value, cust)
            for (cnpj, day), (cust, t) in sorted(out.positions.items())
        ],
    )  # fmt: skip
    quarantine = sorted(out.quarantine, key=lambda q: (q.file_name, q.line_number))
    _write_csv(
        truth_dir / QUARANTINE_FILE,
        QUARANTINE_COLUMNS,
        [(q.file_name, q.line_number, q.reason_code, q.field) for q in quarantine],
    )
    _write_csv(
        truth_dir / ACQUISITIONS_FILE,
        ACQUISITIONS_COLUMNS,
        [(c, f, d.isoformat(), n, nom, acq) for (c, f, d), (n, nom, acq) in sorted(out.acquisitions.items())],
    )
    _write_csv(
        truth_dir / SETTLEMENTS_FILE,
        SETTLEMENTS_COLUMNS,
        [(c, f, d.isoformat(), k, n, paid) for (c, f, d, k), (n, paid) in sorted(out.settlements.items())],
    )
    quota_rows = sorted(out.quotas, key=lambda cq: (cq[0], cq[1].fund_cnpj, cq[1].reference_date))  # stable
    _write_csv(
        truth_dir / QUOTAS_FILE,
        QUOTAS_COLUMNS,
        [
            (c, q.fund_cnpj, q.reference_date.isoformat(), q.quota_class, q.series, q.quota_count, q.quota_value,
             q.net_assets)
            for c, q in quota_rows
        ],
    )  # fmt: skip
    _write_csv(truth_dir / CONTROL_TOTALS_FILE, CONTROL_TOTALS_COLUMNS, sorted(out.control_totals))

    files = tuple(sorted(out.hashes))
    files_by_custodian = {c: tuple(sorted(out.by_custodian.get(c, ()))) for c in requested}
    parameters = {
        "seed": seed,
        "funds": funds,
        "days": days,
        "start": start.isoformat(),
        "receivables_per_fund": receivables_per_fund,
        "bad_row_rate": bad_row_rate,
    }
    fund_infos = tuple(FundInfo(f.cnpj, f.name) for f in sim.funds)
    row_count = sum(t.row_count for _, t in out.positions.values())
    row_counts = {
        "receivable_positions": row_count,
        "acquisitions": sum(a[0] for a in out.acquisitions.values()),
        "settlements": sum(s[0] for s in out.settlements.values()),
        "fund_quotas": len(out.quotas),
    }
    fund_custodians = {f.cnpj: fc for f, fc in zip(sim.funds, assignment, strict=True)}
    primary = requested[0]
    manifest_doc = {
        "manifest_version": MANIFEST_VERSION,
        "generator": "fidc_assets.sample.generator",
        "seed": seed,
        "parameters": parameters,
        "custodian_id": primary,
        "custodian_name": CUSTODIAN_NAMES[primary],
        "file_encoding": CUSTODIAN_ENCODINGS[primary],
        "funds": [
            {
                "cnpj": f.cnpj,
                "name": f.name,
                "administrator": {"cnpj": f.administrator.document, "name": f.administrator.name},
                "originator": {"cnpj": f.originator.document, "name": f.originator.name},
            }
            for f in sim.funds
        ],
        "days": [d.isoformat() for d in sim.business_days],
        "files": list(files),
        "file_sha256": {name: out.hashes[name] for name in files},
        "row_count": row_count,
        "corrupted_count": len(quarantine),
        "custodians": [
            {
                "id": c,
                "name": CUSTODIAN_NAMES[c],
                "file_encoding": CUSTODIAN_ENCODINGS[c],
                "roles": [
                    role
                    for role, members in (
                        ("positions", POSITIONS_CUSTODIANS),
                        ("events", EVENTS_CUSTODIANS),
                        ("quotas", (QUOTAS_CUSTODIAN,)),
                    )
                    if c in members
                ],  # fmt: skip
            }
            for c in requested
        ],
        "fund_custodians": {cnpj: fc.as_dict() for cnpj, fc in fund_custodians.items()},
        "files_by_custodian": {c: list(names) for c, names in files_by_custodian.items()},
        "row_counts": row_counts,
    }
    write_fund_registry(out_dir / REGISTRY_FILE_NAME, sample_fund_registry(sim.funds, fund_custodians))
    (truth_dir / MANIFEST_FILE).write_bytes(
        (json.dumps(manifest_doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    )
    return SampleManifest(
        out_dir=out_dir,
        inbox_dir=inbox,
        truth_dir=truth_dir,
        seed=seed,
        custodian_id=primary,
        funds=fund_infos,
        days=sim.business_days,
        files=files,
        row_count=row_count,
        corrupted_count=len(quarantine),
        parameters=parameters,
        custodians=requested,
        fund_custodians=fund_custodians,
        files_by_custodian=files_by_custodian,
        row_counts=row_counts,
    )


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _read_csv(path: Path, *headers: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of `path`, whose header must be one of `headers`."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) not in headers:
            raise ValueError(f"{path}: expected columns {headers[0]}, got {reader.fieldnames}")
        return list(reader)


def read_truth(truth_dir: Path) -> dict[tuple[str, dt.date], DayTruth]:
    """`{(fund_cnpj, reference_date): DayTruth}` from `truth_dir/positions_daily.csv` (one custodian per fund;
    files written before the custodian_id column existed are read too)."""
    return {(cnpj, day): t for (_, cnpj, day), t in read_positions_truth(truth_dir).items()}


def read_positions_truth(truth_dir: Path) -> dict[tuple[str, str, dt.date], DayTruth]:
    """`{(custodian_id, fund_cnpj, reference_date): DayTruth}` (custodian_id `custodia_alfa` for old files)."""
    out: dict[tuple[str, str, dt.date], DayTruth] = {}
    rows = _read_csv(Path(truth_dir) / POSITIONS_FILE, POSITIONS_TRUTH_COLUMNS, POSITIONS_COLUMNS)
    for row in rows:
        key = (row.get("custodian_id", ALFA), row["fund_cnpj"], dt.date.fromisoformat(row["reference_date"]))
        out[key] = DayTruth(
            row_count=int(row["row_count"]),
            nominal_value=Decimal(row["nominal_value"]),
            present_value=Decimal(row["present_value"]),
            acquisition_value=Decimal(row["acquisition_value"]),
            pdd_value=Decimal(row["pdd_value"]),
        )
    return out


def read_acquisitions_truth(truth_dir: Path) -> dict[tuple[str, str, dt.date], AcquisitionTruth]:
    """`{(custodian_id, fund_cnpj, event_date): AcquisitionTruth}` from `acquisitions_daily.csv`."""
    return {
        (row["custodian_id"], row["fund_cnpj"], dt.date.fromisoformat(row["event_date"])): AcquisitionTruth(
            int(row["row_count"]), Decimal(row["nominal_value"]), Decimal(row["acquisition_value"])
        )
        for row in _read_csv(Path(truth_dir) / ACQUISITIONS_FILE, ACQUISITIONS_COLUMNS)
    }


def read_settlements_truth(truth_dir: Path) -> dict[tuple[str, str, dt.date, str], SettlementTruth]:
    """`{(custodian_id, fund_cnpj, event_date, kind): SettlementTruth}` from `settlements_daily.csv`."""
    return {
        (row["custodian_id"], row["fund_cnpj"], dt.date.fromisoformat(row["event_date"]), row["kind"]): (
            SettlementTruth(int(row["row_count"]), Decimal(row["amount_paid"]))
        )
        for row in _read_csv(Path(truth_dir) / SETTLEMENTS_FILE, SETTLEMENTS_COLUMNS)
    }


def read_quotas_truth(truth_dir: Path) -> dict[tuple[str, str, dt.date, str, str], QuotaTruth]:
    """`{(custodian_id, fund_cnpj, reference_date, quota_class, series): QuotaTruth}` from `fund_quotas.csv`."""
    return {
        (
            row["custodian_id"], row["fund_cnpj"], dt.date.fromisoformat(row["reference_date"]), row["quota_class"],
            row["series"],
        ): QuotaTruth(Decimal(row["quota_count"]), Decimal(row["quota_value"]), Decimal(row["net_assets"]))
        for row in _read_csv(Path(truth_dir) / QUOTAS_FILE, QUOTAS_COLUMNS)
    }  # fmt: skip


def read_control_totals(truth_dir: Path) -> dict[str, ControlTotal]:
    """`{file_name: ControlTotal}` from `control_totals.csv` (custodia_delta stock files)."""
    return {
        row["file_name"]: ControlTotal(int(row["record_count"]), Decimal(row["sum_valor_face"]))
        for row in _read_csv(Path(truth_dir) / CONTROL_TOTALS_FILE, CONTROL_TOTALS_COLUMNS)
    }


def read_expected_quarantine(truth_dir: Path) -> list[ExpectedQuarantine]:
    """The corrupted records listed in `truth_dir/quarantine_expected.csv`, ordered by (file, line)."""
    return [
        ExpectedQuarantine(row["file_name"], int(row["line_number"]), row["reason_code"], row["field"])
        for row in _read_csv(Path(truth_dir) / QUARANTINE_FILE, QUARANTINE_COLUMNS)
    ]


def read_manifest(truth_dir: Path) -> dict[str, Any]:
    """The parsed `truth_dir/manifest.json`."""
    return json.loads((Path(truth_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
