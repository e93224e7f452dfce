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
  custodians, and as ``expected`` the files it delivers on every sample day with their due times,
  `custodians.SAMPLE_DUE`; see `fidc_assets.lib.core.funds`), which `fidc-lake demo` installs as FIDC_FUNDS.

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

Modules: `custodians` (who delivers what), the renderers (one per format, corruption included, see
`render_common`), `truth` (the truth files, written and read); this module renders and writes a sample.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME, write_fund_registry
from fidc_assets.sample import (
    render_cnab444,
    render_cvm,
    render_events_json,
    render_stock_beta,
    render_stock_csv,
    render_stock_delta,
    render_stock_gama,
)
from fidc_assets.sample.custodians import (
    ALFA,
    BETA,
    CUSTODIAN_ENCODINGS,
    CUSTODIAN_NAMES,
    DELTA,
    EPSILON,
    EVENTS_CUSTODIANS,
    GAMA,
    POSITIONS_CUSTODIANS,
    QUOTAS_CUSTODIAN,
    FundCustodians,
    assign_custodians,
    resolve_custodians,
    sample_fund_registry,
)
from fidc_assets.sample.quotas import QuotaModel
from fidc_assets.sample.records import Movement, MovementKind
from fidc_assets.sample.render_common import FileKind, RenderedFile, check_rate, file_rng
from fidc_assets.sample.render_stock_csv import StockCsvRenderer, render_rng
from fidc_assets.sample.simulation import simulate
from fidc_assets.sample.truth import MANIFEST_FILE, TRUTH_DIR, Collector, write_truth_files

INBOX_DIR = "inbox"
MANIFEST_VERSION = 1
#: The canonical entity a rendered file's rows land in (the fund registry's expectations name entities).
_ENTITY_OF_KIND = {
    FileKind.POSITIONS: "receivable_positions",
    FileKind.ACQUISITIONS: "acquisitions",
    FileKind.SETTLEMENTS: "settlements",
    FileKind.QUOTAS: "fund_quotas",
}


@dataclass(frozen=True, slots=True)
class FundInfo:
    cnpj: str
    name: str


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
    cvm_dir: Path | None = None  # the funds' CVM Informe Mensal zips (render_cvm), by publication folder
    cvm_files: tuple[str, ...] = ()  # paths under cvm_dir, sorted
    cvm_seeded: tuple[render_cvm.Seeded, ...] = ()

    @property
    def paths(self) -> list[Path]:
        return [self.inbox_dir / name for name in self.files]


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
    out = Collector(inbox)
    delivered: set[tuple[str, str, str, dt.date]] = set()
    reports = _ReportBooks(sim)
    for rendered in render_files(sim, assignment, seed, bad_row_rate):
        if isinstance(rendered, render_stock_csv.RenderedStockFile):
            out.add_alfa(rendered)
            delivered.add((rendered.fund_cnpj, ALFA, "receivable_positions", rendered.reference_date))
        else:
            out.add(rendered)
            delivered.add((rendered.fund_cnpj, rendered.custodian_id, _ENTITY_OF_KIND[rendered.kind], rendered.day))
        reports.add(rendered)
    cvm_dir = out_dir / render_cvm.CVM_DIR
    cvm_files, seeded = reports.write(cvm_dir, truth_dir)

    quarantine = write_truth_files(truth_dir, out)

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
    registry = sample_fund_registry(sim.funds, fund_custodians, sim.business_days, delivered)
    write_fund_registry(out_dir / REGISTRY_FILE_NAME, registry)
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
        cvm_dir=cvm_dir,
        cvm_files=cvm_files,
        cvm_seeded=tuple(seeded),
    )


class _ReportBooks:
    """The accepted records each fund's monthly CVM report is made of (`render_cvm.FundMonth`): the stock and
    quotas of its last sample day in the month, the month's acquisitions."""

    def __init__(self, sim) -> None:
        self.sim = sim
        last: dict[dt.date, dt.date] = {}
        for day in sim.business_days:
            last[day.replace(day=1)] = day
        self.last_day = last
        self.books: dict[tuple[str, dt.date], render_cvm.FundMonth] = {
            (f.cnpj, m): render_cvm.FundMonth(f, m, d) for f in sim.funds for m, d in last.items()
        }

    def add(self, rendered: RenderedFile | render_stock_csv.RenderedStockFile) -> None:
        accepted: list[Any]
        if isinstance(rendered, render_stock_csv.RenderedStockFile):
            cnpj, day, kind, accepted = (
                rendered.fund_cnpj, rendered.reference_date, FileKind.POSITIONS, rendered.accepted_positions
            )  # fmt: skip
        else:
            cnpj, day, kind, accepted = rendered.fund_cnpj, rendered.day, rendered.kind, list(rendered.accepted)
        book = self.books[(cnpj, day.replace(day=1))]
        if kind is FileKind.ACQUISITIONS:
            book.acquisitions.extend(accepted)
        elif day == book.day and kind is FileKind.POSITIONS:
            book.positions.extend(accepted)
        elif day == book.day and kind is FileKind.QUOTAS:
            book.quotas.extend(accepted)

    def write(self, cvm_dir: Path, truth_dir: Path) -> tuple[tuple[str, ...], list[render_cvm.Seeded]]:
        seeded = render_cvm.plan_seeded(self.sim.funds, sorted(self.last_day))
        publications = render_cvm.render_publications(list(self.books.values()), seeded)
        for pub in publications:
            path = cvm_dir / pub.relative_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pub.content)
        lines = ["kind,fund_cnpj,reference_month,figure,expected_status"]
        lines += [f"{s.kind},{s.fund_cnpj},{s.month.isoformat()},{s.figure},{s.expected_status}" for s in seeded]
        (truth_dir / render_cvm.DISCREPANCIES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return tuple(sorted(p.relative_path for p in publications)), seeded
