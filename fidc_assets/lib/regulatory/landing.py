"""Landing a published CVM zip: archived byte for byte by sha256, read through the spec, and each of its
months replacing that month's slice of every tab table, in one Iceberg commit per table.

A re-publication (the CVM changes reports after the filing window closes) is a zip with other bytes for the
same month: landed, it replaces the month's rows of every tab outright (`overwrite` with the month's filter:
delete and append in one snapshot), so the lake holds exactly one publication of each month, the last one
landed, and `lake.cvm_publications` keeps which bytes those were. A tab the zip lacks is emptied for its
months: the month's slice is the publication's, nothing older survives beside it. Every snapshot carries
the zip's name and sha256 (`fidc.cvm.*` properties), so the lake's history says which publication it held
when. Which zip of several is the newest is `inbox.newest_publication`'s business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from pyiceberg.expressions import And, BooleanExpression, Or

from fidc_assets.lib.core.canonical import QUARANTINE, arrow_schema
from fidc_assets.lib.core.months import month_key, next_month
from fidc_assets.lib.lake.archive import archive_file, archive_key, sha256_file
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import equal_to, greater_than_or_equal, is_in, less_than
from fidc_assets.lib.regulatory.reader import ReportRead, read_report
from fidc_assets.lib.regulatory.spec import CvmSpec, zip_period
from fidc_assets.lib.regulatory.tables import PUBLICATIONS, tab_entity

#: The archive folder of the CVM's zips (raw/<folder>/<yyyy>/<mm>/<sha256>.zip), beside the custodians'.
ARCHIVE_FOLDER = "cvm"


@dataclass(frozen=True)
class TabLanded:
    tab: str
    table: str
    rows: int
    rejected: int
    identical_rows: int
    kind_duplicates: int
    conflicting_rows: int


@dataclass(frozen=True)
class ReportLanded:
    """What landing one zip did, for the asset's metadata and the CLI."""

    zip_name: str
    sha256: str
    archive_uri: str
    months: tuple[dt.date, ...]
    tabs: tuple[TabLanded, ...] = field(default_factory=tuple)
    skipped_members: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tabs)

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tabs)


def months_filter(months: list[dt.date]) -> BooleanExpression:
    """DT_COMPTC within any of the months (each a whole partition of the month-partitioned tables)."""
    ranges = [And(greater_than_or_equal("dt_comptc", m), less_than("dt_comptc", next_month(m))) for m in sorted(months)]
    out: BooleanExpression = ranges[0]
    for r in ranges[1:]:
        out = Or(out, r)
    return out


def land_report(
    lake: Lake,
    path: Path,
    spec: CvmSpec,
    months: list[dt.date] | None = None,
    now: dt.datetime | None = None,
    name: str | None = None,
) -> ReportLanded:
    """Archive and land the zip at `path` (`name`: its name as published, default the path's); `months`:
    only these of its months (a monthly partition of a yearly zip), else every month it holds. Raises
    `FileRejected` for a zip that is not a readable report (nothing is written to the tables then; the bytes
    are archived all the same)."""
    now = now or dt.datetime.now(dt.UTC)
    name = name or path.name
    period = zip_period(spec, name)
    if period is None:
        raise ValueError(f"{name}: not a CVM report zip name (expected {spec.zip_pattern!r})")
    sha256 = sha256_file(path)
    uri = archive_file(path, lake.archive_root, archive_key(ARCHIVE_FOLDER, period[0], sha256, name))
    report = read_report(path, name, sha256, spec, now)
    wanted = [m for m in report.months if months is None or m in months]
    if months is not None:
        wanted = sorted(set(wanted) | {m for m in months if period[0] <= m <= period[1]})
    if not wanted:
        return ReportLanded(name, sha256, uri, (), (), tuple(report.skipped_members))
    landed = [_land_tab(lake, report, spec, tab, wanted) for tab in spec.tabs]
    _quarantine(lake, report, spec, wanted, now)
    _register(lake, report, period, wanted, uri, path.stat().st_size, landed, now)
    return ReportLanded(name, sha256, uri, tuple(wanted), tuple(landed), tuple(report.skipped_members))


def _land_tab(lake: Lake, report: ReportRead, spec: CvmSpec, tab: str, months: list[dt.date]) -> TabLanded:
    entity = tab_entity(spec, tab)
    reads = [t for t in report.tab_rows(tab) if t.period in months]
    schema = arrow_schema(entity)
    rows = pa.concat_tables([t.rows.cast(schema) for t in reads]) if reads else schema.empty_table()
    properties = {
        "fidc.cvm.zip": report.name,
        "fidc.cvm.sha256": report.sha256,
        "fidc.cvm.months": ",".join(month_key(m) for m in months),
    }
    lake.replace_slice(entity, rows, months_filter(months), snapshot_properties=properties)
    return TabLanded(
        tab,
        entity.table_name,
        rows.num_rows,
        sum(len(t.rejected) for t in reads),
        sum(t.identical_rows for t in reads),
        sum(t.kind_duplicates for t in reads),
        sum(t.conflicting_rows for t in reads),
    )


def quarantine_rows(report: ReportRead, spec: CvmSpec, months: list[dt.date], now: dt.datetime) -> pa.Table:
    """The rejected rows of the zip's tab files for `months`, as rows of lake.quarantine: `file_name` is
    `<zip>:<member>`, `line_number` the physical line in that member (header = 1), `entity` the tab's table,
    `reference_date` the first day of the month the member reports, `custodian_id` 'cvm'."""
    rows = []
    for t in report.tabs:
        if t.period not in months:
            continue
        for r in t.rejected:
            rows.append(
                {
                    "source_file_sha256": report.sha256,
                    "custodian_id": ARCHIVE_FOLDER,
                    "entity": tab_entity(spec, t.tab).name,
                    "fund_cnpj": t.rejected_cnpj.get(r.line_number),
                    "reference_date": t.period,
                    "file_name": f"{report.name}:{t.member}",
                    "line_number": r.line_number,
                    "field": r.field,
                    "reason_code": r.reason_code,
                    "message": r.message,
                    "raw_text": r.raw_text,
                    "quarantined_at": now,
                }
            )
    return pa.Table.from_pylist(rows, schema=arrow_schema(QUARANTINE))


def _quarantine(lake: Lake, report: ReportRead, spec: CvmSpec, months: list[dt.date], now: dt.datetime) -> None:
    """Replace this zip's quarantine rows for `months` (landing the same bytes again does not add them twice;
    a re-publication's bytes have their own sha256, so the rows rejected from the first publication stay, as
    what those bytes held)."""
    where = And(equal_to("source_file_sha256", report.sha256), is_in("reference_date", months))
    lake.replace_slice(QUARANTINE, quarantine_rows(report, spec, months, now), where)


def _register(
    lake: Lake,
    report: ReportRead,
    period: tuple[dt.date, dt.date],
    months: list[dt.date],
    uri: str,
    size: int,
    landed: list[TabLanded],
    now: dt.datetime,
) -> None:
    row = {
        "sha256": report.sha256,
        "zip_name": report.name,
        "first_month": period[0],
        "last_month": period[1],
        "months_landed": ",".join(month_key(m) for m in months),
        "archive_uri": uri,
        "size_bytes": size,
        "rows_landed": sum(t.rows for t in landed),
        "rows_rejected": sum(t.rejected for t in landed),
        "landed_at": now,
    }
    lake.table(PUBLICATIONS).append(pa.Table.from_pylist([row], schema=arrow_schema(PUBLICATIONS)))
