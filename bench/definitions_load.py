"""What loading the Dagster definitions costs: `from fidc_assets.definitions import defs` then
`defs().get_repository_def()`, what every run worker, code-server load and sensor tick pays, in fresh
interpreters: wall and CPU seconds, with the installed .pyc files and without them (an empty
PYTHONPYCACHEPREFIX: every module compiled from source, as when a venv was installed without byte-compiling
and PYTHONDONTWRITEBYTECODE is set).

    .venv/bin/python -m bench.definitions_load [--runs 3] [--tree DIR]

`--tree DIR` measures another checkout of the project (e.g. `git archive <rev> | tar -x -C DIR`, with its dbt
manifest prepared) with this environment's packages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from bench.common import git_revision
from fidc_assets.settings import REPO_DIR

PROBE = """
import json, resource, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from fidc_assets.definitions import defs
t1 = time.perf_counter()
defs().get_repository_def()
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "wall_s": t2 - t0, "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


def probe(env: dict[str, str], cwd: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description="the cost of loading the Dagster definitions")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tree", help="another checkout to measure (put first on PYTHONPATH)")
    args = p.parse_args()
    cwd = args.tree or str(REPO_DIR)
    base = {**os.environ, "PYTHONPATH": args.tree} if args.tree else dict(os.environ)
    print(f"tree: {cwd}")
    print(f"git {git_revision()} · {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    with tempfile.TemporaryDirectory() as empty:
        for label, extra in (
            ("installed .pyc", {}),
            ("no .pyc (compiled from source)", {"PYTHONPYCACHEPREFIX": empty}),
        ):
            runs = [probe({**base, **extra}, cwd) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"{label:32s} median of {args.runs}: wall {med['wall_s']:.2f} s (import {med['import_s']:.2f} + "
                f"build {med['build_s']:.2f}), CPU {med['cpu_s']:.2f} s; CPU per run "
                + ", ".join(f"{r['cpu_s']:.2f}" for r in runs)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
