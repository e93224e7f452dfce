"""The jobs' executor, chosen by the deployment's settings when the code location loads (FIDC_EXECUTOR):

- `in_process` (default): one process per run. A step subprocess would load the definitions again (~7 s
  each); the heavy work (parsing, COPY, dbt) runs its own threads or processes anyway.
- `celery`: the run submits each step to Celery (FIDC_CELERY_BROKER) and `fidc-lake worker` processes execute
  them, on this machine or others; with `task_acks_late` a step whose worker dies goes to another
  (lib/ops/celery.py).

`execute_in_process` (the demo, `pipeline.run_days`) ignores the executor: the embedded profile is unchanged.
"""

import dagster as dg

from fidc_assets.lib.ops.celery import celery_executor_config
from fidc_assets.settings import Settings


def executor_from_settings(settings: Settings) -> dg.ExecutorDefinition:
    celery = settings.dagster.celery
    if settings.dagster.executor != "celery" or celery is None:
        return dg.in_process_executor
    from dagster_celery import celery_executor  # the deploy extra; only a celery deployment needs it

    config = celery_executor_config(celery.broker, celery.backend, celery.visibility_timeout_s)
    return celery_executor.configured(config, name="celery")
