"""The CVM Informe Mensal assets, partitioned by month. Thin: the work is in `fidc_assets.lib.regulatory`.

* `lake/cvm_inf_mensal`: the month landed from the newest publication in FIDC_CVM_INBOX that covers it
  (one Iceberg commit per tab table, the zip archived by sha256);
* `marts/mart_fund_regulatory`: the month's reconciliation with `marts/mart_fund_monthly`, with the GX
  checkpoint `cvm_recon` as the blocking check `no_unexplained_pl`;
* `cvm_inbox_sensor`: one run per month a new or changed zip covers.
"""

import dagster as dg

from fidc_assets.defs.partitions import months
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.months import parse_month
from fidc_assets.lib.ingest.inbox import Inbox
from fidc_assets.lib.regulatory.inbox import new_publications, newest_for_month
from fidc_assets.lib.regulatory.spec import CvmSpec, load_cvm_spec

CVM_REPORT = dg.AssetKey(["lake", "cvm_inf_mensal"])
REGULATORY_MART = dg.AssetKey(["marts", "mart_fund_regulatory"])
MONTHLY_MART = dg.AssetKey(["marts", "mart_fund_monthly"])
PL_CHECK = "no_unexplained_pl"
JOB = "cvm_monthly"
RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def _spec(lakehouse: LakehouseResource) -> CvmSpec:
    return load_cvm_spec(lakehouse.settings().config.cvm_spec_file)


def _inbox(lakehouse: LakehouseResource) -> Inbox:
    return Inbox.at(lakehouse.settings().cvm_inbox)


def definitions() -> dg.Definitions:
    @dg.asset(
        key=CVM_REPORT,
        description="The month of the CVM Informe Mensal de FIDC, from the newest publication in FIDC_CVM_INBOX "
        "that covers it: every tab of config/cvm/inf_mensal.yaml in lake.cvm_tab_<tab> (partitioned by month of "
        "DT_COMPTC), the month's slice replaced in one commit per table; the zip archived by sha256 and listed "
        "in lake.cvm_publications.",
        group_name="regulatory",
        kinds={"iceberg"},
        owners=["team:data-engineering"],
        partitions_def=months(),
        retry_policy=RETRY,
    )
    def cvm_inf_mensal(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        spec, inbox, lake = _spec(lakehouse), _inbox(lakehouse), lakehouse.lake()
        listings = inbox.list()
        lines = ["| month | zip | sha256 | rows | rejected | duplicates dropped |", "|---|---|---|---|---|---|"]
        rows = rejected = 0
        for key in context.partition_keys:
            month = parse_month(key)
            newest = newest_for_month(listings, spec, month)
            if newest is None:
                context.log.warning(f"{key}: no zip in the CVM inbox covers this month")
                lines.append(f"| {key[:7]} | none | | 0 | 0 | 0 |")
                continue
            with inbox.local_path(newest.path) as path:
                from fidc_assets.lib.regulatory.landing import land_report  # run-time import (pyiceberg, pandas)

                landed = land_report(lake, path, spec, [month], name=newest.name)
            dropped = sum(t.identical_rows + t.kind_duplicates + t.conflicting_rows for t in landed.tabs)
            rows, rejected = rows + landed.rows, rejected + landed.rejected
            lines.append(
                f"| {key[:7]} | {newest.path} | {landed.sha256[:12]} | {landed.rows} | {landed.rejected} | {dropped} |"
            )
        return dg.MaterializeResult(
            metadata={
                "rows_landed": rows,
                "rows_rejected": rejected,
                "per_month": dg.MetadataValue.md("\n".join(lines)),
            }
        )

    @dg.asset(
        key=REGULATORY_MART,
        description="Per fund, month and figure (PL, PDD, direitos creditórios at present value, overdue by bucket, "
        "subordination, acquisitions, X_4's quota count change), marts.mart_fund_monthly beside the fund's CVM "
        "report, with a status (match, explained, published_data_defect, unexplained) and the reason "
        "(fidc_assets/lib/regulatory/compare.py). "
        "Read by BI under the tenants' row security.",
        group_name="regulatory",
        kinds={"python", "postgres"},
        owners=["team:data-engineering"],
        partitions_def=months(),
        deps=[CVM_REPORT, dg.AssetDep(MONTHLY_MART, partition_mapping=dg.TimeWindowPartitionMapping())],
        check_specs=[
            dg.AssetCheckSpec(
                PL_CHECK,
                asset=REGULATORY_MART,
                blocking=True,
                description="GX checkpoint cvm_recon (suite recon_cvm_monthly): no unexplained PL difference, every "
                "status known, every difference with a reason.",
            )
        ],
        retry_policy=RETRY,
    )
    def mart_fund_regulatory(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        month_list = [parse_month(k) for k in context.partition_keys]
        from fidc_assets.lib.regulatory.recon import recon_cvm_monthly  # run-time import (GX, pandas)

        rows, result = recon_cvm_monthly(
            lakehouse.lake(), _spec(lakehouse), lakehouse.dsn(), month_list, lakehouse.settings().gx_root
        )
        flagged = [r for r in rows if r.flagged]
        listing = "\n".join(
            f"- {r.fund_cnpj} {r.reference_month:%Y-%m} {r.figure}: {r.status} ({r.reason})" for r in flagged
        )
        return dg.MaterializeResult(
            metadata={
                "fund_months": result.fund_months,
                "rows": result.rows,
                **{
                    status: result.by_status.get(status, 0)
                    for status in ("match", "explained", "published_data_defect", "unexplained")
                },
                "flagged": dg.MetadataValue.md(listing or "none"),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=PL_CHECK,
                    passed=result.success,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "unexplained_pl": result.unexplained_pl,
                        "failures": dg.MetadataValue.md(
                            "\n".join(f"- {f}" for f in result.failed_expectations) or "none"
                        ),
                        "data_docs": dg.MetadataValue.url(result.data_docs) if result.data_docs else "not built",
                    },
                )
            ],
        )

    job = dg.define_asset_job(JOB, selection=[CVM_REPORT, REGULATORY_MART])

    @dg.sensor(
        name="cvm_inbox_sensor",
        job=job,
        minimum_interval_seconds=300,
        description="A zip of the CVM Informe Mensal new or changed in FIDC_CVM_INBOX: one run per month it "
        "covers (land the month's newest publication, then reconcile it). Cursor: every zip seen (path, size, "
        "modification time).",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def cvm_inbox_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        spec = _spec(lakehouse)
        partitions = months()
        requests, cursor = new_publications(
            _inbox(lakehouse).list(),
            spec,
            context.cursor,
            parse_month(partitions.get_first_partition_key() or "2019-01"),
        )
        last = partitions.get_last_partition_key()
        wanted = [r for r in requests if last is None or r.partition_key <= last]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=r.run_key, partition_key=r.partition_key, tags={"fidc/cvm_zip": r.zip_path})
                for r in wanted
            ],
            cursor=cursor,
        )

    return dg.Definitions(assets=[cvm_inf_mensal, mart_fund_regulatory], jobs=[job], sensors=[cvm_inbox_sensor])
