"""Running the whole asset graph for a range of business days, and summarizing what it did.

Used by `fidc-lake demo` and the end-to-end tests: two Dagster runs over partition ranges (ingestion by
date × fund, then hot load and marts by date), recorded in the instance so the UI shows them afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString

import psycopg

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.funds import FundRegistry, load_fund_registry, write_fund_registry
from fidc_assets.lib.core.partition_math import date_fund_key
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.lake.filters import is_in
from fidc_assets.settings import REPO_DIR, Settings


def ensure_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the settings' Dagster home (FIDC_HOME/dagster unless the user set DAGSTER_HOME)
    and give it the repo's dagster.yaml; Dagster itself reads these variables, so they are exported here.

    With FIDC_DAGSTER_PG_URL set, the PostgreSQL-storage variant is used instead of SQLite.
    """
    home = settings.dagster.home
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    # a backfill of years of business days writes its events in batches, not one by one
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = str(settings.dagster.event_batch_size)
    # read by the code server `dagster dev` starts (its proxy heartbeats the server that loads the definitions)
    os.environ["DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS"] = str(settings.dagster.code_server_heartbeat_ttl_s)
    template = "dagster.postgres.yaml" if settings.dagster.pg_url else "dagster.yaml"
    target = home / "dagster.yaml"
    source = (REPO_DIR / template).read_text()
    if not target.exists() or target.read_text() != source:
        target.write_text(source)
    return home


def deliver(files: list[Path], inbox: Path) -> list[Path]:
    """Copy files into the inbox as a custodian would; a file already there with the same bytes is skipped."""
    inbox.mkdir(parents=True, exist_ok=True)
    delivered = []
    for src in files:
        dst = inbox / src.name
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        tmp = dst.with_name(f".{dst.name}.partial")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        delivered.append(dst)
    return delivered


def adopt_fund_registry(source: Path, target: Path) -> FundRegistry:
    """Merge the registry at `source` (a sample's funds.yaml) into the one at `target` (FIDC_FUNDS): funds
    already there are kept as they are, new ones appended. Returns the merged registry."""
    merged = load_fund_registry(target).merged_with(load_fund_registry(source))
    write_fund_registry(target, merged)
    return merged


def register_funds(instance, registry: FundRegistry) -> list[str]:
    """Add the registry's funds missing from the `funds` dynamic partitions; returns the ones added."""
    from fidc_assets.defs.partitions import FUNDS_PARTITIONS

    have = set(instance.get_dynamic_partitions(FUNDS_PARTITIONS))
    new = [c for c in registry.cnpjs if c not in have]
    if new:
        instance.add_dynamic_partitions(FUNDS_PARTITIONS, new)
    return new


@dataclass
class DaysRun:
    """The two runs of `run_days`: ingestion (date × fund) then hot load, marts and checks (date)."""

    ingest: Any
    marts: Any | None

    @property
    def success(self) -> bool:
        return self.ingest.success and self.marts is not None and self.marts.success

    def get_asset_check_evaluations(self) -> list:
        """The check results of both runs, each from the attempt of its step that counted."""
        runs = [r for r in (self.ingest, self.marts) if r is not None]
        return [e for r in runs for e in counted_check_evaluations(r)]


def counted_check_evaluations(result) -> list:
    """The asset check evaluations of a run's `all_events`, from the last attempt of each step only.

    Dagster keeps the events of every attempt: a dbt step that failed on a PostgreSQL crash and passed on
    retry also holds the dead attempt's failed checks. A step's evaluations seen before its
    STEP_UP_FOR_RETRY event are dropped: the next attempt evaluates them again."""
    from dagster import DagsterEventType

    by_step: dict[str | None, list] = {}  # in the order steps first evaluated a check
    for event in result.all_events:
        if event.is_step_up_for_retry and event.step_key in by_step:
            by_step[event.step_key].clear()
        elif event.event_type_value == DagsterEventType.ASSET_CHECK_EVALUATION.value:
            by_step.setdefault(event.step_key, []).append(event.event_specific_data)
    return [e for evaluations in by_step.values() for e in evaluations]


def run_days(
    days: list[dt.date],
    instance=None,
    raise_on_error: bool = True,
    log_level: str = "INFO",
    on_run: Callable[[str, Any], None] | None = None,
) -> DaysRun:
    """Materialize every asset (and run every check) for `days` and every registered fund, in two runs.

    Run 1 is the `ingest_files` job over the date × fund range (all days, all funds: Dagster reads a
    multi-partition range as the product of the dimensions' ranges); run 2 is `hot_and_marts` over the date
    range. The funds of the registry (FIDC_FUNDS) are added to the `funds` partitions first. `on_run(name,
    result)` is called as each run ends ("ingest", then "marts"), for a console that shows progress."""
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from fidc_assets.definitions import defs
    from fidc_assets.defs.partitions import FUNDS_PARTITIONS

    definitions = defs()
    instance = instance or dg.DagsterInstance.get()
    settings = Settings.from_env()
    register_funds(instance, load_fund_registry(settings.funds_file))
    funds = instance.get_dynamic_partitions(FUNDS_PARTITIONS)
    if not funds:
        raise RuntimeError(
            f"no funds are registered: the fund registry {settings.funds_file} is missing or empty "
            "(set FIDC_FUNDS; `fidc-lake sample` writes one for its sample)"
        )
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    first, last = min(days), max(days)
    ingest = definitions.resolve_job_def("ingest_files").execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: date_fund_key(first, funds[0]),
            ASSET_PARTITION_RANGE_END_TAG: date_fund_key(last, funds[-1]),
        },
        raise_on_error=raise_on_error,
        run_config=run_config,
    )
    if on_run is not None:
        on_run("ingest", ingest)
    if not ingest.success:
        return DaysRun(ingest, None)
    marts = definitions.resolve_job_def("hot_and_marts").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        raise_on_error=raise_on_error,
        run_config=run_config,
    )
    if on_run is not None:
        on_run("marts", marts)
    return DaysRun(ingest, marts)


@dataclass
class Summary:
    files_received: int
    files_accepted: int
    files_superseded: int
    files_quarantined: int
    rows_landed: int
    rows_quarantined: int
    landing_rows: int
    mart_rows: int
    checks_passed: int
    checks_failed: int  # failed with severity ERROR
    other_rows: dict[str, int]
    checks_warned: int = 0  # failed with severity WARN (e.g. the shadow comparison's differences): not a failure


def _count(conn: psycopg.Connection, query: LiteralString, days: list[dt.date]) -> int:
    row = conn.execute(query, [days]).fetchone()
    return int(row[0]) if row is not None else 0


def counted_check_evaluations_of(result) -> list:
    """`counted_check_evaluations` of a `DaysRun` or a single run's result (None: none)."""
    if result is None:
        return []
    if isinstance(result, DaysRun):
        return result.get_asset_check_evaluations()
    return counted_check_evaluations(result)


def summarize(settings: Settings, dsn: str, days: list[dt.date], result) -> Summary:
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    registry = lake.read(canonical.FILE_REGISTRY, is_in("reference_date", days)).to_pylist()
    status = [r["status"] for r in registry]
    current = [r["sha256"] for r in registry if r["status"] == "accepted"]
    quarantined_rows = lake.read(canonical.QUARANTINE, is_in("source_file_sha256", current or [""]), ("line_number",))
    landed = lake.read(canonical.RECEIVABLE_POSITIONS, is_in("reference_date", days), ("reference_date",)).num_rows
    other_rows = {
        e.name: lake.read(e, is_in("file_date", days), ("file_date",)).num_rows
        for e in (canonical.ACQUISITIONS, canonical.SETTLEMENTS, canonical.FUND_QUOTAS)
    }
    with psycopg.connect(dsn) as conn:
        landing = _count(conn, "select count(*) from landing.receivable_positions where reference_date = any(%s)", days)
        mart = _count(conn, "select count(*) from marts.mart_fund_daily where reference_date = any(%s)", days)
    evaluations = counted_check_evaluations_of(result)
    return Summary(
        files_received=len(registry),
        files_accepted=status.count("accepted"),
        files_superseded=status.count("superseded"),
        files_quarantined=status.count("quarantined"),
        rows_landed=landed,
        rows_quarantined=sum(1 for v in quarantined_rows["line_number"].to_pylist() if v is not None),
        landing_rows=landing,
        mart_rows=mart,
        checks_passed=sum(1 for e in evaluations if e.passed),
        checks_failed=sum(1 for e in evaluations if not e.passed and not _is_warning(e)),
        other_rows=other_rows,
        checks_warned=sum(1 for e in evaluations if not e.passed and _is_warning(e)),
    )


def _is_warning(evaluation) -> bool:
    from dagster import AssetCheckSeverity

    return evaluation.severity == AssetCheckSeverity.WARN


def mart_totals(dsn: str, days: list[dt.date]) -> dict[tuple[str, dt.date], tuple[int, Decimal, Decimal]]:
    """(fund, day) → (receivable_count, nominal_value, present_value) as the mart holds them."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select fund_cnpj, reference_date, receivable_count, nominal_value, present_value "
            "from marts.mart_fund_daily where reference_date = any(%s)",
            [days],
        ).fetchall()
    return {(f, d): (int(n), nom, pv) for f, d, n, nom, pv in rows}
