"""`fidc-lake db start|stop|status|url`: the embedded PostgreSQL (not managed when FIDC_PG_DSN is set)."""

from __future__ import annotations

import argparse
import sys

from fidc_assets.cli.common import load_settings


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.pg_dsn:
        if args.action == "url":
            print(settings.pg_dsn)
            return 0
        print(f"FIDC_PG_DSN is set: using the external server, the embedded one is not managed ({args.action}).")
        return 0 if args.action == "status" else 1
    pg = settings.embedded_server()
    if args.action == "start":
        print(pg.start())
    elif args.action == "stop":
        pg.stop()
        print("stopped")
    elif args.action == "status":
        st = pg.status()
        print(f"running: {st.running}\nport: {st.port}\ndsn: {st.dsn}\ndata: {st.data_dir}\nbinaries: {st.bin_dir}")
        return 0 if st.running else 3
    elif args.action == "url":
        url = pg.url()
        if url is None:
            print("not running: start it with `fidc-lake db start`", file=sys.stderr)
            return 3
        print(url)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)
