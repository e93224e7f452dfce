"""The Dagster code location: merges each area's definitions and nothing else.

Lazy (`@dg.definitions`): importing this module reads no environment, parses no dbt project and touches
no database; Dagster calls `defs()` when it loads the code location (which reads the settings that choose
the executor, FIDC_EXECUTOR).
"""

import dagster as dg

from fidc_assets.defs import bi, dbt, hot, ingest, legacy, ops, quality, regulatory
from fidc_assets.defs.executor import executor_from_settings
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        ingest.definitions(),
        hot.definitions(),
        bi.definitions(),
        dbt.definitions(),
        quality.definitions(),
        ops.definitions(),
        legacy.definitions(),
        regulatory.definitions(),
        # FIDC_EXECUTOR: one process per run (default), or each step on a Celery worker (defs/executor.py)
        dg.Definitions(
            resources={"lakehouse": LakehouseResource()}, executor=executor_from_settings(Settings.from_env())
        ),
    )
