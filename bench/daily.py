"""`make bench-daily`: the daily operating loop as a user lives it, measured against its floor in the same run.

1. One sample (seed 42, `--funds` funds, every custodian in turn, so each custodian and format the sample
   renders) over `--prior-days` business days before `--day` and `--day` itself (~4 files per fund and day).
2. Floor: a fresh FIDC_HOME; the prior days land and build by the direct path (`fidc-lake demo`'s two
   in-process runs, `pipeline.run_days`); then `--day`'s files are delivered and landed and built the same way,
   timed (no sensor, no daemon, the definitions loaded once).
3. Loop: another fresh FIDC_HOME, prior days prepared the same way; then `fidc-lake ui` (webserver + daemon,
   as `make ui` runs them) is started, and `--day`'s files but one are copied into its inbox at once. The bench
   polls the Dagster instance and PostgreSQL: when each file's rows were materialized in the lake (the
   `lake/<entity>` materialization event of the run that carries its sha256), when the day's
   `marts.mart_fund_daily` rows first equal the sample's truth to the centavo, and the runs launched, failed
   and retried. Then the held-back file (a stock file) arrives late, alone, on the otherwise complete day.

The prior days are only the sample's own (one business day by default), not the demo's whole July: the
incremental work of a day does not depend on how much of the month is already in the lake, and preparing 22
days of 20 funds twice would cost the 2 cores ~20 minutes. `--prior-days 0` starts from an empty lake.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import git_revision
from bench.daily_server import Home, Server

INGEST_JOB = "ingest_files"


@dataclass
class Delivery:
    name: str
    sha256: str
    entity: str
    fund: str
    arrived: float = 0.0  # epoch seconds, after the rename into the inbox
    landed: float | None = None  # epoch seconds of its lake/<entity> materialization


@dataclass
class LoopResult:
    first_request_s: float | None = None  # first file → the sensor's first run created
    first_run_s: float | None = None  # first file → that run's worker started it
    marts_s: float | None = None  # last file → the day's marts equal the truth
    runs: dict[str, int] = field(default_factory=dict)
    files: list[Delivery] = field(default_factory=list)


def business_days_before(day: dt.date, count: int) -> list[dt.date]:
    from fidc_assets.lib.core.calendar import business_days_between

    days = list(business_days_between(day - dt.timedelta(days=7 * count + 7), day))
    return days[-(count + 1) :]


def deliveries(sample_inbox: Path, day: dt.date) -> list[Delivery]:
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.specs import load_specs, match_file

    specs = load_specs(CUSTODIANS_DIR)
    out = []
    for path in sorted(sample_inbox.iterdir()):
        m = match_file(path.name, specs)
        if m is not None and m.reference_date == day:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            out.append(Delivery(path.name, sha, m.file_spec.entity, m.fund_cnpj))
    return out


def deliver(sample_inbox: Path, inbox: Path, items: list[Delivery]) -> None:
    """Copy as a custodian would (a temporary name, then a rename), stamping each file's arrival."""
    inbox.mkdir(parents=True, exist_ok=True)
    for d in items:
        tmp = inbox / f".{d.name}.partial"
        shutil.copyfile(sample_inbox / d.name, tmp)
        tmp.replace(inbox / d.name)
        d.arrived = time.time()


def prepare(home: Home, sample: Path, prior: list[dt.date]) -> dict:
    from fidc_assets.pipeline import adopt_fund_registry

    adopt_fund_registry(sample / "funds.yaml", home.funds_file)
    if not prior:
        return {}
    names = {p.name for p in (sample / "inbox").iterdir() if any(d.strftime("%Y%m%d") in p.name for d in prior)}
    home.inbox.mkdir(parents=True, exist_ok=True)
    for name in sorted(names):
        shutil.copyfile(sample / "inbox" / name, home.inbox / name)
    return home.direct([d.isoformat() for d in prior])


def marts_equal_truth(dsn: str, truth: dict, day: dt.date, funds: set[str]) -> bool:
    from fidc_assets.pipeline import mart_totals

    marts = mart_totals(dsn, [day])
    return all(marts.get((f, day)) == t.totals for (f, d), t in truth.items() if d == day and f in funds)


def run_counts(instance, since: float) -> dict[str, int]:
    import dagster as dg

    runs = instance.get_runs(dg.RunsFilter(created_after=dt.datetime.fromtimestamp(since, dt.UTC)))
    ingest = [r for r in runs if r.job_name == INGEST_JOB]
    return {
        "launched": len(runs),
        "ingest": len(ingest),
        "downstream": len(runs) - len(ingest),
        "failed": sum(r.status == dg.DagsterRunStatus.FAILURE for r in runs),
        "retried": sum("dagster/parent_run_id" in r.tags for r in runs),
        "re_requested": sum(int(r.tags.get("fidc/attempt", "1")) > 1 for r in ingest),
        "in_progress": sum(not r.is_finished for r in runs),
    }


def stamp_landings(instance, items: list[Delivery], since: float) -> None:
    """Each file's landing: the lake/<entity> materialization of a successful run carrying its sha256."""
    import dagster as dg

    runs = instance.get_runs(
        dg.RunsFilter(
            job_name=INGEST_JOB,
            statuses=[dg.DagsterRunStatus.SUCCESS],
            created_after=dt.datetime.fromtimestamp(since, dt.UTC),
        )
    )
    by_sha = {d.sha256: d for d in items if d.landed is None}
    for run in runs:
        shas = [s for s in run.tags.get("fidc/sha256s", "").split(",") if s in by_sha]
        if not shas:
            continue
        done = {}
        for rec in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            key = rec.dagster_event.asset_key
            if key is not None:
                done[key.to_user_string()] = rec.timestamp
        for sha in shas:
            d = by_sha[sha]
            t = done.get(f"lake/{d.entity}")
            if t is not None and (d.landed is None or t < d.landed):
                d.landed = t


def first_run_times(instance, since: float) -> tuple[float | None, float | None]:
    """(created, started) epoch seconds of the first ingestion run after `since`."""
    import dagster as dg

    records = instance.get_run_records(
        dg.RunsFilter(job_name=INGEST_JOB, created_after=dt.datetime.fromtimestamp(since, dt.UTC))
    )
    created = [r.create_timestamp.timestamp() for r in records]
    starts = [s.start_time for r in records if (s := instance.get_run_stats(r.dagster_run.run_id)).start_time]
    return (min(created) if created else None, min(starts) if starts else None)


def watch(
    home: Home, dsn: str, truth: dict, day: dt.date, items: list[Delivery], funds: set[str], timeout_s: float
) -> LoopResult:
    """Poll until every file landed, the marts equal the truth for `funds` and no run is in progress."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home.dagster_home))
    since = min(d.arrived for d in items)
    last = max(d.arrived for d in items)
    result = LoopResult(files=items)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamp_landings(instance, items, since - 1)
        if result.marts_s is None and marts_equal_truth(dsn, truth, day, funds):
            result.marts_s = time.time() - last
        result.runs = run_counts(instance, since - 1)
        if result.marts_s is not None and all(d.landed for d in items) and result.runs["in_progress"] == 0:
            break
        time.sleep(3.0)  # the instance is SQLite: poll gently
    created, start = first_run_times(instance, since - 1)
    result.first_request_s = None if created is None else created - since
    result.first_run_s = None if start is None else start - since
    return result


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def direct_main(days: list[str]) -> int:
    """The child of `Home.direct`: run_days for `days` in this environment; prints timings as JSON."""
    from fidc_assets.cli.console import stdout_to
    from fidc_assets.pipeline import ensure_dagster_home, run_days
    from fidc_assets.settings import Settings

    settings = Settings.from_env()
    ensure_dagster_home(settings)
    settings.resolve_pg_dsn()
    started = time.perf_counter()
    with stdout_to(settings.home / "logs" / "direct-dbt.log"):
        result = run_days([dt.date.fromisoformat(d) for d in days], raise_on_error=False, log_level="WARNING")
    wall = time.perf_counter() - started
    runs = [r for r in (result.ingest, result.marts) if r is not None]
    import dagster as dg

    instance = dg.DagsterInstance.get()
    stats = [instance.get_run_stats(r.run_id) for r in runs]
    secs = [(s.end_time or 0) - (s.start_time or 0) for s in stats]
    print(
        json.dumps(
            {
                "success": result.success,
                "wall_s": wall,
                "ingest_s": secs[0],
                "marts_s": secs[1] if len(secs) > 1 else None,
            }
        )
    )
    return 0 if result.success else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_direct"]:
        return direct_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench.daily", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--funds", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="4 funds (every custodian but two), for development")
    p.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2024, 7, 31))
    p.add_argument("--prior-days", type=int, default=1, help="business days landed before --day (0: empty lake)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for a phase")
    p.add_argument("--keep", action="store_true", help="keep the temporary FIDC_HOMEs")
    args = p.parse_args(argv)
    funds = 4 if args.quick else args.funds
    from fidc_assets.sample.truth import read_truth

    root = Path(tempfile.mkdtemp(prefix="fidc-bench-daily-"))
    root.chmod(0o755)  # traversable by the OS user the embedded PostgreSQL runs as under root
    days = business_days_before(args.day, args.prior_days)
    prior, day = days[:-1], days[-1]
    print(f"git {git_revision()} · load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"sample: seed {args.seed}, {funds} funds, {len(days)} business days {days[0]} .. {day}; homes under {root}")
    sample = root / "sample"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fidc_assets.cli",
            "sample",
            "--seed",
            str(args.seed),
            "--funds",
            str(funds),
            "--days",
            str(len(days)),
            "--start",
            days[0].isoformat(),
            "--out",
            str(sample),
        ],
        check=True,
        capture_output=True,
    )
    truth = read_truth(sample / "truth")
    items = deliveries(sample / "inbox", day)
    all_funds = {d.fund for d in items}
    print(f"{day}: {len(items)} files, {len(all_funds)} funds; prior days prepared by the direct path: {prior}")
    homes: list[Home] = []
    server = None
    try:
        # the floor: direct path, no sensor
        floor_home = Home(root / "floor")
        homes.append(floor_home)
        prep = prepare(floor_home, sample, prior)
        deliver(sample / "inbox", floor_home.inbox, [Delivery(d.name, d.sha256, d.entity, d.fund) for d in items])
        floor = floor_home.direct([day.isoformat()])
        floor_ok = marts_equal_truth(floor_home.dsn(), truth, day, all_funds)
        floor_home.fidc("db", "stop")
        print(
            f"floor (direct path): ingest run {floor['ingest_s']:.1f} s, marts run {floor['marts_s']:.1f} s, "
            f"wall {floor['wall_s']:.1f} s with the definitions load; marts = truth: {floor_ok}; "
            f"prior-day preparation {prep.get('wall_s', 0):.0f} s"
        )

        # the loop: sensor, daemon, automation
        home = Home(root / "loop")
        homes.append(home)
        prepare(home, sample, prior)
        dsn = home.dsn()
        server = Server(home)
        up = server.start()
        print(f"dagster dev up, inbox sensor ticking after {up:.0f} s ({server.url})")
        late = next(d for d in items if d.entity == "receivable_positions")
        batch = [d for d in items if d is not late]
        deliver(sample / "inbox", home.inbox, batch)
        loop = watch(home, dsn, truth, day, batch, all_funds - {late.fund}, args.timeout)
        report("batch", loop, floor, len(batch))
        deliver(sample / "inbox", home.inbox, [late])
        late_loop = watch(home, dsn, truth, day, [late], all_funds, args.timeout)
        report("late file", late_loop, floor, 1)
        ok = marts_equal_truth(dsn, truth, day, all_funds)
        print(f"{day}: every fund's mart_fund_daily row equals the truth to the centavo: {ok}")
        return 0 if ok and floor_ok and all(d.landed for d in items) else 1
    finally:
        if server is not None:
            server.stop()
        for h in homes:
            try:
                h.fidc("db", "stop")
            except RuntimeError as e:
                print(f"db stop in {h.root}: {e}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def report(what: str, loop: LoopResult, floor: dict, count: int) -> None:
    lags = [d.landed - d.arrived for d in loop.files if d.landed is not None]
    missing = [d.name for d in loop.files if d.landed is None]
    floor_total = floor["ingest_s"] + floor["marts_s"]
    print(f"--- {what}: {count} file(s) dropped at once")
    print(f"delay to the first run       {_s(loop.first_request_s)} requested, {_s(loop.first_run_s)} started")
    if lags:
        print(
            f"file → lake                  p50 {_s(pct(lags, 50))}  p95 {_s(pct(lags, 95))}  max {_s(max(lags))}"
            f"  (floor: the direct ingest run {floor['ingest_s']:.1f} s; "
            f"max/floor {max(lags) / floor['ingest_s']:.1f}×)"
        )
    if missing:
        print(f"NOT landed                   {len(missing)}: {', '.join(missing[:10])}")
    ratio = "" if loop.marts_s is None else f"; ratio {loop.marts_s / floor_total:.1f}×"
    print(f"last file → marts = truth    {_s(loop.marts_s)}  (floor: ingest + marts runs {floor_total:.1f} s{ratio})")
    r = loop.runs
    print(
        f"runs                         {r.get('launched', 0)} launched ({r.get('ingest', 0)} ingestion, "
        f"{r.get('downstream', 0)} hot load/marts), {r.get('failed', 0)} failed, {r.get('retried', 0)} retries, "
        f"{r.get('re_requested', 0)} re-requested by the sensor"
    )


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} s"


if __name__ == "__main__":
    raise SystemExit(main())
