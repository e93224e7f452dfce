"""Hot-load assets, one per canonical entity. Thin: the work is in `fidc_assets.lib.hot.loader`."""

import dagster as dg

from fidc_assets.defs.automation import STARTS_DATE_BUILD
from fidc_assets.defs.ingest.assets import RETRY
from fidc_assets.defs.legacy.assets import MIGRATION
from fidc_assets.defs.partitions import business_days
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.partition_math import days_from_keys
from fidc_assets.lib.hot.partitions import HOT_ENTITIES

LANDING_ASSETS = {e.name: dg.AssetKey(["hot", f"landing_{e.name}"]) for e in HOT_ENTITIES}
LANDING_RECEIVABLE_POSITIONS = LANDING_ASSETS["receivable_positions"]


def _landing_asset(entity) -> dg.AssetsDefinition:
    @dg.asset(
        key=LANDING_ASSETS[entity.name],
        # cold holds custodian files (lake/*) and the migrated history (legacy/migration, whose blocking recon
        # check stops a run or backfill of history before bad rows reach PostgreSQL)
        deps=[dg.AssetKey(["lake", entity.name]), MIGRATION],
        description=f"lake.{entity.name} copied from Iceberg into PostgreSQL landing.{entity.name} (one partition "
        f"per {entity.partition_date}) with binary COPY; each day is swapped in atomically. Materializing old "
        "dates rehydrates them from cold; the nightly retention drops them again outside FIDC_HOT_WINDOW_MONTHS.",
        group_name="hot",
        kinds={"postgres"},
        owners=["team:data-engineering"],
        partitions_def=business_days(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
        # the date's downstream starts on one tick, once its ingestion is idle: one run (defs/automation.py)
        automation_condition=STARTS_DATE_BUILD,
    )
    def landing(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        from fidc_assets.lib.hot.loader import load_days_from_cold  # run-time import: not load-time work

        days = days_from_keys(context.partition_keys)
        report = load_days_from_cold(lakehouse.lake(), lakehouse.dsn(), entity, days, lakehouse.cutover_rule())
        per_day = "\n".join(
            ["| day | rows |", "|---|---|"] + [f"| {d} | {n} |" for d, n in report.rows_per_day.items()]
        )
        return dg.MaterializeResult(
            metadata={
                "rows_copied": report.rows,
                "days": len(report.rows_per_day),
                "seconds": round(report.seconds, 3),
                "rows_per_day": dg.MetadataValue.md(per_day),
            }
        )

    return landing


SHADOW_CHECK = "shadow_legacy_vs_custodian"


def _shadow_check() -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=LANDING_RECEIVABLE_POSITIONS,
        name=SHADOW_CHECK,
        description="The shadow period: per fund-day of the loaded dates that cold holds from both the legacy "
        "and the custodian files, their stock rows, nominal, present value, PDD and PL side by side (legacy − "
        "custodian files). Only the source the cutover rule names reached PostgreSQL; a difference is a warning "
        "for whoever signs the cutover off, listed per fund-day in the metadata, and never blocks the marts.",
        blocking=False,
        partitions_def=business_days(),
    )
    def shadow_legacy_vs_custodian(
        context: dg.AssetCheckExecutionContext, lakehouse: LakehouseResource
    ) -> dg.AssetCheckResult:
        from fidc_assets.lib.legacy.shadow import shadow_report  # run-time import: not load-time work

        days = days_from_keys(context.partition_keys)
        report = shadow_report(lakehouse.lake(), lakehouse.cutover_rule(), min(days), max(days))
        return dg.AssetCheckResult(
            passed=not report.differing,
            severity=dg.AssetCheckSeverity.WARN,
            description=report.summary(),
            metadata={
                "fund_days_in_both": len(report.fund_days),
                "fund_days_differing": len(report.differing),
                "differences": dg.MetadataValue.md(report.markdown()),
                "per_fund_day": dg.MetadataValue.json(
                    [
                        {
                            "fund_cnpj": d.fund_cnpj,
                            "reference_date": d.reference_date.isoformat(),
                            "counted": d.counted,
                            **{m: str(v) for m, v in d.differences.items()},
                        }
                        for d in report.differing
                    ]
                ),  # fmt: skip
            },
        )

    return shadow_legacy_vs_custodian


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[_landing_asset(e) for e in HOT_ENTITIES], asset_checks=[_shadow_check()])
