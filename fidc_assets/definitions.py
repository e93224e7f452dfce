"""The Dagster code location: merges each area's definitions and nothing else.

Lazy (`@dg.definitions`): importing this module reads no environment, parses no dbt project and touches
no database; Dagster calls `defs()` when it loads the code location.
"""

import dagster as dg

from fidc_assets.defs import bi, dbt, hot, ingest, legacy, ops, quality, regulatory
from fidc_assets.defs.resources import LakehouseResource


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
        # one process per run: a step subprocess would load the definitions again (~7 s each); the heavy work
        # (parsing, COPY, dbt) runs its own threads or processes anyway
        dg.Definitions(resources={"lakehouse": LakehouseResource()}, executor=dg.in_process_executor),
    )
