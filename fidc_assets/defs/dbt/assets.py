"""dbt assets: one `dbt build` per partition window, with the window passed as --vars."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from fidc_assets.defs.automation import FOLLOWS_UPSTREAM
from fidc_assets.defs.dbt.project import dbt_connection_env, dbt_executable, dbt_project
from fidc_assets.defs.partitions import business_days
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.partition_math import days_from_keys, dbt_vars


class FidcDbtTranslator(DagsterDbtTranslator):
    """Keys dbt models by schema/name (`marts/mart_fund_daily`), groups them by folder."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        """Models (and the tests dbt builds with them) follow their day's hot load by themselves, on the tick the
        hot load is requested (will_be_requested): in the same run (defs/automation.py)."""
        return FOLLOWS_UPSTREAM


def definitions() -> dg.Definitions:
    project = dbt_project()
    translator = FidcDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        partitions_def=business_days(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
    )
    def fidc_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lakehouse: LakehouseResource):
        window = dbt_vars(days_from_keys(context.partition_keys))
        with dbt_connection_env(lakehouse.dsn()):
            yield from dbt.cli(["build", "--vars", json.dumps(window)], context=context).stream()

    return dg.Definitions(
        assets=[fidc_dbt_models],
        resources={"dbt": DbtCliResource(project_dir=project, dbt_executable=dbt_executable())},
    )
