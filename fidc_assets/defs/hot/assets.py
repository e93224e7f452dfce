"""Hot-load assets. Thin: the work is in `fidc_assets.lib.hot`."""

import dagster as dg
from pyiceberg.expressions import In

from fidc_assets.defs.ingest.assets import RECEIVABLE_POSITIONS, RETRY
from fidc_assets.defs.partitions import business_days
from fidc_assets.lib import canonical
from fidc_assets.lib.hot import replace_days
from fidc_assets.lib.partition_math import days_from_keys

LANDING_RECEIVABLE_POSITIONS = dg.AssetKey(["hot", "landing_receivable_positions"])


def definitions() -> dg.Definitions:
    from fidc_assets.defs.resources import LakehouseResource

    @dg.asset(
        key=LANDING_RECEIVABLE_POSITIONS,
        deps=[RECEIVABLE_POSITIONS],
        description="The window's receivable positions copied from Iceberg into PostgreSQL "
        "landing.receivable_positions with COPY; a day is replaced in one transaction.",
        group_name="hot",
        kinds={"postgres"},
        owners=["team:data-engineering"],
        partitions_def=business_days(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
    )
    def landing_receivable_positions(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource
    ) -> dg.MaterializeResult:
        days = days_from_keys(context.partition_keys)
        entity = canonical.RECEIVABLE_POSITIONS
        rows = lakehouse.lake().read(entity, In("reference_date", days))
        copied = replace_days(lakehouse.dsn(), entity, rows, days)
        return dg.MaterializeResult(metadata={"rows_copied": copied, "days": len(days)})

    return dg.Definitions(assets=[landing_receivable_positions])
