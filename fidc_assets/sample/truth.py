"""The ground truth of a sample: what a correct pipeline must find, accumulated while the inbox files are
written (`Collector`), written under ``truth/`` as CSV (UTF-8, ``,``-separated, dot decimals, LF; see the
generator's docstring for each file), and read back by the tests (`read_*`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from fidc_assets.sample import render_stock_csv
from fidc_assets.sample.custodians import ALFA
from fidc_assets.sample.quotas import QuotaRow
from fidc_assets.sample.records import MONEY_CONTEXT, ZERO, MovementKind, StockPosition
from fidc_assets.sample.render_common import FileKind, RenderedFile

TRUTH_DIR = "truth"
POSITIONS_FILE = "positions_daily.csv"
QUARANTINE_FILE = "quarantine_expected.csv"
ACQUISITIONS_FILE = "acquisitions_daily.csv"
SETTLEMENTS_FILE = "settlements_daily.csv"
QUOTAS_FILE = "fund_quotas.csv"
CONTROL_TOTALS_FILE = "control_totals.csv"
MANIFEST_FILE = "manifest.json"

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

    @property
    def totals(self) -> tuple[int, Decimal, Decimal]:
        """(rows, nominal, present): what `pipeline.mart_totals` must read for the fund-day."""
        return (self.row_count, self.nominal_value, self.present_value)


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


class Collector:
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


def write_truth_files(truth_dir: Path, out: Collector) -> list[ExpectedQuarantine]:
    """Write the truth CSV files of everything `out` collected; the expected quarantine, sorted, is returned."""
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
    return quarantine


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
