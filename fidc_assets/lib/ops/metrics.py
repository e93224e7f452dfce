"""Prometheus metrics of the lakehouse, computed from what the lake and PostgreSQL hold (read-only).

A `Snapshot` is computed by `measure` (the file registry, each table's current snapshot, an orphan listing,
the hot window, the marts' newest day) and exposed by `LakehouseCollector` in Prometheus' text format through
prometheus-client. The `fidc-lake metrics serve` process refreshes the snapshot in the background every
`refresh` seconds, so a scrape never waits on S3 or PostgreSQL: it reads the latest snapshot, and
`fidc_metrics_last_refresh_timestamp_seconds` says how old that is. A source that cannot be read (PostgreSQL
down) leaves its series out and sets `fidc_metrics_source_up{source}` to 0.

Series (labels in braces):
- fidc_files_received_total / _landed_total / _quarantined_total {custodian}: file registry rows by status
  (received counts every version delivered; landed = accepted);
- fidc_rows_landed {table}: rows in each lake table's current snapshot (its summary's total-records);
- fidc_seconds_since_last_delivery {custodian, fund}: now - the newest received_at;
- fidc_lag_file_to_lake_seconds {custodian}: processed_at - received_at of the custodian's newest processed file;
- fidc_lag_lake_to_marts_days {fund}: newest reference_date accepted in the lake - newest day in
  marts.mart_fund_daily (0 = the marts are caught up);
- fidc_dagster_runs_failed: failed runs in the Dagster instance (only when the caller can reach it);
- fidc_hot_window_months, fidc_hot_days {entity}: the configured window and the days PostgreSQL holds;
- fidc_iceberg_snapshots {table}, fidc_iceberg_data_files {table}, fidc_iceberg_orphan_files {table}
  (unreferenced files whatever their age: what `fidc-lake lake orphans` would remove past the margin).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fidc_assets.lib.core.canonical import ENTITIES, FILE_REGISTRY
from fidc_assets.lib.hot.dsn import connect
from fidc_assets.lib.hot.window import landing_held
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.orphans import remove_orphans


@dataclass(frozen=True)
class Snapshot:
    """One measurement of the lakehouse (every mapping keyed by its series' label values)."""

    at: dt.datetime
    files: dict[tuple[str, str], int] = field(default_factory=dict)  # (custodian, received|landed|quarantined)
    rows: dict[str, int] = field(default_factory=dict)  # table → rows
    since_delivery: dict[tuple[str, str], float] = field(default_factory=dict)  # (custodian, fund) → seconds
    file_to_lake: dict[str, float] = field(default_factory=dict)  # custodian → seconds
    lake_to_marts: dict[str, int] = field(default_factory=dict)  # fund → days
    snapshots: dict[str, int] = field(default_factory=dict)
    data_files: dict[str, int] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)
    hot_window_months: int | None = None
    hot_days: dict[str, int] = field(default_factory=dict)
    runs_failed: int | None = None
    sources_up: dict[str, bool] = field(default_factory=dict)  # lake | postgresql | dagster → readable


def _registry_metrics(lake: Lake, now: dt.datetime, out: dict) -> list[tuple[str, dt.date]]:
    rows = lake.read(
        FILE_REGISTRY, columns=("custodian_id", "fund_cnpj", "status", "received_at", "processed_at", "reference_date")
    ).to_pylist()
    files: dict[tuple[str, str], int] = {}
    newest: dict[tuple[str, str], dt.datetime] = {}
    processed: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    accepted_days: list[tuple[str, dt.date]] = []
    for r in rows:
        custodian = r["custodian_id"] or "_unmatched"
        kind = {"accepted": "landed", "quarantined": "quarantined"}.get(r["status"])
        files[(custodian, "received")] = files.get((custodian, "received"), 0) + 1
        if kind:
            files[(custodian, kind)] = files.get((custodian, kind), 0) + 1
        received = r["received_at"]
        if received is not None and r["fund_cnpj"]:
            key = (custodian, r["fund_cnpj"])
            newest[key] = max(newest.get(key, received), received)
        if received is not None and r["processed_at"] is not None:
            if custodian not in processed or r["processed_at"] > processed[custodian][1]:
                processed[custodian] = (received, r["processed_at"])
        if r["status"] == "accepted" and r["fund_cnpj"] and r["reference_date"]:
            accepted_days.append((r["fund_cnpj"], r["reference_date"]))
    for custodian in {c for c, _ in files}:
        for kind in ("received", "landed", "quarantined"):
            files.setdefault((custodian, kind), 0)
    out["files"] = files
    out["since_delivery"] = {k: max(0.0, (now - v).total_seconds()) for k, v in newest.items()}
    out["file_to_lake"] = {c: max(0.0, (p - r).total_seconds()) for c, (r, p) in processed.items()}
    return accepted_days


def _table_metrics(lake: Lake, out: dict, with_orphans: bool) -> None:
    tables = {e.table_name: lake.table(e) for e in ENTITIES.values()}
    locations = [t.location() for t in tables.values()]
    for name, table in tables.items():
        snapshot = table.current_snapshot()
        summary = snapshot.summary if snapshot else None
        out["rows"][name] = int(summary.get("total-records") or 0) if summary else 0
        out["data_files"][name] = int(summary.get("total-data-files") or 0) if summary else 0
        out["snapshots"][name] = len(table.snapshots())
        if with_orphans:
            others = [x for x in locations if x != table.location()]
            report = remove_orphans(table, dt.timedelta(0), dry_run=True, other_locations=others)
            out["orphans"][name] = len(report.orphans) + report.too_young


def _postgres_metrics(dsn: str, accepted_days: list[tuple[str, dt.date]], out: dict) -> None:
    newest_lake: dict[str, dt.date] = {}
    for fund, day in accepted_days:
        newest_lake[fund] = max(newest_lake.get(fund, day), day)
    with connect(dsn, connect_timeout=5) as conn:
        out["hot_days"] = {e.name: len(days) for e, days in landing_held(conn).items()}
        exists = conn.execute("select to_regclass('marts.mart_fund_daily') is not null").fetchone()
        if exists and exists[0]:
            marts = dict(
                conn.execute("select fund_cnpj, max(reference_date) from marts.mart_fund_daily group by 1").fetchall()
            )
            out["lake_to_marts"] = {f: (d - marts[f]).days if f in marts else -1 for f, d in newest_lake.items()}


def measure(
    lake: Lake,
    dsn: str | None,
    hot_window_months: int,
    runs_failed: Callable[[], int | None] | None = None,
    with_orphans: bool = True,
    now: dt.datetime | None = None,
) -> Snapshot:
    """Everything the endpoint exports, read once. A source that fails is marked down and its series omitted."""
    now = now or dt.datetime.now(dt.UTC)
    out: dict = {"rows": {}, "data_files": {}, "snapshots": {}, "orphans": {}}
    up: dict[str, bool] = {}
    accepted_days: list[tuple[str, dt.date]] = []
    try:
        accepted_days = _registry_metrics(lake, now, out)
        _table_metrics(lake, out, with_orphans)
        up["lake"] = True
    except Exception:  # noqa: BLE001 - a source that cannot be read is reported as down, not raised
        up["lake"] = False
    if dsn is not None:
        try:
            _postgres_metrics(dsn, accepted_days, out)
            up["postgresql"] = True
        except Exception:  # noqa: BLE001
            up["postgresql"] = False
    else:
        up["postgresql"] = False
    failed = None
    if runs_failed is not None:
        try:
            failed = runs_failed()
            up["dagster"] = failed is not None
        except Exception:  # noqa: BLE001
            up["dagster"] = False
    return Snapshot(at=now, hot_window_months=hot_window_months, runs_failed=failed, sources_up=up, **out)


def _gauge(name: str, doc: str, labels: list[str], values: dict) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        g.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return g


def metric_families(s: Snapshot) -> Iterator[Metric]:
    for kind in ("received", "landed", "quarantined"):
        c = CounterMetricFamily(f"fidc_files_{kind}", f"Files {kind} per custodian (lake.file_registry)",
                                labels=["custodian"])  # fmt: skip
        for (custodian, k), n in sorted(s.files.items()):
            if k == kind:
                c.add_metric([custodian], n)
        yield c
    yield _gauge("fidc_rows_landed", "Rows in the lake table's current snapshot", ["table"], s.rows)
    yield _gauge("fidc_seconds_since_last_delivery", "Seconds since the newest file received",
                 ["custodian", "fund"], s.since_delivery)  # fmt: skip
    yield _gauge("fidc_lag_file_to_lake_seconds", "Received → processed, the custodian's newest processed file",
                 ["custodian"], s.file_to_lake)  # fmt: skip
    yield _gauge("fidc_lag_lake_to_marts_days", "Newest day accepted in the lake minus newest day in the marts",
                 ["fund"], s.lake_to_marts)  # fmt: skip
    yield _gauge("fidc_iceberg_snapshots", "Snapshots in the table's metadata", ["table"], s.snapshots)
    yield _gauge("fidc_iceberg_data_files", "Data files in the table's current snapshot", ["table"], s.data_files)
    yield _gauge("fidc_iceberg_orphan_files", "Files under the table's location nothing references", ["table"],
                 s.orphans)  # fmt: skip
    yield _gauge("fidc_hot_days", "Business days PostgreSQL landing holds", ["entity"], s.hot_days)
    if s.hot_window_months is not None:
        yield _gauge("fidc_hot_window_months", "FIDC_HOT_WINDOW_MONTHS", [], {(): s.hot_window_months})
    if s.runs_failed is not None:
        yield _gauge("fidc_dagster_runs_failed", "Failed runs in the Dagster instance", [], {(): s.runs_failed})
    yield _gauge("fidc_metrics_source_up", "1 if the source was readable at the last refresh", ["source"],
                 {k: int(v) for k, v in s.sources_up.items()})  # fmt: skip
    yield _gauge("fidc_metrics_last_refresh_timestamp_seconds", "When the exported values were measured", [],
                 {(): s.at.timestamp()})  # fmt: skip


class LakehouseCollector(Collector):
    """The latest `Snapshot`, refreshed by `refresh_forever` on a thread of its own."""

    def __init__(self, measure_once: Callable[[], Snapshot]) -> None:
        self._measure = measure_once
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None

    def refresh(self) -> Snapshot:
        snapshot = self._measure()
        with self._lock:
            self._latest = snapshot
        return snapshot

    def refresh_forever(self, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            self.refresh()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            latest = self._latest
        if latest is not None:
            yield from metric_families(latest)
