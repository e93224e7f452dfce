"""`fidc-lake status [--date D]`: the day's expected deliveries per fund and custodian.

Prints, per fund and custodian, how many files the fund registry (FIDC_FUNDS, `expected`) owes for business
day D (default: today in São Paulo), how many were received, accepted, quarantined, late and missing, then
every delivery not yet accepted. Exit 0 when nothing due is missing or quarantined, 1 otherwise (so a
monitor can call it); a mistake (a bad registry, a bad date) is one line and exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
from zoneinfo import ZoneInfo

from fidc_assets.cli.common import CliError, iso_date, load_settings
from fidc_assets.lib.core.calendar import TIMEZONE, is_business_day

#: Exit status when a due file is missing or quarantined.
FLAGGED = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="expected / received / quarantined / late files per fund and custodian")
    p.add_argument("--date", type=iso_date, default=None, help="business day YYYY-MM-DD (default: today, São Paulo)")
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace, now: dt.datetime | None = None) -> int:
    from fidc_assets.lib.core.deliveries import DeliveryState, Tally, by_fund_custodian, evaluate
    from fidc_assets.lib.core.funds import FundRegistryError, load_fund_registry
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.lake.deliveries import read_file_records

    now = now or dt.datetime.now(dt.UTC)
    day: dt.date = args.date or now.astimezone(ZoneInfo(TIMEZONE)).date()
    settings = load_settings()
    try:
        registry = load_fund_registry(settings.funds_file)
    except FundRegistryError as e:
        raise CliError(str(e)) from e
    if not is_business_day(day):
        print(f"{day} is not an ANBIMA business day: no file is expected")
        return 0
    if not any(f.expected for f in registry.funds):
        print(f"{day}: the fund registry {settings.funds_file} expects no file (add `expected` to its funds)")
        return 0
    statuses = evaluate(
        registry, [day], read_file_records(Lake(settings.iceberg_catalog_uri, settings.warehouse), [day]), now
    )
    header = ("fund", "custodian", "expected", "received", "accepted", "quarantined", "late", "missing", "pending")
    rows = []
    for (fund, custodian), group in by_fund_custodian(statuses).items():
        t = Tally.of(group)
        rows.append((fund, custodian, t.expected, t.received, t.accepted, t.quarantined, t.late, t.missing, t.pending))
    total = Tally.of(statuses)
    rows.append(("total", "", total.expected, total.received, total.accepted, total.quarantined, total.late,
                 total.missing, total.pending))  # fmt: skip
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    print(f"deliveries for {day} (as of {now.astimezone(ZoneInfo(TIMEZONE)).isoformat(timespec='minutes')})")
    for r in (header, *rows):
        print(
            "  ".join(
                str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    open_ = [s for s in statuses if s.state is not DeliveryState.ACCEPTED or s.late]
    for s in open_:
        late = ", late" if s.late else ""
        due = s.due_at.isoformat(timespec="minutes")
        print(f"  {s.fund_cnpj} {s.custodian_id} {s.entity}: {s.state}{late} (due {due})")
    return FLAGGED if any(s.flagged for s in statuses) else 0
