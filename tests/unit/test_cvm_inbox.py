"""The CVM inbox's logic (fidc_assets.lib.regulatory.inbox): which zip a month is landed from, and which
months the sensor requests for new or changed zips."""

from __future__ import annotations

import datetime as dt

from fidc_assets.lib.core.shipped import SHIPPED
from fidc_assets.lib.ingest.inbox import Listing
from fidc_assets.lib.regulatory.inbox import new_publications, newest_for_month, published_on
from fidc_assets.lib.regulatory.spec import load_cvm_spec

SPEC = load_cvm_spec(SHIPPED.cvm_spec)
DAY_NS = 86_400 * 10**9


def listing(path: str, mtime_day: int = 0, size: int = 10) -> Listing:
    return Listing(path, size, (19_900 + mtime_day) * DAY_NS)


def test_the_newest_publication_of_a_month_wins():
    first = listing("/in/2024-08-05/inf_mensal_fidc_202407.zip", mtime_day=30)
    again = listing("/in/2024-09-02/inf_mensal_fidc_202407.zip", mtime_day=1)  # older mtime, later folder
    yearly = listing("/in/2025-01-10/inf_mensal_fidc_2024.zip")
    other = listing("/in/inf_mensal_fidc_202406.zip")
    assert published_on(again) == dt.date(2024, 9, 2)
    assert newest_for_month([first, again, other], SPEC, dt.date(2024, 7, 1)) == again
    assert newest_for_month([first, again, yearly], SPEC, dt.date(2024, 7, 1)) == yearly
    assert newest_for_month([first, again], SPEC, dt.date(2024, 5, 1)) is None
    assert newest_for_month([listing("/in/notes.zip")], SPEC, dt.date(2024, 7, 1)) is None


def test_the_sensor_requests_each_month_of_a_new_or_changed_zip_once():
    monthly = listing("/in/2024-08-05/inf_mensal_fidc_202407.zip")
    yearly = listing("/in/inf_mensal_fidc_2018.zip")  # months before the partitions' start are not requested
    requests, cursor = new_publications([monthly, yearly], SPEC, None, first_month=dt.date(2018, 7, 1))
    assert [r.partition_key for r in requests] == [
        *(f"2018-{m:02d}-01" for m in range(7, 13)),
        "2024-07-01",
    ]
    assert new_publications([monthly, yearly], SPEC, cursor, dt.date(2018, 7, 1))[0] == []
    changed = listing("/in/2024-08-05/inf_mensal_fidc_202407.zip", size=11)
    again, _ = new_publications([changed, yearly], SPEC, cursor, dt.date(2018, 7, 1))
    assert [(r.partition_key, r.zip_path) for r in again] == [("2024-07-01", changed.path)]
    assert again[0].run_key != requests[-1].run_key


def test_the_dagster_sensor_requests_the_months_of_new_zips(tmp_path, monkeypatch):
    import dagster as dg

    from fidc_assets.defs import regulatory
    from fidc_assets.defs.resources import LakehouseResource

    inbox = tmp_path / "cvm"
    (inbox / "2024-08-05").mkdir(parents=True)
    (inbox / "2024-08-05" / "inf_mensal_fidc_202407.zip").write_bytes(b"PK")
    (inbox / "readme.txt").write_text("not a report")
    monkeypatch.setenv("FIDC_CVM_INBOX", str(inbox))
    [sensor] = regulatory.definitions().sensors or []
    assert isinstance(sensor, dg.SensorDefinition)
    resources = {"lakehouse": LakehouseResource(home=str(tmp_path / "home"))}
    with dg.build_sensor_context(cursor=None, resources=resources) as ctx:
        first = sensor(ctx)
    assert isinstance(first, dg.SensorResult) and first.run_requests is not None
    assert [(r.partition_key, r.job_name) for r in first.run_requests] == [("2024-07-01", None)]
    with dg.build_sensor_context(cursor=first.cursor, resources=resources) as ctx:
        again = sensor(ctx)
    assert isinstance(again, dg.SensorResult) and not again.run_requests
