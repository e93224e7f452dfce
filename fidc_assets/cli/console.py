"""A quiet console: the libraries' known, harmless chatter is filtered at the CLI's entry point, by name.

Each filter below names one message a library prints on every run although nothing is wrong, and why it is
harmless. Nothing else is hidden: an unknown warning, a Dagster WARNING or ERROR log line, a failed run still
reach the terminal. The filters apply to the `fidc-lake` process only (`dagster dev`, started by `fidc-lake
ui`, is a program of its own), and pytest keeps its own list in pyproject.toml.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

#: (message regex, module regex) of the warnings filtered: the start of the message, the emitting module.
KNOWN_WARNINGS: tuple[tuple[str, str], ...] = (
    # dagster.BetaWarning / PreviewWarning, raised when the definitions are built: the project uses
    # `backfill_policy` and partitioned asset checks on purpose (pinned Dagster version, tests cover them)
    (r".* is currently in beta", r"dagster\."),
    (r".* is currently in preview", r"dagster\."),
    # pyiceberg's overwrite() first deletes the slice it replaces; the first landing of a slice has none
    (r"Delete operation did not match any records", r"pyiceberg\."),
)

#: Starts of log messages dropped from the `dagster.builtin` logger (the one dagster-dbt logs through).
KNOWN_LOG_MESSAGES: tuple[str, ...] = (
    # dbt runs the tests of the sources a selected model reads (dbt's indirect selection); those sources
    # are not Dagster assets, so dagster-dbt records the result as an observation and says so, each time
    "Logging an `AssetObservation` instead of an `AssetCheckResult`",
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _KnownRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(KNOWN_LOG_MESSAGES)


_FILTER = _KnownRecords()


def quiet_known_chatter() -> None:
    """Install the filters of this module (idempotent: warnings dedupes equal filters, the log filter is one)."""
    for message, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    logger = logging.getLogger("dagster.builtin")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[Path]:
    """Send what is printed to stdout meanwhile to `path` (overwritten).

    dagster-dbt echoes every dbt event to stdout (two lines per model and test, ~340 for the demo) so that a
    run's captured output shows them in the UI; on a terminal they bury the demo's own lines. dbt's output is
    kept in the file, Dagster's log (stderr) stays on the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
        yield path


def dbt_outcome(log: Path) -> str | None:
    """dbt's closing line (`Done. PASS=… WARN=… ERROR=…`) in an output kept by `stdout_to`, if any."""
    if not log.is_file():
        return None
    done = [line for line in (_ANSI.sub("", raw).strip() for raw in log.read_text("utf-8").splitlines()) if line]
    done = [line for line in done if line.startswith("Done. PASS=")]
    return done[-1] if done else None
