"""Landing scenarios: kill -9 at random moments, concurrent landings, re-deliveries under other names and dates.

Each iteration starts from an empty lake and ends checked against the sample's truth (`common.check`)."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

from bench.soak.common import Sample, ScenarioResult, check, fresh, lake_dir, land, land_until_clean
from tests.integration.test_concurrent_landing import live_rows, run_at_once


def kill_during_landing(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    """A landing of every file, SIGKILLed at a random moment of its work; then the run is retried."""
    result = ScenarioResult("kill -9 during a landing")
    probe = fresh(sample.root, "kill-probe")
    work = land(lake_dir(probe), sample.inbox).working_seconds  # the kill moment is drawn after "ready"
    end = time.monotonic() + seconds
    while time.monotonic() < end or result.iterations == 0:
        result.iterations += 1
        lake = fresh(sample.root, "kill")
        run = land(lake_dir(lake), sample.inbox, kill_after=rng.uniform(0.0, work))
        result.faults += run.killed
        if run.killed or run.returncode != 0:
            land_until_clean(lake_dir(lake), sample.inbox, result)
        check(lake, sample.truth, result)
    return result


def _versions(sample: Sample, name: str) -> tuple[list[Path], object, str]:
    """Four corrections of one fund-day's CSV stock file, 10 s apart; version k lacks the last 3-k rows."""
    for (day, fund), paths in sorted(sample.by_fund_day.items()):
        for p in paths:
            if p.name.startswith("ESTOQUE_") and p.suffix == ".csv":
                lines = p.read_bytes().splitlines(keepends=True)
                out = []
                for k in range(4):
                    target = sample.root / name / f"v{k}" / p.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(b"".join(lines[: len(lines) - (3 - k)]))
                    stamp = p.stat().st_mtime + 10 * (k + 1)
                    os.utime(target, (stamp, stamp))
                    out.append(target)
                return out, day, fund
    raise RuntimeError("the sample has no CSV stock file")


def concurrent_landings(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    """8 fund-days of one month landed by 8 processes at once; 4 versions of one fund-day at once."""
    result = ScenarioResult("concurrent landings (8 fund-days; 4 versions)")
    versions, day, fund = _versions(sample, "versions")
    seq = fresh(sample.root, "versions-seq")
    for v in versions:  # the truth of the versions: delivered one after the other
        assert run_at_once(lake_dir(seq), [([v], day, fund)]) == []  # type: ignore[list-item]
    versions_truth = live_rows(seq)
    end = time.monotonic() + seconds
    while time.monotonic() < end or result.iterations == 0:
        result.iterations += 1
        lake = fresh(sample.root, "concurrent")
        jobs = [(paths, d, f) for (d, f), paths in sorted(sample.by_fund_day.items())]
        rng.shuffle(jobs)
        errors = run_at_once(lake_dir(lake), jobs)
        result.faults += len(jobs) - 1  # each process races the others
        if errors:
            result.note(errors[0][:200])
            land_until_clean(lake_dir(lake), sample.inbox, result)
        check(lake, sample.truth, result)

        lake = fresh(sample.root, "concurrent-versions")
        order = list(versions)
        rng.shuffle(order)
        errors = run_at_once(lake_dir(lake), [([v], day, fund) for v in order])  # type: ignore[misc]
        result.faults += len(order) - 1
        if errors:
            result.note(errors[0][:200])
            for v in versions:
                land_until_clean(lake_dir(lake), v.parent, result)
        check(lake, versions_truth, result)
    return result


def _one_file_inbox(sample: Sample, step: str, name: str, data: bytes, mtime: float) -> Path:
    inbox = sample.root / "redelivery" / step
    inbox.mkdir(parents=True, exist_ok=True)
    for old in inbox.iterdir():
        old.unlink()
    (inbox / name).write_bytes(data)
    os.utime(inbox / name, (mtime, mtime))
    return inbox


def redeliveries(sample: Sample, seconds: float, rng: random.Random) -> ScenarioResult:
    """After a full landing: (a) the same bytes re-sent under another name (a `_R2` suffix) for the same
    slice; (b) the 2nd day's stock re-sent named as the 1st (a custodian's mistake), then (c) the 1st day's
    right file re-sent to correct it. The end must equal the truth: the slice holds the right day's rows."""
    result = ScenarioResult("re-delivery under other names and dates")
    first, second = sample.days[:2]
    stock = {
        (d, f): p
        for (d, f), paths in sample.by_fund_day.items()
        for p in paths
        if p.name.startswith("ESTOQUE_") and p.suffix == ".csv"
    }
    fund = min(f for d, f in stock if d == first and (second, f) in stock)
    right_first, right_second = stock[(first, fund)], stock[(second, fund)]
    wrong_name = right_second.name.replace(second.strftime("%Y%m%d"), first.strftime("%Y%m%d"))
    end = time.monotonic() + seconds
    while (time.monotonic() < end or result.iterations == 0) and result.iterations < 3:  # deterministic steps
        result.iterations += 1
        lake = fresh(sample.root, "redelivery-lake")
        land(lake_dir(lake), sample.inbox)
        later = time.time() + 60
        renamed = right_first.name.replace(".csv", "_R2.csv")
        steps = [
            ("same-bytes-other-name", renamed, right_first.read_bytes()),
            ("other-day-as-first", wrong_name, right_second.read_bytes()),
            ("first-day-corrected", right_first.name, right_first.read_bytes()),
        ]
        for i, (step, name, data) in enumerate(steps):
            inbox = _one_file_inbox(sample, step, name, data, later + 60 * i)
            result.faults += 1
            run = land(lake_dir(lake), inbox)
            if run.returncode != 0:
                result.note(f"{step}: exit {run.returncode}")
                land_until_clean(lake_dir(lake), inbox, result)
        if not check(lake, sample.truth, result):
            rows = live_rows(lake)
            lost = Counter(k[4][:12] for k in sample.truth if k not in rows)
            extra = Counter(k[4][:12] for k in rows if k not in sample.truth)
            result.note(f"after (c): rows of {dict(lost)} missing, rows of {dict(extra)} live instead")
    return result
