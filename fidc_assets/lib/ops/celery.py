"""The Celery configuration of distributed runs: one function, so that the run submitting the steps and the
workers executing them agree (dagster-celery builds its Celery app from the same executor config on both
sides; a worker started with other settings would never see the run's tasks).

What it chooses, and why:
- `task_acks_late` + `task_reject_on_worker_lost`: a step's message is acknowledged when the step ends, not
  when a worker takes it. A worker killed mid-step (OOM, node lost, kill -9) leaves the message unacknowledged
  and Redis gives it to another worker; with Celery's default (ack on receipt) the step is lost and its run
  waits for it forever, since Dagster's run monitoring watches the run worker, not the Celery workers.
- `visibility_timeout`: how long Redis waits for that acknowledgement before redelivering. It must exceed the
  longest step, or a step still running is given to a second worker too. The sweep that restores expired
  messages runs every `restore_interval_s` on every worker (kombu's default is 100 s: 10 s × throttle 10).
- `worker_prefetch_multiplier` 1: a worker holds one step at a time, so a long dbt step never keeps a second
  step waiting behind it while the other worker is idle.
"""

from __future__ import annotations

from typing import Any

#: The Celery app the workers start (`dagster-celery worker start -A dagster_celery.app`).
CELERY_APP = "dagster_celery.app"


def celery_executor_config(
    broker: str, backend: str, visibility_timeout_s: int, restore_interval_s: int | None = None
) -> dict[str, Any]:
    """The `celery_executor`'s config (broker, backend, config_source), also the worker's `-y` YAML body."""
    if visibility_timeout_s < 1:
        raise ValueError(f"visibility_timeout_s must be at least 1, got {visibility_timeout_s}")
    # sweep often enough that a dead worker's step waits about visibility_timeout, not twice it
    interval = restore_interval_s or max(1, min(10, visibility_timeout_s // 4))
    transport = {
        "visibility_timeout": visibility_timeout_s,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": 1,
        # dagster-celery's defaults (connection retries), kept
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }
    return {
        "broker": broker,
        "backend": backend,
        "config_source": {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": transport,
            "result_backend_transport_options": {"visibility_timeout": visibility_timeout_s},
            # a lost connection to the broker (Redis restarted) is retried, not fatal to the worker
            "broker_connection_retry_on_startup": True,
        },
    }


def worker_node_name(name: str, host: str) -> str:
    """The Celery node name of `fidc-lake worker --name NAME` on `host` (dagster-celery starts it as
    `NAME@%h`, and Celery expands `%h` to the host name): what a ping addresses."""
    if not name or "@" in name:
        raise ValueError(f"a worker name is non-empty and has no '@', got {name!r}")
    return f"{name}@{host}"


def answered(replies: list[dict[str, Any]], node: str) -> bool:
    """Whether `node` is among the replies of a Celery ping (`[{node: {"ok": "pong"}}, …]`)."""
    return any(isinstance(r, dict) and r.get(node, {}).get("ok") == "pong" for r in replies)
