"""The errors of the embedded server, in their own module so every part of it can raise them."""

from __future__ import annotations


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up, started or stopped; the message says where and why."""


class PgBinariesNotFoundError(EmbeddedPostgresError):
    """No directory with initdb, pg_ctl and postgres was found."""
