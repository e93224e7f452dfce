"""The Dagster inbox sensor per scenario: the run requests it makes and the cursor it leaves."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest

from fidc_assets.defs.ingest.sensors import inbox_sensor
from fidc_assets.defs.resources import LakehouseResource
from fidc_assets.lib.core.documents import cnpj_check_digits
from fidc_assets.lib.core.funds import Fund as RegistryFund
from fidc_assets.lib.core.funds import FundRegistry, Manager, write_fund_registry
from fidc_assets.lib.ingest.inbox import run_key

FUND = "17556821000101"


@pytest.fixture()
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def sensor() -> dg.SensorDefinition:
    return inbox_sensor(dg.define_asset_job("ingest_files", selection="*"))


def _write(inbox: Path, name: str, content: bytes, mtime: float) -> Path:
    path = inbox / name
    path.write_bytes(content)
    os.utime(path, (mtime, mtime))
    return path


def _lakehouse(inbox: Path) -> LakehouseResource:
    lake_dir = inbox.parent / "lake"
    registry = inbox.parent / "funds.yaml"
    if not registry.exists():
        write_fund_registry(
            registry,
            FundRegistry(
                managers=(Manager(id="aurora", name="Aurora Gestão"),),
                funds=(RegistryFund(cnpj=FUND, name="FIDC TESTE", manager="aurora"),),
            ),
        )
    return LakehouseResource(
        inbox=str(inbox),
        catalog_uri=f"sqlite:///{lake_dir / 'catalog.db'}",
        warehouse=(lake_dir / "wh").as_uri(),
        funds_file=str(registry),
    )


def _tick(sensor, inbox: Path, cursor: str | None = None, instance=None) -> dg.SensorResult:
    with dg.DagsterInstance.ephemeral() as fresh:
        inst = instance or fresh
        if instance is None:
            inst.add_dynamic_partitions("funds", [FUND])
        with dg.build_sensor_context(cursor=cursor, resources={"lakehouse": _lakehouse(inbox)}, instance=inst) as ctx:
            return sensor(ctx)


def _cursor(result: dg.SensorResult) -> dict:
    assert result.cursor is not None, "the sensor set no cursor"
    return json.loads(result.cursor)


def _runs(result: dg.SensorResult) -> Sequence[dg.RunRequest]:
    assert result.run_requests is not None, "the sensor returned no run requests"
    return result.run_requests


def _requests(result) -> list[tuple[str, str | None, str]]:
    """(file names, partition, run key) per run request; names comma-separated, in name order."""
    return [(r.tags["fidc/files"], r.partition_key, r.run_key) for r in result.run_requests or []]


def test_first_delivery(sensor, inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    result = _tick(sensor, inbox)
    [(name, partition, run_key)] = _requests(result)
    assert (name, partition) == (f"ESTOQUE_{FUND}_20240701.csv", f"2024-07-01|{FUND}")
    assert len(run_key) == 64
    cursor = _cursor(result)
    assert cursor["newest"] == [1_000 * 10**9, f"ESTOQUE_{FUND}_20240701.csv"]


def test_same_file_again_makes_no_request_and_keeps_the_cursor(sensor, inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    first = _tick(sensor, inbox)
    second = _tick(sensor, inbox, first.cursor)
    assert _requests(second) == [] and second.cursor == first.cursor
    assert second.skip_reason is not None and "no new files" in (second.skip_reason.skip_message or "")
    # the same bytes again under another name (a re-delivery) start no run either
    _write(inbox, f"ESTOQUE_{FUND}_20240701_copia.csv", b"a", 2_000)
    third = _tick(sensor, inbox, second.cursor)
    assert _requests(third) == []


def test_corrected_file_starts_a_run_for_its_day(sensor, inbox: Path):
    path = _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    first = _tick(sensor, inbox)
    _write(inbox, path.name, b"a, corrected", 2_000)
    second = _tick(sensor, inbox, first.cursor)
    [(name, partition, run_key)] = _requests(second)
    assert (name, partition) == (path.name, f"2024-07-01|{FUND}")
    assert run_key != _requests(first)[0][2]
    assert _cursor(second)["newest"] == [2_000 * 10**9, path.name]


def test_late_file_older_than_the_cursor(sensor, inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240702.csv", b"b", 5_000)
    first = _tick(sensor, inbox)
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    second = _tick(sensor, inbox, first.cursor)
    assert [(n, p) for n, p, _ in _requests(second)] == [(f"ESTOQUE_{FUND}_20240701.csv", f"2024-07-01|{FUND}")]
    assert _cursor(second)["newest"] == [5_000 * 10**9, f"ESTOQUE_{FUND}_20240702.csv"]


def test_unmatched_and_non_business_day_files_are_moved_aside(sensor, inbox: Path):
    _write(inbox, "relatorio.pdf", b"%PDF", 1_000)
    _write(inbox, f"ESTOQUE_{FUND}_20240706.csv", b"saturday", 1_000)  # 2024-07-06 is a Saturday
    result = _tick(sensor, inbox)
    assert _requests(result) == []
    moved = sorted(p.name for p in (inbox / "unmatched").rglob("*") if p.is_file())
    assert moved == [f"ESTOQUE_{FUND}_20240706.csv", "relatorio.pdf"]
    assert _cursor(result)["files"] == {}
    assert _requests(_tick(sensor, inbox, result.cursor)) == []  # the unmatched area is not watched


def test_files_the_lake_already_holds_start_no_run(sensor, inbox: Path):
    """After `make demo`, a fresh sensor (empty cursor) must not re-run every file of the inbox."""
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.landing import receive_files, scan_inbox
    from fidc_assets.lib.ingest.specs import load_specs

    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"landed before", 1_000)
    specs = load_specs(CUSTODIANS_DIR)
    matched, _ = scan_inbox(inbox, specs)
    receive_files(_lakehouse(inbox).lake(), matched)
    _write(inbox, f"ESTOQUE_{FUND}_20240702.csv", b"new", 2_000)
    result = _tick(sensor, inbox)
    assert [n for n, _, _ in _requests(result)] == [f"ESTOQUE_{FUND}_20240702.csv"]
    assert len(_cursor(result)["files"]) == 2


def test_a_thousand_files_in_one_tick(sensor, inbox: Path):
    days = ["20240701", "20240702", "20240703", "20240704", "20240705"]
    for i in range(1000):
        _write(inbox, f"ESTOQUE_{FUND}_{days[i % 5]}_{i}.csv", f"{i}".encode(), 1_000 + i)
    started = time.perf_counter()
    result = _tick(sensor, inbox)
    elapsed = time.perf_counter() - started
    assert len(_requests(result)) == 5  # one run per fund-day, each with its 200 files
    assert sum(int(r.tags["fidc/file_count"]) for r in _runs(result)) == 1000
    assert {p for _, p, _ in _requests(result)} == {
        f"2024-07-01|{FUND}",
        f"2024-07-02|{FUND}",
        f"2024-07-03|{FUND}",
        f"2024-07-04|{FUND}",
        f"2024-07-05|{FUND}",
    }
    print(f"\n1000 files in one tick: {elapsed:.2f} s (the sensor timeout is 60 s)")


def test_a_fund_outside_the_registry_is_set_aside(sensor, inbox: Path):
    """A custodian sending a fund this administrator does not serve: reported and moved aside, not landed."""
    other = "11222333000181"
    _write(inbox, f"ESTOQUE_{other}_20240701.csv", b"x", 1_000)
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    result = _tick(sensor, inbox)
    assert [n for n, _, _ in _requests(result)] == [f"ESTOQUE_{FUND}_20240701.csv"]
    assert [p.name for p in (inbox / "unmatched").rglob("*.csv")] == [f"ESTOQUE_{other}_20240701.csv"]


def test_registry_funds_become_partitions(sensor, inbox: Path):
    """A fund added to the registry is added to the `funds` partitions on the next tick, once."""
    with dg.DagsterInstance.ephemeral() as instance:
        _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
        first = _tick(sensor, inbox, instance=instance)
        assert first.dynamic_partitions_requests is not None
        [add] = first.dynamic_partitions_requests
        assert (add.partitions_def_name, list(add.partition_keys)) == ("funds", [FUND])
        assert [p for _, p, _ in _requests(first)] == [f"2024-07-01|{FUND}"]
        instance.add_dynamic_partitions("funds", [FUND])  # what the daemon does with the request
        second = _tick(sensor, inbox, first.cursor, instance=instance)
        assert not second.dynamic_partitions_requests


def test_one_run_per_fund_day_keyed_by_its_files(sensor, inbox: Path):
    """Four files of one fund-day and one of another: two runs; the key is the fund-day's set of bytes."""
    for i, name in enumerate(
        [f"ESTOQUE_{FUND}_20240701.csv", f"ESTOQUE_{FUND}_20240701_b.csv", f"ESTOQUE_{FUND}_20240701_c.csv"]
    ):
        _write(inbox, name, f"{i}".encode(), 1_000 + i)
    _write(inbox, f"ESTOQUE_{FUND}_20240702.csv", b"next day", 1_100)
    result = _tick(sensor, inbox)
    reqs = sorted(_runs(result), key=lambda r: r.partition_key or "")
    assert [(r.partition_key, r.tags["fidc/file_count"]) for r in reqs] == [
        (f"2024-07-01|{FUND}", "3"),
        (f"2024-07-02|{FUND}", "1"),
    ]
    assert reqs[0].tags["fidc/files"] == (
        f"ESTOQUE_{FUND}_20240701.csv, ESTOQUE_{FUND}_20240701_b.csv, ESTOQUE_{FUND}_20240701_c.csv"
    )
    assert reqs[0].run_key == run_key(reqs[0].tags["fidc/sha256s"].split(","))
    pending = _cursor(result)["pending"].values()  # keyed by delivery; each entry carries the file's bytes
    assert {v[4] for v in pending} == {s for r in reqs for s in r.tags["fidc/sha256s"].split(",")}


def _pending_ago(result: dg.SensorResult, seconds: float) -> str:
    """The result's cursor as if its requests had been made `seconds` earlier."""
    raw = _cursor(result)
    for v in raw["pending"].values():
        v[2] -= seconds
    return json.dumps(raw)


def test_a_file_not_landed_is_requested_again_after_the_delay(sensor, inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    first = _tick(sensor, inbox)
    [(_, partition, key)] = _requests(first)
    # next tick, within the delay: nothing
    assert _requests(_tick(sensor, inbox, first.cursor)) == []
    # the run never landed it (killed, never started) and the delay (10 min by default) is past: asked again
    late = _tick(sensor, inbox, _pending_ago(first, 11 * 60))
    [(_, again_partition, again_key)] = _requests(late)
    assert again_partition == partition and again_key != key and again_key.startswith(key)
    assert _runs(late)[0].tags["fidc/attempt"] == "2"
    [entry] = _cursor(late)["pending"].values()
    assert entry[3] == 2  # attempt


def test_a_landed_file_is_no_longer_pending(sensor, inbox: Path):
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.landing import receive_files, scan_inbox
    from fidc_assets.lib.ingest.specs import load_specs

    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    first = _tick(sensor, inbox)
    assert len(_cursor(first)["pending"]) == 1
    matched, _ = scan_inbox(inbox, load_specs(CUSTODIANS_DIR))
    receive_files(_lakehouse(inbox).lake(), matched)  # what the run does first
    later = _tick(sensor, inbox, _pending_ago(first, 11 * 60))
    assert _requests(later) == [] and _cursor(later)["pending"] == {}


def test_a_v1_cursor_still_loads(sensor, inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 1_000)
    raw = _cursor(_tick(sensor, inbox))
    v1 = json.dumps({"v": 1, "newest": raw["newest"], "files": raw["files"]})
    result = _tick(sensor, inbox, v1)
    assert _requests(result) == [] and _cursor(result)["pending"] == {}


def test_a_longest_name_delivered_twice_never_stalls_the_sensor(sensor, inbox: Path):
    """Issue 13, defect 1: the second 255-byte name of a day failed to be set aside and every later tick
    raised, so no file of anyone was ingested any more."""
    long_name = "r" * 251 + ".pdf"
    _write(inbox, long_name, b"first", 1_000)
    first = _tick(sensor, inbox)
    _write(inbox, long_name, b"second", 2_000)
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"a", 2_000)
    second = _tick(sensor, inbox, first.cursor)
    assert [n for n, _, _ in _requests(second)] == [f"ESTOQUE_{FUND}_20240701.csv"]
    assert len([p for p in (inbox / "unmatched").rglob("*") if p.is_file()]) == 2


def test_a_name_with_a_newline_is_set_aside_with_its_reason(sensor, inbox: Path):
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv\n", b"a", 1_000)
    result = _tick(sensor, inbox)
    assert _requests(result) == []
    [moved] = [p for p in (inbox / "unmatched").rglob("*") if p.is_file()]
    assert "\n" not in moved.name


def test_the_same_bytes_under_a_corrected_name_are_a_new_delivery(sensor, inbox: Path):
    """Bytes first sent under the wrong date and re-sent under the right one: the right day gets its run; the
    same bytes under another name for the same slice do not."""
    from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
    from fidc_assets.lib.ingest.landing import receive_files, scan_inbox
    from fidc_assets.lib.ingest.specs import load_specs

    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"stock of the 2nd", 1_000)
    first = _tick(sensor, inbox)
    matched, _ = scan_inbox(inbox, load_specs(CUSTODIANS_DIR))
    receive_files(_lakehouse(inbox).lake(), matched)  # the run received it for the 1st
    _write(inbox, f"ESTOQUE_{FUND}_20240702.csv", b"stock of the 2nd", 1_100)  # re-sent, right date
    _write(inbox, f"ESTOQUE_{FUND}_20240701_copia.csv", b"stock of the 2nd", 1_200)  # same slice: not new
    second = _tick(sensor, inbox, first.cursor)
    assert [p for _, p, _ in _requests(second)] == [f"2024-07-02|{FUND}"]


def test_a_run_lands_only_the_entities_of_its_files(sensor, inbox: Path):
    """A stock file and a settlements file of one fund-day: the run receives them and lands those two entities,
    not the day's acquisitions or quotas (which would re-land, and re-trigger downstream, for nothing)."""
    _write(inbox, f"ESTOQUE_{FUND}_20240701.csv", b"stock", 1_000)
    _write(inbox, f"liquidacoes_{FUND}_20240701.json", b"[]", 1_001)
    [request] = _runs(_tick(sensor, inbox))
    assert request.asset_selection is not None
    assert sorted(k.to_user_string() for k in request.asset_selection) == [
        "lake/custodian_files",
        "lake/receivable_positions",
        "lake/settlements",
    ]


def _funds_registry(inbox: Path, cnpjs: list[str]) -> None:
    write_fund_registry(
        inbox.parent / "funds.yaml",
        FundRegistry(
            managers=(Manager(id="aurora", name="Aurora Gestão"),),
            funds=tuple(RegistryFund(cnpj=c, name=f"FIDC {i}", manager="aurora") for i, c in enumerate(cnpjs)),
        ),
    )


@pytest.mark.parametrize("per_run", [None, "2"])
def test_a_dates_files_of_adjacent_funds_share_a_run(sensor, inbox: Path, monkeypatch, per_run):
    """Every fund's file of one date dropped at once: one run over the range of those fund-days (at most
    FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN of them), not one per fund; its tags list the fund-days and the files."""
    funds = [f"{base}{cnpj_check_digits(base)}" for base in ("175568210001", "112223330001", "334445550001")]
    _funds_registry(inbox, funds)
    if per_run:
        monkeypatch.setenv("FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN", per_run)
    for i, fund in enumerate(funds):
        _write(inbox, f"ESTOQUE_{fund}_20240701.csv", f"stock {i}".encode(), 1_000 + i)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", funds)
        reqs = _runs(_tick(sensor, inbox, instance=instance))
    keys = [f"2024-07-01|{f}" for f in funds]
    if per_run is None:  # the default bound (25) holds all three
        [req] = reqs
        assert req.partition_key is None
        assert (req.tags["dagster/asset_partition_range_start"], req.tags["dagster/asset_partition_range_end"]) == (
            keys[0],
            keys[-1],
        )
        assert req.tags["fidc/partitions"] == ",".join(keys) and req.tags["fidc/file_count"] == "3"
        assert req.run_key == run_key(req.tags["fidc/sha256s"].split(","))
    else:
        assert [r.tags["fidc/partitions"] for r in reqs] == [",".join(keys[:2]), keys[2]]
        assert reqs[1].partition_key == keys[2] and "dagster/asset_partition_range_start" not in reqs[1].tags


def test_a_batch_run_in_progress_holds_back_the_re_request_of_its_files(sensor, inbox: Path, monkeypatch):
    """The reconciliation waits for a run still in progress: for a batch run, for each fund-day it lands."""
    funds = [f"{base}{cnpj_check_digits(base)}" for base in ("175568210001", "112223330001")]
    _funds_registry(inbox, funds)
    for i, fund in enumerate(funds):
        _write(inbox, f"ESTOQUE_{fund}_20240701.csv", f"stock {i}".encode(), 1_000 + i)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("funds", funds)
        [req] = _runs(first := _tick(sensor, inbox, instance=instance))
        instance.add_run(
            dg.DagsterRun(job_name="ingest_files", run_id="a" * 36, status=dg.DagsterRunStatus.STARTED, tags=req.tags)
        )
        late = _pending_ago(first, 3600)
        assert not _tick(sensor, inbox, late, instance=instance).run_requests  # its run is running: waiting
        started = instance.get_run_by_id("a" * 36)
        assert started is not None
        instance.report_run_failed(started)
        [again] = _runs(_tick(sensor, inbox, late, instance=instance))
        assert again.tags["fidc/partitions"] == req.tags["fidc/partitions"] and again.tags["fidc/attempt"] == "2"
