"""The health report: ok / warn / down per check, a hung check counts as down, the first problem as one line,
and the freshness day of expected deliveries."""

from __future__ import annotations

import datetime as dt
import json
import threading

from fidc_assets.lib.ops.health import Check, Status, Warning_, freshness_day, run_checks


def _raise(e: BaseException):
    def run() -> str:
        raise e

    return run


def test_the_report_names_the_first_critical_failure_and_warnings_do_not_fail_it():
    release = threading.Event()
    report = run_checks(
        [
            Check("a", lambda: "fine"),
            Check("late", _raise(Warning_("2 missing")), critical=False),
            Check("b", _raise(ConnectionRefusedError("connection refused\n  on port 1"))),
            Check("hung", lambda: str(release.wait(30))),
            Check("optional", _raise(OSError("gone")), critical=False),
        ],
        timeout=0.5,
    )
    release.set()
    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"a": Status.OK, "late": Status.WARN, "b": Status.DOWN, "hung": Status.DOWN,
                        "optional": Status.WARN}  # fmt: skip
    assert not report.ok and report.timed_out
    assert report.reason == "b down: ConnectionRefusedError: connection refused on port 1"
    as_json = json.loads(json.dumps(report.as_dict()))
    assert as_json["ok"] is False and [c["status"] for c in as_json["checks"]] == ["ok", "warn", "down", "down", "warn"]


def test_warnings_alone_keep_the_report_ok_with_a_reason():
    report = run_checks([Check("a", lambda: "fine"), Check("late", _raise(Warning_("1 missing")), critical=False)])
    assert report.ok and not report.timed_out and report.reason == "late warn: 1 missing"
    assert run_checks([Check("a", lambda: "fine")]).reason is None


def test_the_freshness_day_is_the_latest_business_day_in_sao_paulo():
    # 2024-07-06 is a Saturday; 01:00 UTC on Tuesday 2024-07-02 is still Monday in São Paulo
    assert freshness_day(dt.datetime(2024, 7, 6, 15, tzinfo=dt.UTC)) == dt.date(2024, 7, 5)
    assert freshness_day(dt.datetime(2024, 7, 2, 1, tzinfo=dt.UTC)) == dt.date(2024, 7, 1)
