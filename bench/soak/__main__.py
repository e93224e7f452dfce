"""`make soak`: faults and abuse against the project's own entry points for a bounded time, then a table.

    SOAK_S=1200 .venv/bin/python -m bench.soak [--only NAME,...] [--seed N] [--keep]

Scenarios: kill, concurrent, redelivery, hostile, hot, dbt, sensor, month.

SOAK_S (seconds, default 1200) is spread over the scenarios by weight; each repeats iterations until its
share is used (at least one). Every iteration ends checked against the truth (bench.soak.common.check).
Exit status 1 when any scenario lost or doubled a row, left a registry inconsistency or was not recovered.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.soak.common import Sample, ScenarioResult, build_sample
from bench.soak.hostile import hostile_corpus
from bench.soak.hot import hot_load_faults
from bench.soak.landing import concurrent_landings, kill_during_landing, redeliveries
from bench.soak.marts import dbt_build_kills
from bench.soak.month import simulated_month
from bench.soak.sensor import sensor_tick_kills

Scenario = Callable[[Sample, float, random.Random], ScenarioResult]
#: name → (function, share of SOAK_S)
SCENARIOS: dict[str, tuple[Scenario, float]] = {
    "kill": (kill_during_landing, 0.08),
    "concurrent": (concurrent_landings, 0.06),
    "redelivery": (redeliveries, 0.02),
    "hostile": (hostile_corpus, 0.04),
    "hot": (hot_load_faults, 0.07),
    "dbt": (dbt_build_kills, 0.10),
    "sensor": (sensor_tick_kills, 0.08),
    "month": (simulated_month, 0.55),
}
COLUMNS = (
    "scenario", "iterations", "faults injected", "runs retried", "rows lost", "rows doubled",
    "registry inconsistencies", "orphans left", "recovered without a person",
)  # fmt: skip


def table(results: list[ScenarioResult]) -> str:
    rows = [
        (r.name, r.iterations, r.faults, r.retried, r.rows_lost, r.rows_doubled, r.registry_inconsistencies,
         r.orphans, "yes" if r.recovered else "no")
        for r in results
    ]  # fmt: skip
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    for r in results:
        lines += [f"- {r.name}: {n}" for n in r.notes]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenario names")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    seconds = float(os.environ.get("SOAK_S", "1200"))
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    weight = sum(SCENARIOS[s][1] for s in chosen)
    root = Path(tempfile.mkdtemp(prefix="fidc-soak-"))
    started = time.monotonic()
    print(f"soak: SOAK_S={seconds:.0f} seed={args.seed} scenarios={chosen} work dir {root}", flush=True)
    results = []
    try:
        sample = build_sample(root)
        for name in chosen:
            function, share = SCENARIOS[name]
            t0 = time.monotonic()
            try:
                result = function(sample, seconds * share / weight, random.Random(f"{args.seed}-{name}"))
            except Exception as err:  # the soak's own failure: shown in the table, the other scenarios still run
                result = ScenarioResult(name, unrecovered=1)
                result.note(f"the scenario itself failed: {type(err).__name__}: {str(err)[:300]}")
            results.append(result)
            print(f"  {result.name}: {result.iterations} iterations in {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nsoak finished in {time.monotonic() - started:.0f} s (seed {args.seed})\n")
    print(table(results))
    bad = any(r.rows_lost or r.rows_doubled or r.registry_inconsistencies or not r.recovered for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
