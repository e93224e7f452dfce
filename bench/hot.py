"""The hot loader against a raw binary COPY of the same rows, in the same run.

``make bench-hot`` (or ``.venv/bin/python -m bench.hot [--rows 1000000,5000000] [--runs 2] [--days 20]``):

1. starts a private embedded PostgreSQL under ``bench/out/hot-pg`` (or uses ``--dsn``);
2. generates N canonical receivable_positions rows (`fidc_assets.sample.canonical_rows`: every column type,
   nulls in a few columns) over ``--days`` days and 4 funds, laid out as ``--layout`` says: ``scattered``
   (the default: fund by fund, each fund's days in random order, so every day is gathered with a take) or
   ``runs`` (fund by fund, day by day: one run per fund-day, as `read_cold_days` returns a month, one run per
   delivery; gathered as zero-copy slices);
3. measures, ``--runs`` times each, interleaved, fastest kept:
   * **loader**: `fidc_assets.lib.hot.loader.replace_days` end to end: Arrow table → sort by date and fund →
     vectorized binary encoding → COPY into one standalone table per day → BRIN index → swap into
     `landing.receivable_positions` (drop + ATTACH) → commit;
   * **raw**: the same rows, already encoded in PostgreSQL's binary COPY format (by the server itself:
     ``COPY (SELECT * FROM landing.receivable_positions ...) TO STDOUT (FORMAT BINARY)``, read into memory
     before the clock starts), sent with psycopg 3 ``COPY ... FROM STDIN (FORMAT BINARY)`` into one plain
     table created in the same transaction, no index, committed;
4. prints rows/s and the ratio loader/raw, by wall time and, with the private server, by CPU seconds: the
   client process's (every thread) plus the server's (its backends, reaped ones included, and its background
   writers), which say more than wall times when other jobs share the cores. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import time
from pathlib import Path

import psycopg

from bench.common import git_revision, private_server

FUNDS = ["11111111000191", "22222222000191", "33333333000191", "44444444000191"]


class ServerCpu:
    """CPU seconds used by a local PostgreSQL: the postmaster's own, its reaped children's (every backend that
    exited) and its live children's. Linux /proc only; None elsewhere."""

    def __init__(self, data_dir: Path):
        from fidc_assets.lib.hot.embedded.process import read_postmaster_pid

        pm = read_postmaster_pid(data_dir)
        self.pid = pm.pid if pm is not None and Path(f"/proc/{pm.pid}/stat").exists() else None

    @staticmethod
    def _stat(pid: int | str) -> list[str]:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    def _children(self) -> dict[str, list[str]]:
        out = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    stat = self._stat(pid)
                except OSError:
                    continue
                if int(stat[1]) == self.pid:
                    out[pid] = stat
        return out

    def seconds(self, wait_for_exit: set[str] | None = None) -> float | None:
        """Now. With `wait_for_exit`, first waits (up to 5 s) until none of the children alive now but not in
        that set is left, so that a backend whose client just disconnected has exited and been reaped. A child
        reaped between reading the postmaster and listing its children would be missed: read again then."""
        if self.pid is None:
            return None
        deadline = time.monotonic() + 5
        while wait_for_exit is not None and set(self._children()) - wait_for_exit and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(50):
            before = sum(int(x) for x in self._stat(self.pid)[11:15])  # utime, stime, cutime, cstime
            children = sum(int(c[11]) + int(c[12]) for c in self._children().values())
            if sum(int(x) for x in self._stat(self.pid)[11:15]) == before:
                return (before + children) / os.sysconf("SC_CLK_TCK")
        return None

    def children(self) -> set[str]:
        return set(self._children()) if self.pid is not None else set()


def _measured(cpu: ServerCpu, fn, *args) -> tuple[float, float, float | None]:
    """(wall s, client CPU s, server CPU s or None) of `fn(*args)`."""
    children = cpu.children()
    server0, client0, started = cpu.seconds(), time.process_time(), time.perf_counter()
    fn(*args)
    wall, client = time.perf_counter() - started, time.process_time() - client0
    server1 = cpu.seconds(children)
    return wall, client, None if server0 is None or server1 is None else server1 - server0


def _raw_copy(dsn: str, data: bytes) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table if exists landing.bench_raw")
        conn.commit()
        started = time.perf_counter()
        conn.execute("create table landing.bench_raw (like landing.receivable_positions)")
        with conn.cursor().copy("copy landing.bench_raw from stdin (format binary)") as copy:
            view = memoryview(data)
            for i in range(0, len(data), 1 << 20):
                copy.write(view[i : i + (1 << 20)])
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("drop table landing.bench_raw")
    return seconds


def _encoded_by_server(dsn: str, days: list[dt.date]) -> bytes:
    buf = io.BytesIO()
    query = "copy (select * from landing.receivable_positions where reference_date = any(%s)) to stdout (format binary)"
    with psycopg.connect(dsn) as conn, conn.cursor().copy(query, [days]) as cp:
        for chunk in cp:
            buf.write(chunk)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    from fidc_assets.lib.core import canonical
    from fidc_assets.lib.core.calendar import business_days_from
    from fidc_assets.lib.hot.loader import replace_days
    from fidc_assets.sample.canonical_rows import canonical_rows

    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--rows", default="1000000,5000000", help="comma-separated row counts")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--days", type=int, default=20)
    p.add_argument("--dsn", help="an existing PostgreSQL (default: a private embedded server)")
    p.add_argument("--layout", choices=("scattered", "runs"), default="scattered", help="the input's row order")
    args = p.parse_args(argv)

    server, dsn = (None, args.dsn) if args.dsn else private_server("hot-pg")
    cpu = ServerCpu(server.data_dir if server is not None else Path("/nonexistent"))
    entity = canonical.RECEIVABLE_POSITIONS
    days = business_days_from(dt.date(2024, 7, 1), args.days)
    print(f"# bench-hot  rev {git_revision()}  nproc {os.cpu_count()}  load average {os.getloadavg()}")
    print(
        f"{args.days} days, {len(FUNDS)} funds, {len(entity.fields)} columns, layout {args.layout}; "
        f"fastest of {args.runs} runs\n"
    )
    print(
        "| rows | loader s | loader rows/s | raw COPY s | raw rows/s | ratio loader/raw | binary MB "
        "| loader CPU s (client + server) | raw CPU s (client + server) | CPU ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for n in (int(x) for x in args.rows.split(",")):
            rows = canonical_rows(entity, n, days, FUNDS, seed=42)
            if args.layout == "runs":
                rows = rows.sort_by([("fund_cnpj", "ascending"), ("reference_date", "ascending")])
            loader, raw, size = [], [], 0
            for _ in range(args.runs):
                loader.append(_measured(cpu, replace_days, dsn, entity, rows, days))
                data = _encoded_by_server(dsn, days)
                size = len(data)
                raw.append(_measured(cpu, _raw_copy, dsn, data))
                del data
            lo, ra = min(w for w, _, _ in loader), min(w for w, _, _ in raw)
            lo_cpu, ra_cpu = min(_cpu_total(x) for x in loader), min(_cpu_total(x) for x in raw)
            cpus = f"{_cpu(lo_cpu)} | {_cpu(ra_cpu)} | {ra_cpu / lo_cpu:.2f}" if lo_cpu and ra_cpu else "— | — | —"
            print(
                f"| {n:,} | {lo:.2f} | {n / lo:,.0f} | {ra:.2f} | {n / ra:,.0f} | {ra / lo:.2f} | {size / 1e6:,.0f} "
                f"| {cpus} |"
            )
            print(f"<!-- loader runs (wall, client CPU, server CPU) {_runs(loader)}, raw runs {_runs(raw)} -->")
    finally:
        if server is not None:
            server.stop()


def _cpu_total(run: tuple[float, float, float | None]) -> float:
    return run[1] + run[2] if run[2] is not None else 0.0


def _cpu(total: float) -> str:
    return f"{total:.2f}"


def _runs(runs: list[tuple[float, float, float | None]]) -> list[tuple[float, ...]]:
    return [tuple(round(x, 2) for x in run if x is not None) for run in runs]


if __name__ == "__main__":
    main()
