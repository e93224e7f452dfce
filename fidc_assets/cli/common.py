"""What every command group shares: one-line usage errors, argument types that catch a mistake while parsing,
the error a command raises for a user's mistake, and how a command reads the settings.

A user's mistake (a bad flag value, a missing input file, an unknown custodian, an invalid spec, a FIDC_*
variable out of range) is one line on stderr and exit 2, never a traceback: a person reads the line and fixes
the input. Anything else is a bug and keeps its traceback (see `fidc_assets.cli.main`).
"""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

from fidc_assets.settings import Settings

#: Exit code of a user's mistake (usage, configuration, input), as argparse uses for usage errors.
USAGE = 2


class CliError(Exception):
    """A mistake a command found in what it was given (a missing file, an unknown custodian): one line, exit
    `code`. Commands raise it instead of printing, so every mistake reaches the terminal the same way."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (argparse prints the whole usage first), and a hint to -h.

    Subparsers inherit the class (argparse's `parser_class` defaults to the parent's type)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (`{self.prog} -h` for help)\n")


def one_line(message: str, limit: int = 8) -> str:
    """A message as one terminal line: its lines joined with ' | ' (a spec error lists one problem a line),
    at most `limit` of them and then how many more."""
    lines = [" ".join(line.split()) for line in message.strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return message.strip() or "(no message)"
    shown = lines[:limit]
    more = f" | … {len(lines) - limit} more lines" if len(lines) > limit else ""
    return " | ".join(shown) + more


def load_settings() -> Settings:
    """The settings; a FIDC_* variable with a bad value is a user's mistake (one line), not a traceback.

    `Settings.from_env` only reads and validates variables, so any ValueError it raises names one of them."""
    try:
        return Settings.from_env()
    except ValueError as e:
        raise CliError(str(e)) from e


def custodians_dir() -> Path:
    """Where every command reads the custodian specs from: `custodians/` of FIDC_CONFIG_DIR."""
    return load_settings().config.custodians_dir


def input_file(path: Path) -> Path:
    """A file the command was asked to read: a missing one is a user's mistake naming the path."""
    if not path.is_file():
        raise CliError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    return path


# -- argument types: argparse turns their ArgumentTypeError into a one-line usage error ----------------------


def positive_int(text: str) -> int:
    """A count that must be at least 1 (rows to preview, funds, days)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """A count that may be 0 (shadow days)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {value}")
    return value


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def month(text: str) -> str:
    """A month YYYY-MM (or a monthly partition key YYYY-MM-01), kept as text for `lib.core.months.parse_month`."""
    try:
        dt.date.fromisoformat({7: text + "-01", 10: text}.get(len(text), ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a month YYYY-MM, got {text!r}") from None
    return text


def moment(text: str) -> dt.datetime:
    """An ISO timestamp; UTC unless it carries an offset (`Z` accepted)."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO timestamp like 2024-07-01T12:00:00Z, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a decimal number like 0.01, got {text!r}") from None
