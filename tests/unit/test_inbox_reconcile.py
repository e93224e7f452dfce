"""The sensor's reconciliation, pure: cursor's pending files + registry + inbox + runs in progress + clock."""

from fidc_assets.lib.ingest.inbox import InboxCursor, Pending, group_by_fund_day, reconcile, run_key

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
