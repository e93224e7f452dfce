"""`fidc-lake`: the command line of fidc-lakehouse.

fidc-lake db start|stop|status|url     the embedded PostgreSQL (ignored when FIDC_PG_DSN is set)
fidc-lake sample --seed N --funds F --days D --out DIR
fidc-lake sample legacy --funds F --years Y   a legacy PostgreSQL database to migrate (docs/legacy.md)
fidc-lake history migrate|recon|as-of|log|rollback|shadow   the legacy migration (fidc-lake history -h)
fidc-lake cvm land|recon               the CVM Informe Mensal: land published zips, reconcile months
fidc-lake health [--json]              PostgreSQL, catalog, storage, inbox, dbt manifest, deliveries
fidc-lake metrics serve [--port 9464]  Prometheus endpoint (fidc-lake metrics -h)
fidc-lake lake orphans|compact|expire  Iceberg maintenance (fidc-lake lake -h)
fidc-lake dbt-prepare                  parse the dbt project (manifest for Dagster)
fidc-lake demo                         sample → inbox → every asset for every sample day → summary
fidc-lake status [--date D]            expected / received / quarantined / late files per fund and custodian
fidc-lake ui                           the Dagster webserver on 127.0.0.1 with everything loaded
fidc-lake worker | daemon              a Celery worker for run steps; the Dagster daemon (fidc-lake worker -h)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fidc_assets.cli import (
    config,
    custodian,
    cvm,
    db,
    dbt,
    demo,
    health,
    history,
    ingest,
    lake,
    metrics,
    quarantine,
    sample,
    status,
    ui,
    workers,
)
from fidc_assets.cli.common import USAGE, CliError, Parser, one_line
from fidc_assets.cli.console import quiet_known_chatter
from fidc_assets.lib.core.errors import SpecError
from fidc_assets.lib.hot.embedded import EmbeddedPostgresError

__all__ = ["build_parser", "main"]

#: The command groups, one module each, in the order `fidc-lake -h` lists them. Each has `register(sub)`,
#: which adds its subcommand(s) with `func` set to the command. A new group (e.g. `config`, for
#: `fidc-lake config init DIR`: fidc_assets/cli/config.py) is one module and one entry here.
GROUPS = (
    db,
    sample,
    demo,
    custodian,
    ingest,
    status,
    quarantine,
    health,
    metrics,
    history,
    cvm,
    lake,
    config,
    dbt,
    ui,
    workers,
)

#: Errors that are a user's mistake wherever they are raised, as the project defines them: an invalid
#: configuration file (SpecError: file, key, expected, found) and an embedded server that cannot run with
#: the given state dir (EmbeddedPostgresError: which directory, which OS user, the fix). Commands raise
#: CliError for the rest (a missing input file, an unknown custodian, a FIDC_* variable out of range).
USER_MISTAKES: tuple[type[Exception], ...] = (SpecError, EmbeddedPostgresError)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fidc-lake", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"fidc-lake: error: {one_line(message)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's mistake is one line on stderr and exit 2 (usage errors: argparse's
    SystemExit 2); any other exception is a bug and propagates with its traceback."""
    args = build_parser().parse_args(argv)
    quiet_known_chatter()
    # dbt and dagster are called as programs: make this environment's bin dir the first place to look.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    try:
        return args.func(args)
    except CliError as e:
        return _fail(str(e), e.code)
    except USER_MISTAKES as e:
        return _fail(str(e), USAGE)
    except KeyboardInterrupt:
        print("fidc-lake: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`fidc-lake custodian list | head -1`): stop quietly, as Python's
        # docs advise (stdout to /dev/null so that the interpreter's final flush does not fail again)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
