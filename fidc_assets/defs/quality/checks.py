"""GX suites as asset checks: blocking, so bad canonical rows never reach the hot marts."""

import dagster as dg

from fidc_assets.defs.ingest.assets import RECEIVABLE_POSITIONS
from fidc_assets.defs.partitions import date_by_fund
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.partition_math import date_fund_pairs


def definitions() -> dg.Definitions:
    @dg.asset_check(
        asset=RECEIVABLE_POSITIONS,
        name="gx_receivable_positions_canonical",
        description="Great Expectations suite `receivable_positions_canonical` on the window's canonical rows: "
        "required fields present, documents well formed, values non-negative, PDD <= present value, key unique "
        "per source.",
        blocking=True,
        partitions_def=date_by_fund(),
    )
    def gx_receivable_positions(
        context: dg.AssetCheckExecutionContext, lakehouse: LakehouseResource
    ) -> dg.AssetCheckResult:
        import pyarrow as pa
        from pyiceberg.expressions import And

        from fidc_assets.lib.core import canonical
        from fidc_assets.lib.lake.filters import is_in
        from fidc_assets.lib.lake.quality import validate_receivable_positions  # run-time import (GX)

        pairs = date_fund_pairs(context.partition_keys)
        days = sorted({d for d, _ in pairs})
        rows = lakehouse.lake().read(
            canonical.RECEIVABLE_POSITIONS,
            And(is_in("reference_date", days), is_in("fund_cnpj", sorted({f for _, f in pairs}))),
        )
        # the scan covers days × funds; the partitions may be fewer (not a full rectangle): keep exactly those
        wanted = pa.table(
            {
                "reference_date": pa.array([d for d, _ in pairs], rows.schema.field("reference_date").type),
                "fund_cnpj": pa.array([f for _, f in pairs], rows.schema.field("fund_cnpj").type),
            }
        )
        rows = rows.join(wanted, ["reference_date", "fund_cnpj"], join_type="left semi").cast(rows.schema)
        summary = validate_receivable_positions(rows, lakehouse.settings().gx_root)
        failed = [f"{o.expectation}({o.column or ''}): {o.unexpected_count} unexpected" for o in summary.failed]
        return dg.AssetCheckResult(
            passed=summary.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_validated": summary.rows,
                "expectations": len(summary.outcomes),
                "expectations_failed": len(summary.failed),
                "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failed) or "none"),
            },
        )

    return dg.Definitions(asset_checks=[gx_receivable_positions])
