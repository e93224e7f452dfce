"""The CVM inbox (FIDC_CVM_INBOX): where downloaded Informe Mensal zips are dropped, as published
(`inf_mensal_fidc_<YYYYMM>.zip`, `inf_mensal_fidc_<YYYY>.zip`), in any folder below it.

The CVM re-publishes a month under the same name when reports change after the filing window, so one month
may have several zips. Their order is the publication order: the date of a `YYYY-MM-DD` folder the zip sits
in (the day it was downloaded: keep each download in its own dated folder), else the file's modification
time; then its path. `newest_for_month` picks the zip a month is landed from: the newest publication that
covers it (a monthly zip of the month or the yearly zip of its year; a monthly zip wins a tie with the yearly
one). The sensor's logic (`new_publications`) is pure: listings and a cursor in, requests and a cursor out.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import re
from dataclasses import dataclass

from fidc_assets.lib.core.months import month_key
from fidc_assets.lib.ingest.inbox import Listing
from fidc_assets.lib.regulatory.spec import CvmSpec, zip_period

_DATED_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def published_on(listing: Listing) -> dt.date:
    """The publication date: the nearest `YYYY-MM-DD` folder above the zip, else its modification day (UTC)."""
    for part in reversed(posixpath.dirname(listing.path).split("/")):
        if _DATED_FOLDER.match(part):
            try:
                return dt.date.fromisoformat(part)
            except ValueError:
                continue
    return dt.datetime.fromtimestamp(listing.mtime_ns / 1e9, dt.UTC).date()


def publication_order(listing: Listing) -> tuple[dt.date, int, str]:
    return (published_on(listing), listing.mtime_ns, listing.path)


def report_zips(listings: list[Listing], spec: CvmSpec) -> list[Listing]:
    """The listings whose names are a report's zip, in publication order."""
    return sorted((item for item in listings if zip_period(spec, item.name) is not None), key=publication_order)


def newest_for_month(listings: list[Listing], spec: CvmSpec, month: dt.date) -> Listing | None:
    def covers(item: Listing) -> bool:
        period = zip_period(spec, item.name)
        return period is not None and period[0] <= month <= period[1]

    candidates = [item for item in report_zips(listings, spec) if covers(item)]
    if not candidates:
        return None
    newest = publication_order(candidates[-1])[0]
    same_day = [c for c in candidates if publication_order(c)[0] == newest]
    monthly = [c for c in same_day if zip_period(spec, c.name) == (month, month)]
    return (monthly or same_day)[-1]


@dataclass(frozen=True)
class MonthRequest:
    """One month to land again because a zip covering it arrived or changed."""

    month: dt.date
    zip_path: str
    run_key: str  # the zip's identity and the month

    @property
    def partition_key(self) -> str:
        return f"{self.month:%Y-%m-%d}"


def _months(spec: CvmSpec, name: str) -> list[dt.date]:
    period = zip_period(spec, name)
    if period is None:
        return []
    out, m = [], period[0]
    while m <= period[1]:
        out.append(m)
        m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def new_publications(
    listings: list[Listing], spec: CvmSpec, cursor: str | None, first_month: dt.date
) -> tuple[list[MonthRequest], str]:
    """The months to land for zips not seen before (by path, size and modification time), and the new cursor
    (every zip seen). Months before `first_month` (the partitions' start) are not requested."""
    seen: dict[str, list[int]] = json.loads(cursor) if cursor else {}
    requests = []
    for item in report_zips(listings, spec):
        identity = [item.size, item.mtime_ns]
        if seen.get(item.path) == identity:
            continue
        seen[item.path] = identity
        for month in _months(spec, item.name):
            if month >= first_month:
                key = f"{item.path}|{item.size}|{item.mtime_ns}|{month_key(month)}"
                requests.append(MonthRequest(month, item.path, key))
    return requests, json.dumps(seen, sort_keys=True)
