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
4. prints rows/s and the ratio loader/raw. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import time

import psycopg

from bench.common import git_revision, private_server

FUNDS = ["11111111000191", "22222222000191", "33333333000191", "44444444000191"]


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
    entity = canonical.RECEIVABLE_POSITIONS
    days = business_days_from(dt.date(2024, 7, 1), args.days)
    print(f"# bench-hot  rev {git_revision()}  nproc {os.cpu_count()}  load average {os.getloadavg()}")
    print(
        f"{args.days} days, {len(FUNDS)} funds, {len(entity.fields)} columns, layout {args.layout}; "
        f"fastest of {args.runs} runs\n"
    )
    print("| rows | loader s | loader rows/s | raw COPY s | raw rows/s | ratio loader/raw | binary MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for n in (int(x) for x in args.rows.split(",")):
            rows = canonical_rows(entity, n, days, FUNDS, seed=42)
            if args.layout == "runs":
                rows = rows.sort_by([("fund_cnpj", "ascending"), ("reference_date", "ascending")])
            loader, raw, size = [], [], 0
            for _ in range(args.runs):
                started = time.perf_counter()
                replace_days(dsn, entity, rows, days)
                loader.append(time.perf_counter() - started)
                data = _encoded_by_server(dsn, days)
                size = len(data)
                raw.append(_raw_copy(dsn, data))
                del data
            lo, ra = min(loader), min(raw)
            print(
                f"| {n:,} | {lo:.2f} | {n / lo:,.0f} | {ra:.2f} | {n / ra:,.0f} | {ra / lo:.2f} | {size / 1e6:,.0f} |"
            )
            print(f"<!-- loader runs {[round(x, 2) for x in loader]}, raw runs {[round(x, 2) for x in raw]} -->")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
