"""Small psycopg helpers for the tests' own queries."""

from __future__ import annotations

from typing import Any, LiteralString, cast

import psycopg
from psycopg import sql


def scalar(conn: psycopg.Connection, query: LiteralString, params: Any = None) -> Any:
    """The single value of a one-row query (`select count(*) ...`); a query returning no row fails the test."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row from {query!r}"
    return row[0]


def own_sql(text: str) -> sql.SQL:
    """A test's own SQL text built at run time (DDL with computed names, statements from a parametrize
    list): the tests write it, no data goes into it."""
    return sql.SQL(cast(LiteralString, text))
