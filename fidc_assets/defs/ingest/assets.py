"""Ingestion assets. Thin: the work is in `fidc_assets.lib.ingest.landing`."""

import dagster as dg

from fidc_assets.defs.ingest.sensors import CUSTODIAN_FILES_KEY, inbox_sensor
from fidc_assets.defs.partitions import date_by_fund
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.partition_math import date_fund_pairs

CUSTODIAN_FILES = CUSTODIAN_FILES_KEY
RECEIVABLE_POSITIONS = dg.AssetKey(["lake", "receivable_positions"])
LAKE_ENTITIES = {
    "receivable_positions": "Daily stock of every fund as typed canonical rows (Iceberg lake.receivable_positions, "
    "partitioned by month).",
    "acquisitions": "Cessões: receivables bought, from remittance files (Iceberg lake.acquisitions).",
    "settlements": "Liquidações, pagamentos parciais, recompras e baixas (Iceberg lake.settlements).",
    "fund_quotas": "Quotas and net assets (PL) per fund, day and class (Iceberg lake.fund_quotas).",
}
RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def _markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _lake_entity_asset(entity: str, doc: str, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["lake", entity]),
        deps=[CUSTODIAN_FILES],
        description=doc + " A corrected file replaces its delivery's rows atomically; bad rows go to lake.quarantine.",
        group_name="ingest",
        kinds={"iceberg"},
        owners=["team:data-engineering"],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
    )
    def lake_entity(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        from fidc_assets.lib.ingest.landing import land_slices  # run-time import: pandas is not load-time work

        pairs = date_fund_pairs(context.partition_keys)
        days = sorted({d for d, _ in pairs})
        report = land_slices(lakehouse.lake(), lakehouse.specs(), days, entities=[entity], day_funds=pairs)
        per_fund: dict[str, list[int]] = {}
        for s in report.slices:
            acc = per_fund.setdefault(s.fund_cnpj, [0, 0, 0])
            acc[0] += 1
            acc[1] += s.rows_accepted
            acc[2] += s.rows_rejected
        return dg.MaterializeResult(
            metadata={
                "rows_landed": report.rows_accepted,
                "rows_quarantined": report.rows_rejected,
                "files_quarantined": report.files_quarantined,
                "deliveries": len(report.slices),
                "iceberg_commits": report.commits,
                "per_fund": dg.MetadataValue.md(
                    _markdown_table(
                        ["fund", "deliveries", "rows landed", "rows quarantined"],
                        [[f, *v] for f, v in sorted(per_fund.items())],
                    )
                ),
            }
        )

    return lake_entity


def definitions() -> dg.Definitions:
    # date × fund: one partition per fund-day; a backfill over a date range and all funds runs as one run per
    # fund (Dagster groups a multi-partition range by its smaller dimension), each landing its whole range
    # in a few Iceberg commits
    partitions = date_by_fund()

    @dg.asset(
        key=CUSTODIAN_FILES,
        description="Every custodian file of the day, archived byte for byte (by sha256) and registered "
        "in lake.file_registry before anything parses it.",
        group_name="ingest",
        kinds={"iceberg", "file"},
        owners=["team:data-engineering"],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=RETRY,
    )
    def custodian_files(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        from fidc_assets.lib.ingest.landing import receive_files, scan_inbox  # run-time import (pandas)

        pairs = set(date_fund_pairs(context.partition_keys))
        matched, unmatched = scan_inbox(lakehouse.inbox_fs(), lakehouse.specs())
        todays = [(f, m) for f, m in matched if (m.reference_date, m.fund_cnpj) in pairs]
        report = receive_files(lakehouse.lake(), todays)
        if unmatched:
            context.log.warning(
                f"{len(unmatched)} inbox file(s) match no custodian spec: {', '.join(f.name for f in unmatched[:20])}"
            )
        return dg.MaterializeResult(
            metadata={
                "files_in_window": len(todays),
                "files_new": len(report.received),
                "files_already_received": len(report.already_known),
                "unmatched_files": len(unmatched),
                "new_files": dg.MetadataValue.md(
                    _markdown_table(
                        ["file", "custodian", "fund", "day", "bytes"],
                        [
                            [r.original_name, r.custodian_id, r.fund_cnpj, r.reference_date, r.size_bytes]
                            for r in report.received[:200]
                        ],
                    )
                ),
            }
        )

    lake_assets = [_lake_entity_asset(name, doc, partitions) for name, doc in LAKE_ENTITIES.items()]

    ingest_job = dg.define_asset_job(
        "ingest_files",
        selection=dg.AssetSelection.assets(CUSTODIAN_FILES, *(dg.AssetKey(["lake", e]) for e in LAKE_ENTITIES)),
        description="Archive, register and land the custodian files of a fund's business day (the inbox sensor's job).",
    )
    return dg.Definitions(assets=[custodian_files, *lake_assets], jobs=[ingest_job], sensors=[inbox_sensor(ingest_job)])
