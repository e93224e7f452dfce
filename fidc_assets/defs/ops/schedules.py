"""Schedules: the day's hot load and marts after the cutoff; Iceberg maintenance and hot retention every night."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from fidc_assets.defs.hot.assets import LANDING_ASSETS
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.calendar import TIMEZONE, is_business_day
from fidc_assets.lib.hot.window import HotColdMismatch, apply_retention
from fidc_assets.lib.lake.maintenance import expire_snapshots
from fidc_assets.settings import Settings


def _cutoff() -> tuple[int, int]:
    """FIDC_MARTS_CUTOFF (HH:MM, São Paulo time), read when the definitions load (a cron schedule is fixed)."""
    cutoff = Settings.from_env().schedules.marts_cutoff
    return cutoff.hour, cutoff.minute


@dg.op(description="Expire Iceberg snapshots older than the retention (FIDC_SNAPSHOT_RETENTION_DAYS, default 30).")
def expire_iceberg_snapshots(context: dg.OpExecutionContext, lakehouse: LakehouseResource) -> None:
    days = lakehouse.settings().schedules.snapshot_retention_days
    for e in expire_snapshots(lakehouse.lake(), dt.timedelta(days=days)):
        context.log.info(f"{e.table}: {e.before} → {e.after} snapshots")


@dg.op(
    description="Drop the PostgreSQL partitions (landing days, mart months) outside FIDC_HOT_WINDOW_MONTHS, each "
    "only after checking that Iceberg holds the same rows and money per fund and day; a mismatch keeps the "
    "partition and fails the run with the difference.",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def drop_outside_hot_window(context: dg.OpExecutionContext, lakehouse: LakehouseResource) -> None:
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
    description="Nightly maintenance: expire old Iceberg snapshots; drop hot partitions outside the window.",
    tags={"fidc/maintenance": "iceberg"},
)
def iceberg_maintenance():
    expire_iceberg_snapshots()
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
    automation = dg.AutomationConditionSensorDefinition(
        "marts_automation",
        target=daily_marts,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        run_tags={"fidc/dbt_window": "auto"},
        description="Rebuilds a date's hot load and marts once its ingestion changed and is idle.",
    )

    nightly = dg.ScheduleDefinition(
        name="nightly_maintenance",
        job=iceberg_maintenance,
        cron_schedule="0 2 * * *",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every night at 02:00: expire old Iceberg snapshots, drop hot partitions outside the window.",
    )
    return dg.Definitions(jobs=[marts_job, iceberg_maintenance], schedules=[daily, nightly], sensors=[automation])
