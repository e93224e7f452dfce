"""`fidc-lake lake ...`: Iceberg maintenance of the canonical tables, as the nightly job runs it.

fidc-lake lake orphans [--dry-run] [--older-than 3d]   delete files no snapshot or metadata references
fidc-lake lake compact [--small-mb 32] [--min-files 2] [--quiet-for 7d]   each quiet partition's small files
                                                        rewritten as one, one commit per table
fidc-lake lake expire [--retention-days N]              expire snapshots older than N days (tags kept)

The safety margin of `orphans` (`--older-than`, default 3 days) must exceed the longest a landing can run:
a file younger than it may belong to a commit still in progress and is never deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re

from fidc_assets.cli.common import load_settings, positive_int

_DURATION = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def duration(text: str) -> dt.timedelta:
    """A duration as a whole number and a unit: 3d, 12h, 90m (0m: no margin, for an offline lake only)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration such as 3d, 12h or 90m, got {text!r}")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lake", help="Iceberg maintenance: orphan files, compaction, snapshot expiry")
    lake_sub = p.add_subparsers(dest="lake_command", required=True)

    o = lake_sub.add_parser("orphans", help="delete files under the tables' locations that nothing references")
    o.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    o.add_argument(
        "--older-than", type=duration, default=dt.timedelta(days=3), help="safety margin (default 3d; e.g. 12h)"
    )
    o.set_defaults(func=cmd_orphans)

    c = lake_sub.add_parser("compact", help="rewrite each partition's small files as one, one commit per table")
    c.add_argument("--small-mb", type=positive_int, default=32, help="a data file below this many MiB is small")
    c.add_argument("--min-files", type=positive_int, default=2, help="compact a partition with this many small files")
    c.add_argument(
        "--quiet-for", type=duration, default=dt.timedelta(days=7),
        help="only partitions with no file added this recently (default 7d: not the month still receiving files)",
    )  # fmt: skip
    c.set_defaults(func=cmd_compact)

    e = lake_sub.add_parser("expire", help="expire snapshots older than the retention (tagged ones are kept)")
    e.add_argument("--retention-days", type=positive_int, default=None, help="default FIDC_SNAPSHOT_RETENTION_DAYS")
    e.set_defaults(func=cmd_expire)


def _lake():
    from fidc_assets.lib.lake.catalog import Lake

    s = load_settings()
    return Lake(s.iceberg_catalog_uri, s.warehouse, archive=s.archive)


def cmd_orphans(args: argparse.Namespace) -> int:
    from fidc_assets.lib.lake.maintenance import remove_orphan_files

    verb = "would delete" if args.dry_run else "deleted"
    total = 0
    for r in remove_orphan_files(_lake(), args.older_than, dry_run=args.dry_run):
        total += len(r.orphans)
        print(
            f"{r.table}: {r.listed} files, {r.referenced} referenced; {verb} {len(r.orphans)} orphans "
            f"({r.orphan_bytes} bytes); kept {r.too_young} younger than {args.older_than}"
        )
        if args.dry_run:
            for f in r.orphans:
                print(f"  {f.path} ({f.size} bytes, {f.modified.isoformat(timespec='seconds') if f.modified else '?'})")
    print(f"total: {verb} {total} orphan files")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from fidc_assets.lib.lake.maintenance import compact

    failed = False
    small = args.small_mb * 1024 * 1024
    for c in compact(_lake(), small_file_bytes=small, min_files=args.min_files, quiet_for=args.quiet_for):
        if c.skipped:
            failed = True
            print(f"{c.table}: not compacted, a concurrent commit won ({c.skipped})")
        elif c.snapshot_id is None:
            print(f"{c.table}: {c.files_before} files, nothing to compact (or partitions not quiet)")
        else:
            print(
                f"{c.table}: {c.files_before} → {c.files_after} files ({c.rewritten} small files in "
                f"{c.partitions} partitions rewritten as {c.written}; {c.rows} rows), snapshot {c.snapshot_id}"
            )
    return 1 if failed else 0


def cmd_expire(args: argparse.Namespace) -> int:
    from fidc_assets.lib.lake.maintenance import expire_snapshots

    days = args.retention_days or load_settings().schedules.snapshot_retention_days
    for e in expire_snapshots(_lake(), dt.timedelta(days=days)):
        print(f"{e.table}: {e.before} → {e.after} snapshots (retention {days} days)")
    return 0
