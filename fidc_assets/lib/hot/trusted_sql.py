"""SQL text the project or its deployment wrote, passed to psycopg as such.

psycopg types a query as a `LiteralString` (or a `psycopg.sql` composition), so a type checker catches a
query assembled from data. Some of our queries are text on purpose, and none comes from a user's data: the
legacy mapping's reconciliation queries (configuration, reviewed like code), a column type computed from an
Iceberg schema, a benchmark's query table. `trusted` is where that is said, once, instead of a cast at each
call; anything built from a value a user or a file supplies goes through `sql.Identifier`/`sql.Literal`.
"""

from __future__ import annotations

from typing import LiteralString, cast

from psycopg import sql


def trusted(text: str) -> sql.SQL:
    """`text` as a psycopg SQL fragment (placeholders such as `%s` and `%(name)s` stay placeholders)."""
    return sql.SQL(cast(LiteralString, text))
