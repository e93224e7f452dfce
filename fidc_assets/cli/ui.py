"""`fidc-lake ui`: the Dagster webserver (`dagster dev`) with everything loaded."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fidc_assets.cli.common import load_settings, positive_int
from fidc_assets.settings import REPO_DIR


def cmd_ui(args: argparse.Namespace) -> int:
    from fidc_assets.defs.dbt.project import prepare_manifest
    from fidc_assets.pipeline import ensure_dagster_home

    settings = load_settings()
    ensure_dagster_home(settings)
    prepare_manifest()
    dagster = str(Path(sys.executable).parent / "dagster")
    argv = [dagster, "dev", "-h", args.host, "-p", str(args.port), "-w", str(REPO_DIR / "workspace.yaml")]
    os.chdir(REPO_DIR)
    os.execv(dagster, argv)
    return 0  # not reached


def register(sub: argparse._SubParsersAction) -> None:
    ui = sub.add_parser("ui", help="start the Dagster webserver (dagster dev)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=positive_int, default=3000)
    ui.set_defaults(func=cmd_ui)
