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
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from fidc_assets.sample.render_stock_csv import (
    CUSTODIAN_ID,
    CUSTODIAN_NAME,
    ENCODING,
    StockCsvRenderer,
    render_rng,
)
from fidc_assets.sample.simulation import MONEY_CONTEXT, ZERO, simulate

INBOX_DIR = "inbox"
TRUTH_DIR = "truth"
POSITIONS_FILE = "positions_daily.csv"
QUARANTINE_FILE = "quarantine_expected.csv"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1

POSITIONS_COLUMNS = (
    "fund_cnpj", "reference_date", "row_count", "nominal_value", "present_value", "acquisition_value",
    "pdd_value",
)  # fmt: skip
QUARANTINE_COLUMNS = ("file_name", "line_number", "reason_code", "field")


@dataclass(frozen=True, slots=True)
class DayTruth:
    """What a correct pipeline must find in one fund-day file (corrupted rows excluded)."""

    row_count: int
    nominal_value: Decimal
    present_value: Decimal
    acquisition_value: Decimal
    pdd_value: Decimal


@dataclass(frozen=True, slots=True)
class ExpectedQuarantine:
    file_name: str
    line_number: int  # 1-based physical line; the header is line 1
    reason_code: str  # unparseable_date / unparseable_number / missing_required / invalid_document
    field: str  # the CSV column


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
    custodian_id: str
    funds: tuple[FundInfo, ...]
    days: tuple[dt.date, ...]
    files: tuple[str, ...]  # inbox file names, sorted
    row_count: int  # accepted rows over all files
    corrupted_count: int
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        return [self.inbox_dir / name for name in self.files]


def generate_sample(
    out_dir: Path,
    seed: int = 42,
    funds: int = 3,
    days: int = 22,
    start: dt.date = dt.date(2024, 7, 1),
    receivables_per_fund: int = 800,
    bad_row_rate: float = 0.002,
) -> SampleManifest:
    """Simulate `funds` funds over `days` business days and write inbox files and truth under `out_dir`."""
    if not 0.0 <= bad_row_rate <= 1.0:
        raise ValueError(f"bad_row_rate must be in [0, 1], got {bad_row_rate}")
    out_dir = Path(out_dir)
    inbox = out_dir / INBOX_DIR
    truth_dir = out_dir / TRUTH_DIR
    inbox.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)

    sim = simulate(seed, funds, days, start, receivables_per_fund)
    truth: dict[tuple[str, dt.date], DayTruth] = {}
    quarantine: list[ExpectedQuarantine] = []
    file_hashes: dict[str, str] = {}
    for fund in sim.funds:
        renderer = StockCsvRenderer(fund)
        for day, positions in sim.iter_stock(fund.cnpj):
            rendered = renderer.render(day, positions, render_rng(seed, fund.cnpj, day), bad_row_rate)
            (inbox / rendered.file_name).write_bytes(rendered.content)
            file_hashes[rendered.file_name] = hashlib.sha256(rendered.content).hexdigest()
            accepted = rendered.accepted_positions
            with localcontext(MONEY_CONTEXT):
                truth[(fund.cnpj, day)] = DayTruth(
                    row_count=len(accepted),
                    nominal_value=sum((p.nominal_value for p in accepted), ZERO),
                    present_value=sum((p.present_value for p in accepted), ZERO),
                    acquisition_value=sum((p.acquisition_value for p in accepted), ZERO),
                    pdd_value=sum((p.pdd_value for p in accepted), ZERO),
                )
            quarantine.extend(
                ExpectedQuarantine(rendered.file_name, c.line_number, str(c.reason_code), c.field)
                for c in rendered.corrupted
            )

    _write_csv(
        truth_dir / POSITIONS_FILE,
        POSITIONS_COLUMNS,
        [
            (cnpj, day.isoformat(), t.row_count, t.nominal_value, t.present_value, t.acquisition_value,
             t.pdd_value)
            for (cnpj, day), t in sorted(truth.items())
        ],
    )  # fmt: skip
    quarantine.sort(key=lambda q: (q.file_name, q.line_number))
    _write_csv(
        truth_dir / QUARANTINE_FILE,
        QUARANTINE_COLUMNS,
        [(q.file_name, q.line_number, q.reason_code, q.field) for q in quarantine],
    )

    files = tuple(sorted(file_hashes))
    parameters = {
        "seed": seed,
        "funds": funds,
        "days": days,
        "start": start.isoformat(),
        "receivables_per_fund": receivables_per_fund,
        "bad_row_rate": bad_row_rate,
    }
    fund_infos = tuple(FundInfo(f.cnpj, f.name) for f in sim.funds)
    row_count = sum(t.row_count for t in truth.values())
    manifest_doc = {
        "manifest_version": MANIFEST_VERSION,
        "generator": "fidc_assets.sample.generator",
        "seed": seed,
        "parameters": parameters,
        "custodian_id": CUSTODIAN_ID,
        "custodian_name": CUSTODIAN_NAME,
        "file_encoding": ENCODING,
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
        "file_sha256": {name: file_hashes[name] for name in files},
        "row_count": row_count,
        "corrupted_count": len(quarantine),
    }
    (truth_dir / MANIFEST_FILE).write_bytes(
        (json.dumps(manifest_doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    )
    return SampleManifest(
        out_dir=out_dir,
        inbox_dir=inbox,
        truth_dir=truth_dir,
        seed=seed,
        custodian_id=CUSTODIAN_ID,
        funds=fund_infos,
        days=sim.business_days,
        files=files,
        row_count=row_count,
        corrupted_count=len(quarantine),
        parameters=parameters,
    )


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _read_csv(path: Path, header: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != header:
            raise ValueError(f"{path}: expected columns {header}, got {reader.fieldnames}")
        return list(reader)


def read_truth(truth_dir: Path) -> dict[tuple[str, dt.date], DayTruth]:
    """`{(fund_cnpj, reference_date): DayTruth}` from `truth_dir/positions_daily.csv`."""
    out: dict[tuple[str, dt.date], DayTruth] = {}
    for row in _read_csv(Path(truth_dir) / POSITIONS_FILE, POSITIONS_COLUMNS):
        out[(row["fund_cnpj"], dt.date.fromisoformat(row["reference_date"]))] = DayTruth(
            row_count=int(row["row_count"]),
            nominal_value=Decimal(row["nominal_value"]),
            present_value=Decimal(row["present_value"]),
            acquisition_value=Decimal(row["acquisition_value"]),
            pdd_value=Decimal(row["pdd_value"]),
        )
    return out


def read_expected_quarantine(truth_dir: Path) -> list[ExpectedQuarantine]:
    """The corrupted rows listed in `truth_dir/quarantine_expected.csv`, ordered by (file, line)."""
    return [
        ExpectedQuarantine(row["file_name"], int(row["line_number"]), row["reason_code"], row["field"])
        for row in _read_csv(Path(truth_dir) / QUARANTINE_FILE, QUARANTINE_COLUMNS)
    ]


def read_manifest(truth_dir: Path) -> dict[str, Any]:
    """The parsed `truth_dir/manifest.json`."""
    return json.loads((Path(truth_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
