"""Concurrent landings in separate processes on one SQLite-catalog lake (issue 11 item 3, issue 13 item 5).

Each process calls the library's landing path (`receive_files` then `land_slices`) the way one ingestion run
does. Every scenario ends checked against what a single sequential landing of the same files gives: no
landing failed, every row present once, one registry row per delivery, one `accepted` delivery per slice and
its rows the live ones.

The figures of the issue (failures out of N processes) come from the same code as a command, which also runs
against an older checkout (PYTHONPATH pointing at it) since it only uses `receive_files`/`land_slices`:
    .venv/bin/python -m tests.integration.test_concurrent_landing --trials 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from fidc_assets.lib.core import canonical
from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files
from fidc_assets.lib.ingest.specs import load_specs, match_file
from fidc_assets.lib.lake.catalog import Lake

pytestmark = pytest.mark.integration

PROCESSES = 8
DATA_ENTITIES = ("receivable_positions", "acquisitions", "settlements", "fund_quotas")


# -- what each process runs ----------------------------------------------------------------------------------
def _land(lake_dir: str, paths: list[str], day: dt.date, fund: str | None, barrier, results) -> None:
    """One ingestion run: receive `paths`, then land `day` (of `fund`, or every fund)."""
    lake = Lake.local(Path(lake_dir))
    specs = load_specs(CUSTODIANS_DIR)
    files = []
    for p in paths:
        m = match_file(Path(p).name, specs)
        assert m is not None, p
        files.append((InboxFile(Path(p), dt.datetime.fromtimestamp(Path(p).stat().st_mtime, tz=dt.UTC)), m))
    barrier.wait()
    try:
        receive_files(lake, files)
        land_slices(lake, specs, [day], day_funds=[(day, fund)] if fund else None)
        results.put((os.getpid(), None))
    except Exception as err:  # reported to the parent, which counts and shows it
        results.put((os.getpid(), f"{type(err).__name__}: {str(err)[:300]}"))


def run_at_once(lake_dir: Path, jobs: Sequence[tuple[list[Path], dt.date, str | None]]) -> list[str]:
    """Start one process per job, released together by a barrier; the errors of those that failed."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [
        ctx.Process(target=_land, args=(str(lake_dir), [str(p) for p in paths], day, fund, barrier, results))
        for paths, day, fund in jobs
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [err for _, err in outcomes if err is not None]
    errors += [f"process exited with {p.exitcode}" for p in procs if p.exitcode != 0]
    return errors


# -- the files -----------------------------------------------------------------------------------------------
def make_sample(root: Path) -> tuple[Path, list[dt.date], dict[tuple[dt.date, str], list[Path]]]:
    """4 funds × 2 business days of July 2024 (8 fund-days of one month), every file grouped by fund-day."""
    from fidc_assets.sample.generator import generate_sample

    manifest = generate_sample(root / "sample", seed=5, funds=4, days=2, receivables_per_fund=40)
    specs = load_specs(CUSTODIANS_DIR)
    by_fund_day: dict[tuple[dt.date, str], list[Path]] = {}
    for name in manifest.files:
        m = match_file(name, specs)
        assert m is not None, name
        by_fund_day.setdefault((m.reference_date, m.fund_cnpj), []).append(manifest.inbox_dir / name)
    return manifest.inbox_dir, list(manifest.days), by_fund_day


def fresh_lake(parent: Path, name: str) -> Lake:
    lake = Lake.local(parent / name)
    lake.ensure_tables()  # a running deployment's tables exist; creating them is not what is measured
    return lake


# -- what the lake must say ----------------------------------------------------------------------------------
def live_rows(lake: Lake) -> Counter:
    """(entity, custodian, fund, file date, source sha, line) → how many times the lake holds that row."""
    out: Counter = Counter()
    for entity in DATA_ENTITIES:
        columns = ("custodian_id", "fund_cnpj", "file_date", "source_file_sha256", "source_line")
        for r in lake.read(entity, None, columns).to_pylist():
            out[(entity, *(r[c] for c in columns))] += 1
    return out


def registry_problems(lake: Lake) -> list[str]:
    """Every way the registry disagrees with the data: not one row per delivery, not one `accepted` per
    slice, an accepted delivery whose rows are not the live ones."""
    rows = lake.read(canonical.FILE_REGISTRY).to_pylist()
    problems = []
    per_delivery = Counter(
        (r["sha256"], r["custodian_id"], r["entity"], r["fund_cnpj"], r["reference_date"]) for r in rows
    )
    problems += [f"{n} registry rows for delivery {k}" for k, n in per_delivery.items() if n != 1]
    slices: dict[tuple, list[dict]] = {}
    for r in rows:
        slices.setdefault((r["custodian_id"], r["entity"], r["fund_cnpj"], r["reference_date"]), []).append(r)
    live: dict[tuple, set[str]] = {}
    for (entity, cust, fund, day, sha, _), _n in live_rows(lake).items():
        live.setdefault((cust, entity, fund, day), set()).add(sha)
    for key, regs in slices.items():
        accepted = [r["sha256"] for r in regs if r["status"] == "accepted"]
        if not accepted and all(r["status"] == "quarantined" for r in regs):
            continue  # no usable delivery yet: nothing is live for the slice, nothing is accepted
        if len(accepted) != 1:
            problems.append(f"{key}: {len(accepted)} accepted ({sorted(r['status'] for r in regs)})")
        elif key in live and live[key] != set(accepted):
            problems.append(f"{key}: accepted {accepted[0][:12]} but live {sorted(s[:12] for s in live[key])}")
    return problems


def sequential_truth(parent: Path, inbox: Path, days: list[dt.date]) -> Counter:
    """The rows one landing of every file gives: what every concurrent scenario must end with."""
    lake = fresh_lake(parent, "sequential")
    specs = load_specs(CUSTODIANS_DIR)
    files = []
    for p in sorted(inbox.iterdir()):
        m = match_file(p.name, specs)
        assert m is not None
        files.append((InboxFile(p, dt.datetime.fromtimestamp(p.stat().st_mtime, tz=dt.UTC)), m))
    receive_files(lake, files)
    land_slices(lake, specs, days)
    return live_rows(lake)


# -- tests ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    inbox, days, by_fund_day = make_sample(root)
    assert len(by_fund_day) == PROCESSES and len({d.month for d in days}) == 1
    return root, inbox, days, by_fund_day, sequential_truth(root, inbox, days)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_eight_fund_days_of_one_month_land_at_once(sample, trial):
    root, _, _, by_fund_day, truth = sample
    lake = fresh_lake(root, f"eight-{trial}")
    jobs = [(paths, day, fund) for (day, fund), paths in sorted(by_fund_day.items())]
    errors = run_at_once(root / f"eight-{trial}", jobs)
    assert errors == []
    rows = live_rows(lake)
    assert rows == truth  # every row present, once
    assert max(rows.values()) == 1
    assert registry_problems(lake) == []


def _stock_csv(by_fund_day, day: dt.date | None = None) -> tuple[Path, dt.date, str]:
    """A stock file delivered as CSV (one data row per line) and its fund-day."""
    for (d, f), paths in sorted(by_fund_day.items()):
        for p in paths:
            if p.name.startswith("ESTOQUE_") and p.suffix == ".csv" and day in (None, d):
                return p, d, f
    raise AssertionError("the sample has no CSV stock file")


def _versions(root: Path, by_fund_day, name: str) -> tuple[list[Path], dt.date, str]:
    """Four versions (corrections) of one fund-day's stock file, each delivered 10 s after the previous one:
    version k lacks the last k rows of the original."""
    original, day, fund = _stock_csv(by_fund_day)
    lines = original.read_bytes().splitlines(keepends=True)
    out = []
    for k in range(4):
        target = root / name / f"v{k}" / original.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(lines[: len(lines) - (3 - k)]))  # the newest (v3) is the whole file
        stamp = original.stat().st_mtime + 10 * k
        os.utime(target, (stamp, stamp))
        out.append(target)
    return out, day, fund


def _assert_newest_live(lake: Lake, versions: list[Path], day: dt.date, fund: str) -> None:
    import hashlib

    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in versions]
    regs = [r for r in lake.read(canonical.FILE_REGISTRY).to_pylist() if r["sha256"] in shas]
    assert sorted(r["sha256"] for r in regs) == sorted(shas)  # one row per delivery
    assert [r["sha256"] for r in regs if r["status"] == "accepted"] == [shas[-1]]
    assert {r["status"] for r in regs if r["sha256"] != shas[-1]} == {"superseded"}
    live = Counter(
        r["source_file_sha256"]
        for r in lake.read("receivable_positions", None, ("fund_cnpj", "file_date", "source_file_sha256")).to_pylist()
        if (r["fund_cnpj"], r["file_date"]) == (fund, day)
    )
    data_lines = len(versions[-1].read_bytes().splitlines()) - 1
    assert live == {shas[-1]: data_lines}
    assert registry_problems(lake) == []


def test_four_versions_of_one_fund_day_in_sequence(sample):
    """Four runs, each receiving all four files of the fund-day (one run per file, files arriving together)."""
    root, _, _, by_fund_day, _ = sample
    versions, day, fund = _versions(root, by_fund_day, "seq-versions")
    lake = fresh_lake(root, "seq")
    barrier = mp.get_context("spawn").Barrier(1)
    results = mp.get_context("spawn").Queue()
    for _ in range(4):
        _land(str(root / "seq"), [str(p) for p in versions], day, fund, barrier, results)
        assert results.get(timeout=5)[1] is None
    _assert_newest_live(lake, versions, day, fund)
    for v in versions:  # one run per file, in order of delivery
        _land(str(root / "seq"), [str(v)], day, fund, barrier, results)
        assert results.get(timeout=5)[1] is None
    _assert_newest_live(lake, versions, day, fund)


@pytest.mark.slow
@pytest.mark.parametrize("each_receives_all", [False, True])
def test_four_versions_of_one_fund_day_at_once(sample, each_receives_all):
    root, _, _, by_fund_day, _ = sample
    versions, day, fund = _versions(root, by_fund_day, f"versions-{each_receives_all}")
    for trial in range(2):
        name = f"versions-{each_receives_all}-{trial}"
        lake = fresh_lake(root, name)
        jobs = [(versions if each_receives_all else [v], day, fund) for v in versions]
        assert run_at_once(root / name, jobs) == []
        _assert_newest_live(lake, versions, day, fund)


def test_same_bytes_resent_under_the_right_date_land_for_that_date(sample):
    """A custodian sends the 2nd's stock named as the 1st, then re-sends the same bytes under the right name."""
    root, _, days, by_fund_day, _ = sample
    import hashlib

    first, second = days
    right, _, fund = _stock_csv(by_fund_day, second)
    wrong = root / "wrong-date" / right.name.replace(second.strftime("%Y%m%d"), first.strftime("%Y%m%d"))
    wrong.parent.mkdir(parents=True, exist_ok=True)
    wrong.write_bytes(right.read_bytes())
    lake = fresh_lake(root, "resent")
    barrier, results = mp.get_context("spawn").Barrier(1), mp.get_context("spawn").Queue()
    _land(str(root / "resent"), [str(wrong)], first, fund, barrier, results)
    assert results.get(timeout=5)[1] is None
    _land(str(root / "resent"), [str(right)], second, fund, barrier, results)
    assert results.get(timeout=5)[1] is None
    sha = hashlib.sha256(right.read_bytes()).hexdigest()
    landed = Counter(
        r["file_date"]
        for r in lake.read("receivable_positions", None, ("fund_cnpj", "file_date", "source_file_sha256")).to_pylist()
        if r["source_file_sha256"] == sha
    )
    assert landed == {second: len(right.read_bytes().splitlines()) - 1}  # the right day landed, whole
    regs = {
        r["reference_date"]: r["status"] for r in lake.read(canonical.FILE_REGISTRY).to_pylist() if r["sha256"] == sha
    }
    # two deliveries of the same bytes, one per slice: under the wrong date every row's date is wrong, so that
    # one is quarantined whole (it would otherwise empty the 1st's slice), under the right date it lands
    assert regs == {first: "quarantined", second: "accepted"}
    assert registry_problems(lake) == []


def test_a_file_whose_every_row_is_rejected_does_not_replace_the_live_version(sample):
    """The 1st's stock lands; then the 2nd's stock arrives named as the 1st (every row's date is wrong): it is
    quarantined whole with its first rejected row named, and the 1st keeps its rows."""
    root, _, days, by_fund_day, _ = sample
    first, second = days
    good, _, fund = _stock_csv(by_fund_day, first)
    right, _, _ = _stock_csv(by_fund_day, second)
    wrong = root / "wrong-name" / good.name.replace(".csv", "_R2.csv")
    wrong.parent.mkdir(parents=True, exist_ok=True)
    wrong.write_bytes(right.read_bytes())
    os.utime(wrong, (good.stat().st_mtime + 60, good.stat().st_mtime + 60))  # delivered after the good one
    lake = fresh_lake(root, "all-rejected")
    specs = load_specs(CUSTODIANS_DIR)
    for path in (good, wrong):
        m = match_file(path.name, specs)
        assert m is not None and m.reference_date == first
        receive_files(lake, [(InboxFile(path, dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)), m)])
        report = land_slices(lake, specs, [first], day_funds=[(first, fund)])
    import hashlib

    good_sha, wrong_sha = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (good, wrong))
    assert wrong_sha in report.rejected_files
    err = report.rejected_files[wrong_sha]
    assert err.reason_code == "too_many_rejected_rows" and "all " in err.message and "line 2" in err.message
    live = {
        r["source_file_sha256"]
        for r in lake.read("receivable_positions", None, ("fund_cnpj", "file_date", "source_file_sha256")).to_pylist()
        if r["fund_cnpj"] == fund and r["file_date"] == first
    }
    assert live == {good_sha}
    regs = {r["sha256"]: r["status"] for r in lake.read(canonical.FILE_REGISTRY).to_pylist() if r["fund_cnpj"] == fund}
    assert regs == {good_sha: "accepted", wrong_sha: "quarantined"}
    quarantine = [r for r in lake.read(canonical.QUARANTINE).to_pylist() if r["source_file_sha256"] == wrong_sha]
    assert [r["reason_code"] for r in quarantine] == ["too_many_rejected_rows"]
    assert registry_problems(lake) == []


@pytest.mark.parametrize("repair", ["reconcile", "next landing"])
def test_a_crash_between_the_data_and_the_registry_commits_is_repaired(sample, monkeypatch, repair):
    from fidc_assets.lib.ingest import landing

    root, _, _, by_fund_day, truth = sample
    stock, day, fund = _stock_csv(by_fund_day)
    paths = by_fund_day[(day, fund)]
    lake = fresh_lake(root, f"crash-{repair.replace(' ', '-')}")
    specs = load_specs(CUSTODIANS_DIR)
    files = [
        (InboxFile(p, dt.datetime.fromtimestamp(p.stat().st_mtime, tz=dt.UTC)), match_file(p.name, specs))
        for p in paths
    ]
    receive_files(lake, files)  # type: ignore[arg-type]

    def crash(*args, **kwargs):
        raise SystemExit("killed between the data commit and the registry commit")

    with monkeypatch.context() as m:
        m.setattr(landing, "_commit_registry", crash)
        with pytest.raises(SystemExit):
            land_slices(lake, specs, [day], entities=["receivable_positions"], day_funds=[(day, fund)])
    expected = {k: n for k, n in truth.items() if (k[0], k[2], k[3]) == ("receivable_positions", fund, day)}
    assert live_rows(lake) == expected  # the data commit landed
    status = {r["original_name"]: r["status"] for r in lake.read(canonical.FILE_REGISTRY).to_pylist()}
    assert status[stock.name] == "received"  # ... and the registry does not say so yet
    if repair == "reconcile":
        assert landing.reconcile_registry(lake, [day]) == 1 + sum(1 for p in paths if p != stock)
    else:
        land_slices(lake, specs, [day], entities=["receivable_positions"], day_funds=[(day, fund)])
    assert live_rows(lake) == expected
    registry = {r["original_name"]: r for r in lake.read(canonical.FILE_REGISTRY).to_pylist()}
    assert registry[stock.name]["status"] == "accepted"
    assert registry[stock.name]["rows_accepted"] == sum(expected.values())
    # the other entities' files never landed: the registry keeps saying so
    assert {n: r["status"] for n, r in registry.items() if n != stock.name} == {
        p.name: "received" for p in paths if p != stock
    }


# -- the measurement of the figures --------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description="8 concurrent fund-day landings of one month, repeated")
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fidc-concurrent-"))
    try:
        inbox, days, by_fund_day = make_sample(root)
        truth = sequential_truth(root, inbox, days)
        failed = lost_or_doubled = registry_bad = 0
        for trial in range(args.trials):
            name = f"trial-{trial}"
            lake = fresh_lake(root, name)
            errors = run_at_once(root / name, [(ps, d, f) for (d, f), ps in sorted(by_fund_day.items())])
            failed += len(errors)
            for e in errors:
                print(f"  trial {trial}: {e[:160]}")
            lost_or_doubled += live_rows(lake) != truth
            registry_bad += bool(registry_problems(lake))
        total = args.trials * len(by_fund_day)
        print(
            f"{failed} of {total} landings failed; trials with rows lost or doubled: {lost_or_doubled}; "
            f"trials with registry inconsistencies: {registry_bad} (of {args.trials})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
