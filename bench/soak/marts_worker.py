"""A soak subprocess: the `hot_and_marts` job (the day's hot load, then one `dbt build` of the marts with the
window as --vars, then the BI assets and checks) for the given days, as `pipeline.run_days`' second run and
the daily schedule run it; the environment (FIDC_HOME, FIDC_ICEBERG_CATALOG_URI, FIDC_WAREHOUSE, FIDC_PG_DSN,
FIDC_FUNDS) comes from the parent.

    python -m bench.soak.marts_worker LOG_FILE DAY [DAY ...]

Prints "ready" once the definitions are loaded, then sends its own output and dbt's to LOG_FILE; exit 0 when
the run succeeded."""

from __future__ import annotations

import datetime as dt
import os
import sys


def main() -> int:
    log, days = sys.argv[1], [dt.date.fromisoformat(d) for d in sys.argv[2:]]
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from fidc_assets.definitions import defs

    job = defs().resolve_job_def("hot_and_marts")
    print("ready", flush=True)
    out = os.dup(1)  # the result line goes to the parent; everything else (dbt's output too) to LOG_FILE
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: min(days).isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: max(days).isoformat(),
            },
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        retried = sum(1 for e in result.all_events if e.is_step_up_for_retry)
    os.write(out, f"soak-marts-result success={result.success} step_retries={retried}\n".encode())
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
