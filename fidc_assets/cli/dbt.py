"""`fidc-lake dbt-prepare`: parse the dbt project, so Dagster finds its manifest."""

from __future__ import annotations

import argparse


def cmd_dbt_prepare(_: argparse.Namespace) -> int:
    from fidc_assets.defs.dbt.project import dbt_project, prepare_manifest

    prepare_manifest()
    print(dbt_project().manifest_path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("dbt-prepare", help="parse the dbt project (writes the manifest)").set_defaults(func=cmd_dbt_prepare)
