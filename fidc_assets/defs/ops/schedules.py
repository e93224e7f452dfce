"""Schedules: the day's hot load and marts after the cutoff; Iceberg maintenance and hot retention every night."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from fidc_assets.defs.hot.assets import LANDING_ASSETS
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import TIMEZONE, is_business_day
from fidc_assets.lib.lake.maintenance_defaults import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_FILES,
    DEFAULT_QUIET_FOR,
    DEFAULT_SMALL_FILE_BYTES,
)
from fidc_assets.settings import Settings


def _cutoff() -> tuple[int, int]:
    """FIDC_MARTS_CUTOFF (HH:MM, São Paulo time), read when the definitions load (a cron schedule is fixed)."""
    cutoff = Settings.from_env().schedules.marts_cutoff
    return cutoff.hour, cutoff.minute


@dg.op(description="Expire Iceberg snapshots older than the retention (FIDC_SNAPSHOT_RETENTION_DAYS, default 30).")
def expire_iceberg_snapshots(context: dg.OpExecutionContext, lakehouse: LakehouseResource) -> None:
    from fidc_assets.lib.lake.maintenance import expire_snapshots

    days = lakehouse.settings().schedules.snapshot_retention_days
    for e in expire_snapshots(lakehouse.lake(), dt.timedelta(days=days)):
        context.log.info(f"{e.table}: {e.before} → {e.after} snapshots")


class CompactionConfig(dg.Config):
    small_file_mib: int = DEFAULT_SMALL_FILE_BYTES // (1024 * 1024)
    min_files: int = DEFAULT_MIN_FILES
    #: only partitions none of whose files was added in the last N days (not the month still receiving files)
    quiet_days: int = DEFAULT_QUIET_FOR.days


@dg.op(
    ins={"after": dg.In(dg.Nothing)},
    description="Rewrite each quiet partition's small Iceberg data files as one (no file added in quiet_days, "
    "default 7), in one commit per table (same rows).",
)
def compact_iceberg_files(
    context: dg.OpExecutionContext, lakehouse: LakehouseResource, config: CompactionConfig
) -> None:
    from fidc_assets.lib.lake.maintenance import compact

    quiet = dt.timedelta(days=config.quiet_days)
    for c in compact(lakehouse.lake(), config.small_file_mib * 1024 * 1024, config.min_files, quiet):
        if c.skipped:
            context.log.warning(f"{c.table}: not compacted, a concurrent commit won ({c.skipped})")
        elif c.snapshot_id is not None:
            context.log.info(f"{c.table}: {c.files_before} → {c.files_after} files ({c.rows} rows rewritten)")


class OrphanConfig(dg.Config):
    #: safety margin: longer than any landing or compaction runs (a younger file may belong to one in progress)
    older_than_hours: int = int(DEFAULT_MARGIN.total_seconds() // 3600)


@dg.op(
    ins={"after": dg.In(dg.Nothing)},
    description="Delete the files under the Iceberg tables' locations that no snapshot or metadata references "
    "and that are older than the safety margin (default 72 h): what killed landings, lost commit conflicts, "
    "expiry and compaction leave behind.",
)
def remove_iceberg_orphans(context: dg.OpExecutionContext, lakehouse: LakehouseResource, config: OrphanConfig) -> None:
    from fidc_assets.lib.lake.maintenance import remove_orphan_files

    for r in remove_orphan_files(lakehouse.lake(), dt.timedelta(hours=config.older_than_hours)):
        context.log.info(
            f"{r.table}: {r.listed} files, deleted {r.deleted} orphans ({r.orphan_bytes} bytes), "
            f"kept {r.too_young} unreferenced younger than {config.older_than_hours} h"
        )


@dg.op(
    description="Drop the PostgreSQL partitions (landing days, mart months) outside FIDC_HOT_WINDOW_MONTHS, each "
    "only after checking that Iceberg holds the same rows and money per fund and day; a mismatch keeps the "
    "partition and fails the run with the difference.",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def drop_outside_hot_window(context: dg.OpExecutionContext, lakehouse: LakehouseResource) -> None:
    from fidc_assets.lib.hot.window import HotColdMismatch, apply_retention

    settings = lakehouse.settings()
    try:
        report = apply_retention(
            lakehouse.dsn(), lakehouse.lake(), settings.hot_window_months, rule=lakehouse.cutover_rule()
        )
    except HotColdMismatch as e:
        raise dg.Failure(description=str(e), allow_retries=False) from e
    context.log.info(
        f"hot window {settings.hot_window_months} months from {report.window_start} (newest day {report.anchor}): "
        f"dropped landing {dict((k, len(v)) for k, v in report.dropped_landing.items())}, "
        f"marts {report.dropped_marts}"
    )


@dg.job(
    description="Nightly maintenance: expire old Iceberg snapshots, compact small files, remove orphan files; "
    "drop hot partitions outside the window.",
    tags={"fidc/maintenance": "iceberg"},
)
def iceberg_maintenance():
    # expiry and compaction unreference files; orphan removal (after both) deletes those past the margin
    remove_iceberg_orphans(after=compact_iceberg_files(after=expire_iceberg_snapshots()))
    drop_outside_hot_window()


def definitions() -> dg.Definitions:
    hour, minute = _cutoff()
    # the business days' hot load and marts; the monthly regulatory assets (defs/regulatory) have their own job
    daily_marts = dg.AssetSelection.assets(*LANDING_ASSETS.values()).downstream() - dg.AssetSelection.groups(
        "regulatory"
    )
    marts_job = dg.define_asset_job(
        "hot_and_marts",
        selection=daily_marts,
        tags={"fidc/dbt_window": "daily"},
        description="Copy the day's rows to PostgreSQL and rebuild its marts (dbt build for the day).",
    )

    @dg.schedule(
        name="daily_marts",
        job=marts_job,
        cron_schedule=f"{minute} {hour} * * 1-5",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Every business day at {hour:02d}:{minute:02d} ({TIMEZONE}, FIDC_MARTS_CUTOFF): "
        "that day's hot load and marts.",
    )
    def daily(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date()
        if not is_business_day(day):
            return dg.SkipReason(f"{day} is not an ANBIMA business day")
        return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())

    # declarative automation for the hot load and the marts (FOLLOWS_UPSTREAM on each asset); the 20:00 schedule
    # above stays as the safety net. Tagged like the schedule's runs, so the dbt window limit (1) serializes them.
    # emit_backfills=False: a tick that requests several dates is one run per date. With Dagster's default a
    # tick requesting two or more dates of an asset became one backfill, and the backfill daemon failed such
    # backfills ("Unable to determine root partitions for backfill", DagsterInvariantViolationError): a subset
    # of dates ending before a weekend can be held as windows ending on Saturday or on Monday, which compare
    # unequal, so those dates' marts were never built (they counted as handled) until the cutoff schedule.
    automation = dg.AutomationConditionSensorDefinition(
        "marts_automation",
        target=daily_marts,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        run_tags={"fidc/dbt_window": "auto"},
        emit_backfills=False,
        description="Rebuilds a date's hot load and marts once its ingestion changed and is idle.",
    )

    nightly = dg.ScheduleDefinition(
        name="nightly_maintenance",
        job=iceberg_maintenance,
        cron_schedule="0 2 * * *",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every night at 02:00: expire old Iceberg snapshots, compact small files, remove orphan "
        "files, drop hot partitions outside the window.",
    )
    return dg.Definitions(jobs=[marts_job, iceberg_maintenance], schedules=[daily, nightly], sensors=[automation])
