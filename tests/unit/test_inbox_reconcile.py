"""The sensor's reconciliation, pure: cursor's pending files + registry + inbox + runs in progress + clock."""

from fidc_assets.lib.ingest.inbox import InboxCursor, Pending, batch_fund_days, group_by_fund_day, reconcile, run_key

P = "2024-07-01|17556821000101"


def _pending(at: float, attempt: int = 1, path: str = "/inbox/a.csv", partition: str = P, sha: str = "") -> Pending:
    return Pending(path, partition, at, attempt, sha or f"sha-of-{path}")


def test_each_outcome():
    pending = {
        "landed": _pending(0, path="/inbox/l.csv"),
        "gone": _pending(0, path="/inbox/g.csv"),
        "recent": _pending(500, path="/inbox/r.csv"),
        "running": _pending(0, path="/inbox/x.csv", partition="2024-07-02|17556821000101"),
        "late": _pending(0, attempt=2, path="/inbox/o.csv"),
    }
    present = {"/inbox/l.csv", "/inbox/r.csv", "/inbox/x.csv", "/inbox/o.csv"}
    rec = reconcile(pending, {"landed"}, present, {"2024-07-02|17556821000101"}, now=600, after_seconds=300)
    assert rec.landed == ["landed"]
    assert [s for s, _ in rec.vanished] == ["gone"]
    assert sorted(s for s, _ in rec.waiting) == ["recent", "running"]
    [(sha, again)] = rec.overdue
    assert (sha, again.attempt, again.requested_at, again.partition_key) == ("late", 3, 600, P)
    assert again.sha256 == "sha-of-/inbox/o.csv"  # the bytes travel with the re-request


def test_exactly_at_the_delay_is_overdue():
    rec = reconcile({"s": _pending(100)}, set(), {"/inbox/a.csv"}, set(), now=400, after_seconds=300)
    assert [s for s, _ in rec.overdue] == ["s"]
    rec = reconcile({"s": _pending(101)}, set(), {"/inbox/a.csv"}, set(), now=400, after_seconds=300)
    assert rec.overdue == [] and [s for s, _ in rec.waiting] == ["s"]


def test_fund_day_grouping_and_run_keys():
    reqs = group_by_fund_day(
        [
            ("k2", _pending(0, path="/i/2.csv", sha="b")),
            ("k1", _pending(0, path="/i/1.csv", sha="a")),
            ("k3", _pending(0, partition="z", sha="c")),
        ]
    )
    assert [(r.partition_key, r.shas) for r in reqs] == [(P, ("a", "b")), ("z", ("c",))]
    assert reqs[0].run_key == run_key(["b", "a"]) != run_key(["a"])
    assert run_key(["a", "b"], attempt=2) == run_key(["a", "b"]) + "-2"


def test_cursor_round_trip_with_pending():
    cursor = InboxCursor({"/i/1.csv": (1, 2, "a")}, (2, "1.csv"), {"d1": _pending(5.5, 2, "/i/1.csv", sha="a")})
    assert InboxCursor.from_json(cursor.to_json()) == cursor


def test_a_cursor_from_before_delivery_keys_reads_its_key_as_the_sha256():
    old = '{"v":2,"newest":null,"files":{},"pending":{"abc":["/i/1.csv","2024-07-01|1",5.0,1]}}'
    assert InboxCursor.from_json(old).pending["abc"].sha256 == "abc"


def _fund_day(day: str, fund: str, sha: str, attempt: int = 1):
    [req] = group_by_fund_day([(sha, _pending(0, attempt, path=f"/i/{sha}.csv", partition=f"{day}|{fund}", sha=sha))])
    return req


def test_adjacent_funds_of_one_date_share_a_run_up_to_the_bound():
    order = ["f1", "f2", "f3", "f4", "f5"]
    reqs = [_fund_day("2024-07-01", f, f"s{f}") for f in ("f4", "f1", "f2", "f3")] + [
        _fund_day("2024-07-02", "f1", "t1")
    ]
    both = ("receivable_positions", "settlements")
    entities = {r.partition_key: both for r in reqs}
    batches = batch_fund_days(reqs, order, entities, max_fund_days=3)
    assert [b.partition_keys for b in batches] == [
        ["2024-07-01|f1", "2024-07-01|f2", "2024-07-01|f3"],  # the bound
        ["2024-07-01|f4"],
        ["2024-07-02|f1"],  # another date: another run
    ]
    assert batches[0].run_key == run_key(["sf1", "sf2", "sf3"]) and batches[0].entities == both
    # a batch of one fund-day keeps that fund-day's key: one run per fund-day is max_fund_days=1
    assert batches[1].run_key == reqs[0].run_key
    assert [b.partition_keys for b in batch_fund_days(reqs, order, entities, 1)] == [
        [r] for r in sorted(r.partition_key for r in reqs)
    ]


def test_a_gap_in_the_fund_order_or_other_entities_split_the_run():
    """A run's range is every fund from its first to its last: a fund in between with nothing new would be
    re-landed for nothing, so it splits the run; so do files of other entities (a run lands only its own)."""
    order = ["f1", "f2", "f3", "f4"]
    reqs = [_fund_day("2024-07-01", f, f"s{f}") for f in ("f1", "f3", "f4")] + [_fund_day("2024-07-01", "f9", "s9")]
    entities = {r.partition_key: ("receivable_positions",) for r in reqs}
    entities["2024-07-01|f4"] = ("settlements",)
    batches = batch_fund_days(reqs, order, entities, max_fund_days=25)
    assert [(b.partition_keys, b.entities) for b in batches] == [
        (["2024-07-01|f1"], ("receivable_positions",)),
        (["2024-07-01|f3"], ("receivable_positions",)),
        (["2024-07-01|f4"], ("settlements",)),
        (["2024-07-01|f9"], ("receivable_positions",)),  # not a partition yet: alone
    ]


def test_a_batch_is_retried_under_its_highest_attempt():
    reqs = [_fund_day("2024-07-01", "f1", "a"), _fund_day("2024-07-01", "f2", "b", attempt=3)]
    [batch] = batch_fund_days(reqs, ["f1", "f2"], {r.partition_key: ("x",) for r in reqs}, 25)
    assert (batch.attempt, batch.run_key) == (3, run_key(["a", "b"], attempt=3))
    assert [p.sha256 for p in batch.files] == ["a", "b"]
