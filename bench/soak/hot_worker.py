"""A soak subprocess: the hot load of every day of a lake into PostgreSQL's landing, as the hot assets do.

    python -m bench.soak.hot_worker LAKE_DIR DSN

Prints "ready" once imported (so a kill lands while it works), then loads each entity's days from cold
(`load_days_from_cold`) and prints the rows per entity."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    lake_dir, dsn = Path(sys.argv[1]), sys.argv[2]
    from bench.soak.hot import DATA_ENTITIES, cold_days
    from fidc_assets.lib.core.canonical import ENTITIES
    from fidc_assets.lib.hot.loader import load_days_from_cold
    from fidc_assets.lib.lake.catalog import Lake

    lake = Lake.local(lake_dir)
    print("ready", flush=True)
    loaded = {}
    for name in DATA_ENTITIES:
        report = load_days_from_cold(lake, dsn, ENTITIES[name], cold_days(lake, name))
        loaded[name] = sum(report.rows_per_day.values())
    print(json.dumps(loaded), flush=True)


if __name__ == "__main__":
    main()
