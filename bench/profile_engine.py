"""Where the engine spends its time on one file: ``python -m bench.profile_engine FILE [--top N]``.

The engine converts fields on a thread pool and reads ahead on a thread; cProfile only sees the main thread,
so both are replaced here by inline calls (the serial CPU cost: on 2 cores that is what limits throughput).
Every `pyarrow.compute` function is wrapped with a timer keyed by the line that called it, since cProfile
lumps all kernels under ``pyarrow/compute.py:(wrapper)``. The engine path is the benchmark's: `FileParse`
and a `ParquetWriter` of the accepted batches (written to a temporary file).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path


class _Inline:
    """A stand-in for the engine's ThreadPoolExecutor that runs each task at once, on the calling thread."""

    def submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # handed to the caller through the future, as the pool does
            future.set_exception(e)
        return future


def _time_kernels() -> dict[tuple[str, str, str], list]:
    """Wrap pyarrow.compute functions: outermost calls only, keyed by (kernel, file:line, function) of the caller."""
    import pyarrow.compute as pc

    stats: dict[tuple[str, str, str], list] = collections.defaultdict(lambda: [0, 0.0])
    depth = [0]

    def wrap(name, fn):
        def timed(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            caller = sys._getframe(1)
            depth[0] += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                key = (name, f"{Path(caller.f_code.co_filename).name}:{caller.f_lineno}", caller.f_code.co_name)
                stats[key][0] += 1
                stats[key][1] += time.perf_counter() - started

        return timed

    for name in dir(pc):
        obj = getattr(pc, name)
        if callable(obj) and not name.startswith("_") and not isinstance(obj, type):
            setattr(pc, name, wrap(name, obj))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_engine", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("file", type=Path, help="a custodian file (its name must match a custodian pattern)")
    parser.add_argument("--top", type=int, default=25, help="lines of each listing (default 25)")
    args = parser.parse_args(argv)

    kernels = _time_kernels()  # before the engine imports pyarrow.compute functions by attribute
    from fidc_assets.lib.ingest.adapters import convert, engine

    if hasattr(convert, "_pool"):
        convert._pool = lambda: _Inline()
    if hasattr(engine, "_prefetch"):
        engine._prefetch = lambda batches, depth=1: iter(batches)
    from bench.ingest.runners import engine_setup, run_engine

    match = engine_setup(args.file)
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        profile.enable()
        result = run_engine(args.file, Path(tmp) / "out.parquet", match, "0" * 64)
        profile.disable()
        seconds = time.perf_counter() - started
    print(f"{args.file.name}: {result}, {seconds:.2f} s serial (profiler overhead included)")
    print(f"\npyarrow.compute kernels by calling line (outermost calls: {sum(v[1] for v in kernels.values()):.2f} s)")
    for (name, where, function), (calls, total) in sorted(kernels.items(), key=lambda kv: -kv[1][1])[: args.top]:
        print(f"{total:8.3f} s {calls:6d}x  {name:28s} {where:20s} {function}")
    print("\nengine functions by cumulative time")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(r"fidc_assets|parquet/core", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
