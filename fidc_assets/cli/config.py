"""`fidc-lake config init DIR`: a copy of the shipped configuration, to point FIDC_CONFIG_DIR at.

A deployment owns its custodian specs (and layouts), reference data and legacy mapping; this writes the
package's defaults into a new or empty directory as the place to start from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fidc_assets.cli.common import CliError


def cmd_config_init(args: argparse.Namespace) -> int:
    from fidc_assets.config_init import write_config_dir
    from fidc_assets.settings import SettingsError

    target = Path(args.dir).expanduser().resolve()
    try:
        written = write_config_dir(target)
    except SettingsError as e:
        raise CliError(str(e)) from e
    print(f"{len(written)} files written to {target}; use it with: export FIDC_CONFIG_DIR={target}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="the configuration directory (FIDC_CONFIG_DIR)")
    actions = config.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="write a copy of the shipped configuration to DIR")
    init.add_argument("dir", help="a new or empty directory")
    init.set_defaults(func=cmd_config_init)
