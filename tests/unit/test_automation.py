"""Freshness by declaration: a landed fund-day makes its date's hot load and marts requested, once per date."""

from __future__ import annotations

import dagster as dg
import pytest

from fidc_assets.defs.hot.assets import LANDING_ASSETS

DAY = "2024-07-31"
FUNDS = ["11111111000111", "22222222000122", "33333333000133", "44444444000144"]
MART = dg.AssetKey(["marts", "mart_fund_daily"])
#: the reference tables the dbt models read (a missing one failed the first automated marts run on the daemon)
FX_RATES = dg.AssetKey(["reference", "fx_rates"])


@pytest.fixture(scope="module")
def defs(dbt_manifest) -> dg.Definitions:
    from fidc_assets.definitions import defs as load

    return load()


def _land(instance: dg.DagsterInstance, fund: str, day: str = DAY) -> None:
    for entity in ("receivable_positions", "acquisitions", "settlements", "fund_quotas"):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=dg.AssetKey(["lake", entity]), partition=f"{day}|{fund}")
        )


def test_a_landed_fund_day_requests_its_dates_hot_load_and_marts(defs):
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", FUNDS)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0  # nothing landed: nothing to do (no back-filling of old dates)
        _land(instance, FUNDS[0])
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        for key in [*LANDING_ASSETS.values(), FX_RATES, MART]:
            assert second.get_requested_partitions(key) == {DAY}, key
        # handled: the next evaluation with nothing new requests nothing again
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
        assert third.total_requested == 0


def test_a_burst_of_four_fund_days_coalesces_into_one_request_per_date(defs):
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", FUNDS)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        for fund in FUNDS:
            _land(instance, fund)
        _land(instance, FUNDS[0], "2024-07-30")
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert second.get_requested_partitions(MART) == {DAY, "2024-07-30"}
        assert second.get_requested_partitions(LANDING_ASSETS["receivable_positions"]) == {DAY, "2024-07-30"}
