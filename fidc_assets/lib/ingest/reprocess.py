"""The dead-letter queue's second half: list what is quarantined, and land it again after a fix.

A quarantined file (rejected whole) or a file with rejected rows keeps its bytes in the raw archive and its
row in the registry. After a spec or registry fix (a layout corrected, an asset type or a fund added),
`reprocess` re-parses the archived bytes of the selected deliveries with the current specs and replaces
their slices through the ordinary landing path (`land_slices`, with quarantined files candidates again):
the slice is replaced atomically, its quarantine rows are rewritten from the new parse, and the registry
ends with one `accepted` version of the slice.
"""

# pyiceberg's expressions are pydantic models whose positional constructors a type checker cannot see.
# pyright: reportCallIssue=false

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, In

from fidc_assets.lib.core.canonical import FILE_REGISTRY, QUARANTINE
from fidc_assets.lib.ingest.landing import Delivery, LandingReport, SliceKey, land_slices
from fidc_assets.lib.ingest.specs import CustodianSpec
from fidc_assets.lib.lake.catalog import Lake

#: Registry statuses whose quarantine rows still matter (a superseded file's rejects are history).
CURRENT = ("accepted", "quarantined", "received")


@dataclass(frozen=True)
class QuarantineEntry:
    """One delivery's quarantine: its reasons and how many rows each (0 rows: the file was rejected whole)."""

    delivery: Delivery
    file_name: str
    status: str
    whole_file: bool
    reasons: tuple[tuple[str, int], ...]
    message: str
    quarantined_at: dt.datetime


def list_quarantine(lake: Lake, since: dt.date | None = None, reason: str | None = None) -> list[QuarantineEntry]:
    """Deliveries with quarantine rows, still current (accepted, quarantined or waiting), newest first;
    `since`: quarantined on or after that day (UTC); `reason`: with at least one row of that reason code."""
    where: BooleanExpression = AlwaysTrue() if reason is None else EqualTo("reason_code", reason)
    rows = lake.read(QUARANTINE, where).to_pylist()
    if since is not None:
        rows = [r for r in rows if r["quarantined_at"].astimezone(dt.UTC).date() >= since]
    if not rows:
        return []
    registry = {
        Delivery.of_row(r): r["status"]
        for r in lake.read(FILE_REGISTRY, In("sha256", sorted({r["source_file_sha256"] for r in rows}))).to_pylist()
    }
    grouped: dict[Delivery, list[dict]] = {}
    for r in rows:
        d = Delivery(r["source_file_sha256"], SliceKey.of_row(r))
        grouped.setdefault(d, []).append(r)
    out = []
    for d, rs in grouped.items():
        status = registry.get(d, "unknown")
        if status not in CURRENT:
            continue
        whole = any(r["line_number"] is None for r in rs)
        reasons = Counter(r["reason_code"] for r in rs)
        first = min(rs, key=lambda r: (r["line_number"] is not None, r["line_number"] or 0))
        out.append(
            QuarantineEntry(
                d,
                rs[0]["file_name"],
                status,
                whole,
                tuple(sorted(reasons.items())),
                first["message"],
                max(r["quarantined_at"] for r in rs),
            )
        )
    return sorted(out, key=lambda e: (e.quarantined_at, e.file_name), reverse=True)


@dataclass(frozen=True)
class Selection:
    """What to reprocess: one file's bytes, a fund-day, or every current delivery with rows of a reason."""

    sha256: str | None = None
    fund_cnpj: str | None = None
    day: dt.date | None = None
    reason: str | None = None


def select_deliveries(lake: Lake, selection: Selection) -> list[Delivery]:
    if selection.sha256 is not None:
        rows = lake.read(FILE_REGISTRY, EqualTo("sha256", selection.sha256)).to_pylist()
        return sorted(Delivery.of_row(r) for r in rows)
    if selection.fund_cnpj is not None and selection.day is not None:
        where = And(EqualTo("fund_cnpj", selection.fund_cnpj), EqualTo("reference_date", selection.day))
        return sorted(Delivery.of_row(r) for r in lake.read(FILE_REGISTRY, where).to_pylist())
    if selection.reason is not None:
        return sorted(e.delivery for e in list_quarantine(lake, reason=selection.reason))
    raise ValueError("a selection needs a sha256, a fund and a day, or a reason code")


def reprocess(
    lake: Lake, specs: dict[str, CustodianSpec], selection: Selection
) -> tuple[list[Delivery], LandingReport]:
    """Land the selected deliveries' slices again from the archive, with the current specs (quarantined
    files are candidates again). Returns the deliveries selected and the landing's report."""
    deliveries = select_deliveries(lake, selection)
    pairs = sorted({(d.slice.reference_date, d.slice.fund_cnpj) for d in deliveries})
    entities = sorted({d.slice.entity for d in deliveries})
    if not deliveries:
        return [], LandingReport()
    report = land_slices(
        lake, specs, [day for day, _ in pairs], entities=entities, day_funds=pairs, retry_quarantined=True
    )
    return deliveries, report
