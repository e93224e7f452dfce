"""Freshness by declaration: a landed fund-day makes its date's hot load and marts requested, once per date."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from fidc_assets.defs.bi.assets import DELIVERY_STATUS, REFERENCE_KEYS
from fidc_assets.defs.hot.assets import LANDING_ASSETS

DAY = "2024-07-31"
FUNDS = ["11111111000111", "22222222000122", "33333333000133", "44444444000144"]
MART = dg.AssetKey(["marts", "mart_fund_daily"])


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
        for key in [*LANDING_ASSETS.values(), *REFERENCE_KEYS.values(), DELIVERY_STATUS, MART]:
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


def test_every_asset_the_marts_automation_targets_has_a_condition(defs):
    """The daemon's marts automation materializes only assets with an automation condition: one without is
    never built on a deployment run by the daemon alone (the reference registries were not, so every dbt build
    failed on a missing `reference.fx_rates` until the cutoff schedule ran the whole job)."""
    sensor = defs.get_sensor_def("marts_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    graph = defs.resolve_asset_graph()
    targeted = sensor.asset_selection.resolve(graph)
    assert MART in targeted and REFERENCE_KEYS["fx_rates"] in targeted
    assert [k.to_user_string() for k in sorted(targeted) if graph.get(k).automation_condition is None] == []


# --- one run per date: the daemon's grouping of what one tick requests (build_run_requests, as the
# AutomationConditionSensor calls it), with ingestion and marts runs really queued/running in the instance


def _daemon_run_requests(defs: dg.Definitions, result) -> list[dg.RunRequest]:
    from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

    sensor = defs.get_sensor_def("marts_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    subsets = [r.true_subset for r in result.results if not r.true_subset.is_empty]
    return list(build_run_requests(subsets, defs.resolve_asset_graph(), {}, emit_backfills=sensor.emit_backfills))


def _partition_tags(keys: list[str]) -> dict[str, str]:
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    if len(keys) == 1:
        return {"dagster/partition": keys[0]}
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def _start(instance, defs, job: str, keys: list[str], assets: list[dg.AssetKey]) -> dg.DagsterRun:
    """A run as the sensors create it: its materializations planned (so its assets are in progress), started."""
    return instance.create_run_for_job(
        job_def=defs.get_job_def(job),
        asset_selection=frozenset(assets),
        tags=_partition_tags(keys),
        status=dg.DagsterRunStatus.STARTED,
    )


def _step(instance, key: dg.AssetKey, keys: list[str]) -> None:
    for k in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=k))


def _end(instance, run: dg.DagsterRun) -> None:
    from dagster._core.events import DagsterEvent, DagsterEventType

    event = DagsterEvent(DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name)
    instance.report_dagster_event(event, run_id=run.run_id)


def _ingest(instance, defs, keys: list[str]) -> tuple[dg.DagsterRun, list[dg.AssetKey]]:
    from fidc_assets.defs.automation import INGESTION_KEYS

    return _start(instance, defs, "ingest_files", keys, list(INGESTION_KEYS)), list(INGESTION_KEYS)


def _ingested(instance, defs, keys: list[str]) -> None:
    """An ingestion run of these fund-days started, every step materialized, ended."""
    run, steps = _ingest(instance, defs, keys)
    for step in steps:
        _step(instance, step, keys)
    _end(instance, run)


def _evaluate(defs, instance, cursor):
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    return result, _daemon_run_requests(defs, result)


def _assert_one_full_run(requests: list[dg.RunRequest], day: str = DAY) -> None:
    assert len(requests) == 1, [(r.partition_key, r.asset_selection) for r in requests]
    run = requests[0]
    assert run.partition_key == day
    selected = set(run.asset_selection or [])
    wanted = {*LANDING_ASSETS.values(), *REFERENCE_KEYS.values(), DELIVERY_STATUS, MART}
    assert wanted <= selected, sorted(k.to_user_string() for k in wanted - selected)


def test_a_landed_fund_day_starts_one_run_once_its_ingestion_run_ends(defs):
    """The ingestion run registers the files and lands each entity in its own step, ticks apart: nothing of the
    date starts while any step is to come (a step is in progress from the run's creation to its
    materialization) (before, the registry step started the delivery status's run and the
    stock step the stock's hot load and marts), then one run holds the whole downstream of the date."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", FUNDS)
        result, _ = _evaluate(defs, instance, None)
        keys = [f"{DAY}|{FUNDS[0]}"]
        run, steps = _ingest(instance, defs, keys)
        for step in steps[:-1]:  # custodian_files, then each lake/<entity>, one tick after another
            _step(instance, step, keys)
            result, requests = _evaluate(defs, instance, result.cursor)
            assert requests == [], step
        _step(instance, steps[-1], keys)  # its last step: nothing of the run is still to land
        result, requests = _evaluate(defs, instance, result.cursor)
        _assert_one_full_run(requests)
        _end(instance, run)
        result, requests = _evaluate(defs, instance, result.cursor)
        assert requests == []  # requested once


def test_a_burst_of_fund_days_in_two_ingestion_runs_is_one_run_for_the_date(defs):
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", FUNDS)
        result, _ = _evaluate(defs, instance, None)
        first, second = [f"{DAY}|{f}" for f in FUNDS[:2]], [f"{DAY}|{f}" for f in FUNDS[2:]]
        run_a, steps = _ingest(instance, defs, first)
        run_b, _ = _ingest(instance, defs, second)  # queued: its materializations are planned
        for step in steps:
            _step(instance, step, first)
        _end(instance, run_a)
        result, requests = _evaluate(defs, instance, result.cursor)
        assert requests == []  # the date's other run is still to land
        for step in steps:
            _step(instance, step, second)
        _end(instance, run_b)
        result, requests = _evaluate(defs, instance, result.cursor)
        _assert_one_full_run(requests)
        result, requests = _evaluate(defs, instance, result.cursor)
        assert requests == []


def test_a_fund_day_landing_while_its_dates_marts_run_waits_for_it_then_one_run(defs):
    """A file of the date lands while the date's marts run is past its hot load and still in dbt: the next run
    waits for that one to end (else the hot load and the dbt models it could not yet take went apart)."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", FUNDS)
        result, _ = _evaluate(defs, instance, None)
        _ingested(instance, defs, [f"{DAY}|{FUNDS[0]}"])
        result, requests = _evaluate(defs, instance, result.cursor)
        _assert_one_full_run(requests)
        marts = _start(instance, defs, "hot_and_marts", [DAY], list(requests[0].asset_selection or []))
        for key in LANDING_ASSETS.values():
            _step(instance, key, [DAY])
        result, requests = _evaluate(defs, instance, result.cursor)
        assert requests == []  # its hot loads are done, its dbt build is not
        _ingested(instance, defs, [f"{DAY}|{FUNDS[1]}"])
        result, requests = _evaluate(defs, instance, result.cursor)
        assert requests == []  # the date's dbt build is still running
        _end(instance, marts)
        result, requests = _evaluate(defs, instance, result.cursor)
        _assert_one_full_run(requests)


def test_every_dbt_model_the_automation_targets_is_upstream_of_a_last_mart(defs):
    """The roots wait while one of LAST_MARTS is in progress: a model outside their upstream could still be
    building when a new run of its date starts."""
    from fidc_assets.defs.automation import LAST_MARTS

    graph = defs.resolve_asset_graph()
    sensor = defs.get_sensor_def("marts_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    targeted = sensor.asset_selection.resolve(graph)
    dbt_models = {k for k in targeted if (graph.get(k).group_name or "").startswith("dbt")}
    covered = dg.AssetSelection.assets(*LAST_MARTS).upstream().resolve(graph)
    assert dbt_models and set(LAST_MARTS) <= dbt_models
    assert sorted(k.to_user_string() for k in dbt_models - covered) == []


def test_dates_ready_on_one_tick_are_one_run_each_not_a_backfill(defs):
    """Two dates whose ingestion ended between two ticks (a Thursday and a Friday): one full run per date. With
    Dagster's default (emit_backfills) the tick was one backfill of both dates, and the backfill daemon failed it
    ("Unable to determine root partitions for backfill"): the month soak's backfill of 2024-07-02..07-05 held
    the delivery status's dates as one window to Monday 00:00 and what it derived from them as one to Saturday
    00:00, the same dates, compared unequal; the dates counted as handled and their marts were never built."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", FUNDS)
        result, _ = _evaluate(defs, instance, None)
        thursday, friday = "2024-07-04", "2024-07-05"
        _ingested(instance, defs, [f"{thursday}|{FUNDS[0]}"])
        _ingested(instance, defs, [f"{friday}|{FUNDS[0]}"])
        result, requests = _evaluate(defs, instance, result.cursor)
        assert [r.asset_graph_subset for r in requests] == [None, None]  # runs, no backfill
        by_day = {r.partition_key: r for r in requests}
        assert sorted(by_day, key=str) == [thursday, friday]
        for day, request in by_day.items():
            assert day is not None
            _assert_one_full_run([request], day)


def test_business_day_partitions_exclude_holidays_up_to_the_horizon_only():
    """Every partitions subset the automation evaluates, keeps in its cursor and compares carries the whole
    definition: holidays to 2099 (837 exclusions) made a tick several times slower than to the horizon."""
    import datetime as dt

    from fidc_assets.defs.partitions import CALENDAR_YEARS_AHEAD, business_days, calendar_horizon
    from fidc_assets.lib.core.calendar import TIMEZONE

    partitions = business_days()
    years = {
        dt.datetime.fromtimestamp(e.timestamp, ZoneInfo(TIMEZONE)).year
        for e in partitions.exclusions or []
        if not isinstance(e, str)  # the weekend crons
    }
    this_year = dt.datetime.now(ZoneInfo(TIMEZONE)).year
    assert max(years) == calendar_horizon(dt.date(this_year, 6, 1)) == this_year + CALENDAR_YEARS_AHEAD
    assert min(years) == 2019
    # holidays up to the horizon are still no partitions; the day after is one
    keys = partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2024-11-14", "2024-11-21"))
    assert keys == ["2024-11-14", "2024-11-18", "2024-11-19", "2024-11-21"]
