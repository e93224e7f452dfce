"""The marts side of ``make bench-hot``: one day's dbt build with 1 month vs 13 months present, and the
latency of the README's five BI queries under a fixed request rate.

``.venv/bin/python -m bench.marts [--per-fund-day 2000] [--builds 3] [--rates 50,200] [--seconds 10]``:

1. starts a private embedded PostgreSQL under ``bench/out/marts-pg`` (or uses ``--dsn``, whose user must be
   able to create databases and roles);
2. for each scenario (1 month, 13 months of business days ending 2024-07-31) makes a database of its own,
   syncs the reference data and BI roles (`fidc_assets.lib.hot.reference`, `fidc_assets.lib.hot.bi_access`),
   loads landing with the hot loader (`fidc_assets.lib.hot.loader.replace_days`) from synthetic canonical rows
   (4 funds x ``--per-fund-day`` positions a day, about 2.5 % of that as acquisitions and as settlements,
   3 quota classes), and builds every day but the last with one untimed ``dbt build``;
3. times ``dbt build --vars {min_date: <last day>, max_date: <last day>}`` (models, unit tests and the data
   tests, which check only the window) ``--builds`` times and keeps the median; prints the ratio 13 / 1;
4. on the 13-month database, as a tenant's login role (row-level security on), sends the five README
   queries round-robin at a fixed rate (open loop: request *i* is due at t0 + i/rate; its latency runs from
   when it was due to when its rows are fetched, so queueing counts) from a pool of threads, each with its
   own psycopg 3 connection, and prints p50/p99 per rate.

Nothing asserts a timing: it prints a Markdown report (also saved to ``bench/out/marts-results.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import LiteralString

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from bench.common import BENCH_DIR, OUT_DIR, git_revision, private_server

REPO_DIR = BENCH_DIR.parent
LAST_DAY = dt.date(2024, 7, 31)
FUNDS = ["11222333000181", "22333444000181", "33444555000181", "44555666000181"]
MANAGERS = {"aurora": FUNDS[:2], "boreal": FUNDS[2:]}
ASSET_TYPES = ["DM", "DS", "CCB", "CH", "CC"]
KINDS = ["liquidacao", "liquidacao_parcial", "recompra", "baixa"]
QUOTA_CLASSES = ["senior", "mezanino", "subordinada"]

#: The five queries of the README's "BI access" section (parameters: fund, day).
QUERIES: dict[str, LiteralString] = {
    "fund_day_overview": "select fund_cnpj, pl, present_value, pdd_ratio, delinquency_over_90_ratio, "
    "subordination_junior_ratio, top10_cedente_ratio from marts.mart_fund_daily where reference_date = %(day)s",
    "fund_month_series": "select reference_date, pl, present_value, pdd_value, delinquency_over_30_ratio "
    "from marts.mart_fund_daily where fund_cnpj = %(fund)s "
    "and reference_date between %(day)s::date - 30 and %(day)s order by reference_date",
    "rating_distribution": "select cmn2682_rating, count(*), sum(present_value_brl), sum(pdd_value_brl) "
    "from marts.fct_receivable_position_daily where fund_cnpj = %(fund)s and reference_date = %(day)s "
    "group by 1 order by 1",
    "top10_cedentes": "select p.cedente_doc, c.cedente_name, sum(p.present_value_brl) as exposure "
    "from marts.fct_receivable_position_daily p join marts.dim_cedente c "
    "on c.fund_cnpj = p.fund_cnpj and c.cedente_doc = p.cedente_doc "
    "where p.fund_cnpj = %(fund)s and p.reference_date = %(day)s group by 1, 2 order by 3 desc limit 10",
    "monthly_cvm": "select reference_month, pl, present_value, pdd_value, pv_rating_aa, pv_rating_h, "
    "overdue_over_90_value from marts.mart_fund_monthly where fund_cnpj = %(fund)s order by reference_month",
}


def _decimal_cents(values: np.ndarray, t: pa.DataType) -> pa.Array:
    from fidc_assets.sample.canonical_rows import _decimal

    return _decimal(values.astype(np.int64), t)


def synthetic_landing(entity, days: list[dt.date], per_day: int, seed: int) -> pa.Table:
    """Canonical rows (`fidc_assets.sample.canonical_rows`) made plausible where the marts look: BRL, known
    asset types and custodian, a few dozen cedentes and a few hundred sacados per fund, positive money, due
    dates around the reference date, valid kinds and quota classes."""
    from fidc_assets.sample.canonical_rows import canonical_rows

    n = per_day * len(days)
    t = canonical_rows(entity, n, days, FUNDS, seed=seed)
    rng = np.random.default_rng(seed)
    schema = t.schema

    def put(name: str, array: pa.Array) -> None:
        nonlocal t
        if name not in schema.names:
            return
        i = schema.get_field_index(name)
        t = t.set_column(i, schema.field(i), array.cast(schema.field(i).type))

    put("currency", pa.array(["BRL"] * n))
    put("custodian_id", pa.array(["custodia_alfa"] * n))
    put("source", pa.array(["custodian_file"] * n))
    put("asset_type", pa.array(np.array(ASSET_TYPES)[rng.integers(0, len(ASSET_TYPES), n)]))
    put("cedente_doc", pa.array(np.char.add("c", rng.zipf(1.6, n).clip(1, 60).astype(str))))
    put("sacado_doc", pa.array(np.char.add("s", rng.integers(0, 400, n).astype(str))))
    cents = rng.integers(10_000, 5_000_000, n)
    for name, factor in (
        ("nominal_value", 1.0),
        ("acquisition_value", 0.9),
        ("present_value", 0.95),
        ("pdd_value", 0.01),
        ("amount_paid", 0.97),
        ("net_assets", 50.0),
    ):
        if name in schema.names:
            put(name, _decimal_cents((cents * factor).astype(np.int64), schema.field(name).type))
    date_col = entity.partition_date
    ref = t.column(date_col).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    for name in ("due_date", "adjusted_due_date"):
        if name in schema.names:
            put(name, pa.array(ref + rng.integers(-200, 300, n).astype("timedelta64[D]")))
    if "kind" in schema.names:
        put("kind", pa.array(np.array(KINDS)[rng.integers(0, len(KINDS), n)]))
    if "quota_class" in schema.names:
        put("quota_class", pa.array(np.array(QUOTA_CLASSES)[np.arange(n) % 3]))
        put("series", pa.array(np.char.add("s", (np.arange(n) // 3).astype(str))))
    return t


def _dsn_for(dsn: str, database: str) -> str:
    return f"{dsn.rpartition('/')[0]}/{database}"


def prepare(dsn: str, database: str, days: list[dt.date], per_fund_day: int) -> str:
    """A database with the reference data, BI roles and landing for `days`; returns its DSN."""
    from fidc_assets.lib.core import canonical
    from fidc_assets.lib.core.asset_types import load_asset_types
    from fidc_assets.lib.core.calendar import anbima_holidays
    from fidc_assets.lib.core.funds import Fund, FundRegistry, Manager
    from fidc_assets.lib.hot.bi_access import ensure_bi_access
    from fidc_assets.lib.hot.loader import replace_days
    from fidc_assets.lib.hot.reference import ReferenceData, load_fx_rates, sync_reference_data
    from fidc_assets.settings import Settings

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    target = _dsn_for(dsn, database)
    registry = FundRegistry(
        managers=tuple(Manager(id=m, name=m.title()) for m in MANAGERS),
        funds=tuple(Fund(cnpj=f, name=f"FIDC {f[:4]}", manager=m) for m, fs in MANAGERS.items() for f in fs),
    )
    config = Settings.from_env().config
    data = ReferenceData.build(
        registry,
        {"custodia_alfa": "Alfa"},
        load_asset_types(config.asset_types_file),
        anbima_holidays(),
        load_fx_rates(config.fx_rates_file),
    )
    with psycopg.connect(target) as conn:
        sync_reference_data(conn, data)
        ensure_bi_access(conn, registry, {})
        conn.commit()
    per_day = {
        canonical.RECEIVABLE_POSITIONS: per_fund_day * len(FUNDS),
        canonical.ACQUISITIONS: max(1, per_fund_day * len(FUNDS) // 40),
        canonical.SETTLEMENTS: max(1, per_fund_day * len(FUNDS) // 40),
        canonical.FUND_QUOTAS: 3 * len(FUNDS),
    }
    for i, (entity, n) in enumerate(per_day.items()):
        for start in range(0, len(days), 40):  # 40 days at a time keeps memory flat
            chunk = days[start : start + 40]
            replace_days(target, entity, synthetic_landing(entity, chunk, n, seed=i * 1000 + start), chunk)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("analyze")
    return target


def dbt(dsn: str, args: list[str]) -> float:
    from fidc_assets.defs.dbt.project import dbt_profile_env

    env = dict(os.environ, **dbt_profile_env(dsn))
    started = time.perf_counter()
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--profiles-dir", ".", "--target-path",
         str(OUT_DIR / "dbt-target"), "--log-path", str(OUT_DIR / "dbt-logs")],
        cwd=REPO_DIR / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{out.stdout[-4000:]}")
    return seconds


def window(first: dt.date, last: dt.date) -> str:
    return f'{{"min_date": "{first}", "max_date": "{last}"}}'


def build_times(dsn: str, days: list[dt.date], builds: int) -> list[float]:
    dbt(dsn, ["build", "--vars", window(days[0], days[-2])])  # history, untimed
    return [dbt(dsn, ["build", "--vars", window(days[-1], days[-1])]) for _ in range(builds)]


def latency(dsn: str, role: str, fund: str, day: dt.date, rate: float, seconds: float, workers: int) -> list[float]:
    """Open-loop: request i is due at t0 + i / rate; latency = fetched - due (ms)."""
    from fidc_assets.lib.hot.dsn import dsn_parts

    parts = dsn_parts(dsn)
    names = list(QUERIES)
    total = int(rate * seconds)
    due: queue.Queue = queue.Queue()
    results: list[float] = []
    lock = threading.Lock()
    params = {"fund": fund, "day": day}

    def worker() -> None:
        with psycopg.connect(host=parts["host"], port=parts["port"], dbname=parts["dbname"], user=role) as conn:
            conn.autocommit = True
            for query in QUERIES.values():  # warm the connection's plan cache
                conn.execute(query, params).fetchall()
            ready.wait()
            while (item := due.get()) is not None:
                i, at = item
                wait = at - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                conn.execute(QUERIES[names[i % len(names)]], params).fetchall()
                elapsed = (time.perf_counter() - at) * 1000
                with lock:
                    results.append(elapsed)

    ready = threading.Event()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.perf_counter() + 0.2
    for i in range(total):
        due.put((i, t0 + i / rate))
    for _ in threads:
        due.put(None)
    ready.set()
    for t in threads:
        t.join()
    return results


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main(argv: list[str] | None = None) -> None:
    from fidc_assets.lib.core.calendar import business_days_between

    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--per-fund-day", type=int, default=2000, help="receivable positions per fund and day")
    p.add_argument("--builds", type=int, default=3, help="timed one-day builds per scenario (median kept)")
    p.add_argument("--rates", default="50,200", help="requests per second, comma-separated")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per rate")
    p.add_argument("--workers", type=int, default=32, help="client threads (one connection each)")
    p.add_argument("--dsn", help="an existing PostgreSQL (default: a private embedded server)")
    args = p.parse_args(argv)

    server, dsn = (None, args.dsn) if args.dsn else private_server("marts-pg")
    if server is not None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("alter system set max_connections = 200")
        server.stop()
        dsn = server.start()
    lines = [
        f"# bench-marts  rev {git_revision()}  nproc {os.cpu_count()}  load average {os.getloadavg()}",
        f"4 funds x {args.per_fund_day:,} positions per fund-day; one-day `dbt build` (median of {args.builds})",
        "",
        "| history present | business days | landing positions | one-day dbt build s (median) | runs s |",
        "|---|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    try:
        medians = {}
        dsns = {}
        for label, first in (("1 month", dt.date(2024, 7, 1)), ("13 months", dt.date(2023, 7, 1))):
            days = list(business_days_between(first, LAST_DAY))
            target = prepare(dsn, f"bench_marts_{len(days)}d", days, args.per_fund_day)
            runs = build_times(target, days, args.builds)
            medians[label] = statistics.median(runs)
            dsns[label] = target
            positions = len(days) * len(FUNDS) * args.per_fund_day
            row = (
                f"| {label} | {len(days)} | {positions:,} | {medians[label]:.2f} | "
                f"{', '.join(f'{r:.2f}' for r in runs)} |"
            )
            lines.append(row)
            print(row, flush=True)
        ratio = medians["13 months"] / medians["1 month"]
        lines += ["", f"ratio 13 months / 1 month: **{ratio:.2f}** (target <= 1.5)", ""]
        lines += [
            f"BI queries as fidc_tenant_aurora (row security on), 13 months present, {args.seconds:.0f} s per rate, "
            f"{args.workers} client threads, the five README queries round-robin:",
            "",
            "| rate req/s | requests | p50 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|---:|",
        ]
        print("\n".join(lines[-7:]), flush=True)
        for rate in (float(r) for r in args.rates.split(",")):
            ms = latency(dsns["13 months"], "fidc_tenant_aurora", FUNDS[0], LAST_DAY, rate, args.seconds, args.workers)
            row = f"| {rate:.0f} | {len(ms)} | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f} |"
            lines.append(row)
            print(row, flush=True)
        (OUT_DIR / "marts-results.md").write_text("\n".join(lines) + "\n")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
