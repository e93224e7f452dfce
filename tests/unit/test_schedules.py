"""Schedules: the day's marts after the cutoff on business days only; maintenance nightly."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from fidc_assets.defs.ops.schedules import _cutoff, definitions

SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture(scope="module")
def schedules() -> dict[str, dg.ScheduleDefinition]:
    schedules = list(definitions().schedules or [])
    resolved = {s.name: s for s in schedules if isinstance(s, dg.ScheduleDefinition)}
    assert len(resolved) == len(schedules), "every schedule is a ScheduleDefinition"
    return resolved


def _tick(schedule, when: dt.datetime):
    with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
        return schedule(ctx)


def test_daily_marts_build_that_business_day(schedules):
    request = _tick(schedules["daily_marts"], dt.datetime(2024, 7, 5, 20, 0, tzinfo=SP))
    assert (request.partition_key, request.run_key) == ("2024-07-05", "2024-07-05")
    assert schedules["daily_marts"].cron_schedule == "0 20 * * 1-5"


def test_daily_marts_skip_a_holiday(schedules):
    skip = _tick(schedules["daily_marts"], dt.datetime(2024, 11, 20, 20, 0, tzinfo=SP))  # Consciência Negra
    assert isinstance(skip, dg.SkipReason)
    assert skip.skip_message is not None and "not an ANBIMA business day" in skip.skip_message


def test_cutoff_is_configurable_and_checked(monkeypatch):
    monkeypatch.setenv("FIDC_MARTS_CUTOFF", "21:30")
    assert _cutoff() == (21, 30)
    monkeypatch.setenv("FIDC_MARTS_CUTOFF", "25:00")
    with pytest.raises(ValueError, match="FIDC_MARTS_CUTOFF must be HH:MM"):
        _cutoff()


def test_maintenance_runs_nightly(schedules):
    nightly = schedules["nightly_maintenance"]
    assert nightly.cron_schedule == "0 2 * * *" and nightly.execution_timezone == "America/Sao_Paulo"
    assert nightly.default_status == dg.DefaultScheduleStatus.RUNNING
