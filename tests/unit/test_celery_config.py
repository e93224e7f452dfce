"""The Celery configuration the runs submit with and the workers start with (lib/ops/celery.py), and the
executor the code location picks from the settings (defs/executor.py)."""

from __future__ import annotations

import pytest

from fidc_assets.lib.ops.celery import celery_executor_config
from fidc_assets.settings import Settings


def test_a_dead_workers_step_is_redelivered_after_the_visibility_timeout():
    config = celery_executor_config("redis://r:6379/1", "redis://r:6379/2", 600)
    assert (config["broker"], config["backend"]) == ("redis://r:6379/1", "redis://r:6379/2")
    source = config["config_source"]
    # acknowledged when the step ends, so a worker killed mid-step leaves it to another
    assert source["task_acks_late"] is True and source["task_reject_on_worker_lost"] is True
    assert source["worker_prefetch_multiplier"] == 1
    transport = source["broker_transport_options"]
    assert transport["visibility_timeout"] == 600
    # the sweep that gives it to another worker runs every 10 s, not kombu's 100 s (10 s x throttle 10)
    assert (transport["unacked_restore_interval"], transport["unacked_restore_throttle"]) == (10, 1)


def test_a_short_visibility_timeout_is_swept_more_often():
    transport = celery_executor_config("redis://r/0", "redis://r/0", 20)["config_source"]["broker_transport_options"]
    assert transport["unacked_restore_interval"] == 5
    assert (
        celery_executor_config("redis://r/0", "redis://r/0", 2)["config_source"]["broker_transport_options"][
            "unacked_restore_interval"
        ]
        == 1
    )
    with pytest.raises(ValueError, match="visibility_timeout_s must be at least 1"):
        celery_executor_config("redis://r/0", "redis://r/0", 0)


def test_the_executor_follows_fidc_executor(tmp_path):
    import dagster as dg

    from fidc_assets.defs.executor import executor_from_settings

    home = str(tmp_path / "home")
    assert executor_from_settings(Settings.from_env({"FIDC_HOME": home})) is dg.in_process_executor
    env = {"FIDC_HOME": home, "FIDC_EXECUTOR": "celery", "FIDC_CELERY_BROKER": "redis://127.0.0.1:1/0"}
    celery = executor_from_settings(Settings.from_env(env))
    assert celery.name == "celery"
    resolved = celery.config_schema.resolve_config({})  # pyright: ignore[reportAttributeAccessIssue]
    assert resolved.success, resolved.errors
    config = resolved.value["config"]
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:1/0"
    assert config["config_source"] == celery_executor_config(config["broker"], config["backend"], 3600)["config_source"]


def test_a_ping_addresses_the_node_name_the_worker_started_with():
    from fidc_assets.lib.ops.celery import answered, worker_node_name

    node = worker_node_name("fidc-worker", "fidc-worker-7c9d-abcde")
    assert node == "fidc-worker@fidc-worker-7c9d-abcde"
    assert answered([{"other@h": {"ok": "pong"}}, {node: {"ok": "pong"}}], node)
    assert not answered([{"other@h": {"ok": "pong"}}], node)
    assert not answered([], node)
    assert not answered([{node: {"error": "x"}}], node)
    for bad in ("", "a@b"):
        with pytest.raises(ValueError, match="no '@'"):
            worker_node_name(bad, "h")
