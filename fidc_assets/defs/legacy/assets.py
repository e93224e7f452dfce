"""Legacy migration assets. Thin: the work is in `fidc_assets.lib.legacy` (migration, recon)."""

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from fidc_assets.defs.partitions import months
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.months import parse_month
from fidc_assets.lib.legacy.ledger import RECON_TABLE
from fidc_assets.settings import Settings

if TYPE_CHECKING:  # the migration and the reconciliation (pandas, pyarrow) are imported by the asset bodies
    from fidc_assets.lib.legacy.mapping import LegacySpec

MIGRATION = dg.AssetKey(["legacy", "migration"])
RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
#: A backfill of the 84 months runs as 7 runs of 12 months: a failure costs at most a year's rerun, and a
#: resumed backfill (re-execute the failed runs) rewrites only what did not finish.
MONTHS_PER_RUN = 12


class LegacyResource(dg.ConfigurableResource):
    """The legacy database and its mapping. Unset: FIDC_LEGACY_DSN, else the lakehouse's PostgreSQL server
    with the mapping's database (`legacy`); the configuration's mapping (FIDC_CONFIG_DIR/legacy/sifidc.yaml)."""

    dsn: str | None = None
    mapping: str | None = None
    tolerance: str = "0.01"

    def spec(self) -> "LegacySpec":
        from fidc_assets.lib.legacy.mapping import load_legacy_spec

        return load_legacy_spec(Path(self.mapping) if self.mapping else Settings.from_env().config.legacy_mapping_file)

    def legacy_dsn(self, lakehouse_dsn: str) -> str:
        from fidc_assets.lib.hot.dsn import with_database

        return self.dsn or Settings.from_env().legacy.dsn or with_database(lakehouse_dsn, self.spec().database)


def definitions() -> dg.Definitions:
    @dg.asset(
        key=MIGRATION,
        description="One month of the legacy database landed in the canonical Iceberg tables with source = "
        "'legacy' (one commit per table replacing exactly that month's legacy rows; snapshots tagged with the "
        "run). Rows the model cannot take are quarantined with a reason.",
        group_name="legacy",
        kinds={"iceberg", "postgres"},
        owners=["team:data-engineering"],
        partitions_def=months(),
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MONTHS_PER_RUN),
        retry_policy=RETRY,
    )
    def legacy_migration(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource, legacy: LegacyResource
    ) -> dg.MaterializeResult:
        from fidc_assets.lib.legacy.migration import migrate_month

        lake, dsn, spec = lakehouse.lake(), lakehouse.dsn(), legacy.spec()
        source = legacy.legacy_dsn(dsn)
        per_month = []
        for key in context.partition_keys:
            outcome = migrate_month(lake, source, parse_month(key), context.run_id, spec, log_dsn=dsn)
            per_month.append(outcome)
            context.log.info(
                f"{key}: {outcome.legacy_rows} legacy rows, {outcome.rows} landed, {outcome.rejected} quarantined"
            )
        lines = ["| month | legacy rows | landed | quarantined |", "|---|---|---|---|"]
        lines += [f"| {o.month:%Y-%m} | {o.legacy_rows} | {o.rows} | {o.rejected} |" for o in per_month]
        return dg.MaterializeResult(
            metadata={
                "legacy_rows": sum(o.legacy_rows for o in per_month),
                "rows_landed": sum(o.rows for o in per_month),
                "rows_quarantined": sum(o.rejected for o in per_month),
                "per_month": dg.MetadataValue.md("\n".join(lines)),
                "snapshot_tags": dg.MetadataValue.md("\n".join(f"- {e.tag}" for o in per_month for e in o.entities)),
            }
        )

    @dg.asset_check(
        asset=MIGRATION,
        name=RECON_TABLE,
        description="Great Expectations checkpoint `legacy_recon`: per fund and date, row count and sums of "
        "nominal, present value and PDD, and PL, in the lake (and the marts in the hot window) equal to the "
        "legacy's within the tolerance, or different exactly by a known defect. Rows in recon.recon_legacy_vs_lake.",
        blocking=True,
        partitions_def=months(),
    )
    def recon_legacy_vs_lake(
        context: dg.AssetCheckExecutionContext, lakehouse: LakehouseResource, legacy: LegacyResource
    ) -> dg.AssetCheckResult:
        from fidc_assets.lib.legacy.cutover import rule_from
        from fidc_assets.lib.legacy.recon import recon_months

        dsn, spec = lakehouse.dsn(), legacy.spec()
        month_list = [parse_month(k) for k in context.partition_keys]
        rows, result = recon_months(
            lakehouse.lake(),
            legacy.legacy_dsn(dsn),
            dsn,
            month_list,
            spec,
            Decimal(legacy.tolerance),
            run_id=context.run.run_id,
            gx_root=lakehouse.settings().gx_root,
            rule=rule_from(spec.cutover_date, lakehouse.settings().legacy.cutover),
        )
        return dg.AssetCheckResult(
            passed=result.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "fund_days": result.fund_days,
                "match": result.by_status.get("match", 0),
                "explained": result.by_status.get("explained", 0),
                "unexplained": result.by_status.get("unexplained", 0),
                "tolerance_brl": legacy.tolerance,
                "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in result.failed_expectations) or "none"),
                "data_docs": dg.MetadataValue.url(result.data_docs) if result.data_docs else "not built",
            },
        )

    return dg.Definitions(
        assets=[legacy_migration],
        asset_checks=[recon_legacy_vs_lake],
        resources={"legacy": LegacyResource()},
    )
