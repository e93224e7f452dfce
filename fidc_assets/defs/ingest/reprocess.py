"""`reprocess_quarantine`: the UI's way to land quarantined files again after a spec or registry fix.

Launchpad run config (exactly one selection):
    ops: {reprocess_files: {config: {reason: unknown_code}}}
    ops: {reprocess_files: {config: {file_sha256: "<64 hex>"}}}
    ops: {reprocess_files: {config: {fund_cnpj: "12345678000190", date: "2024-07-01"}}}
(The op is `reprocess_files`: an op may not share its job's name in a repository.) Thin: the work is
`fidc_assets.lib.ingest.reprocess.reprocess` (the same as `fidc-lake quarantine reprocess`).
"""

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg

from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.partition_math import date_fund_key

if TYPE_CHECKING:
    from fidc_assets.lib.ingest.reprocess import Selection


class ReprocessConfig(dg.Config):
    file_sha256: str | None = None
    fund_cnpj: str | None = None
    date: str | None = None  # YYYY-MM-DD, with fund_cnpj
    reason: str | None = None

    def selection(self) -> "Selection":
        from fidc_assets.lib.ingest.reprocess import Selection  # run-time import: the landing engine (pandas)

        chosen = [
            self.file_sha256 is not None,
            self.fund_cnpj is not None or self.date is not None,
            self.reason is not None,
        ]
        if sum(chosen) != 1 or (self.fund_cnpj is None) != (self.date is None):
            raise dg.Failure("give exactly one of: file_sha256; fund_cnpj with date; reason")
        day = dt.date.fromisoformat(self.date) if self.date else None
        return Selection(sha256=self.file_sha256, fund_cnpj=self.fund_cnpj, day=day, reason=self.reason)


@dg.op(name="reprocess_files", description="Re-parse archived files with the current specs and replace their slices.")
def reprocess_op(context: dg.OpExecutionContext, config: ReprocessConfig, lakehouse: LakehouseResource) -> None:
    from fidc_assets.lib.ingest.reprocess import reprocess

    deliveries, report = reprocess(lakehouse.lake(), lakehouse.specs(), config.selection())
    if not deliveries:
        raise dg.Failure("nothing in the registry matches that selection")
    for s in report.slices:
        # the landed partitions show the new version in the asset's history
        context.log_event(
            dg.AssetMaterialization(
                asset_key=dg.AssetKey(["lake", s.entity]),
                partition=date_fund_key(s.reference_date, s.fund_cnpj),
                metadata={
                    "file": s.file_name or "",
                    "rows_landed": s.rows_accepted,
                    "rows_quarantined": s.rows_rejected,
                    "reprocessed": True,
                },
            )
        )
    context.log.info(
        f"{len(deliveries)} file(s) selected; {report.rows_accepted} rows landed, {report.rows_rejected} quarantined, "
        f"{len(report.rejected_files)} file(s) still rejected"
    )


@dg.job(name="reprocess_quarantine", description="Land quarantined files again after a spec or registry fix.")
def reprocess_job() -> None:
    reprocess_op()


def definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[reprocess_job])
