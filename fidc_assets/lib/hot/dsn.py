"""PostgreSQL connections: the external server of FIDC_PG_DSN, or the embedded one started on demand."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg


def resolve_dsn(pg_dsn: str | None, pg_root: Path) -> str:
    """The DSN to use: FIDC_PG_DSN as given, else the embedded server (started if it is not running)."""
    if pg_dsn:
        return pg_dsn
    from fidc_assets.lib.hot.embedded import EmbeddedPostgres

    return EmbeddedPostgres(pg_root).start()


def with_database(dsn: str, database: str) -> str:
    """The same server as `dsn`, database `database` (the legacy database lives beside the lakehouse's)."""
    url = urlsplit(dsn)
    return urlunsplit((url.scheme, url.netloc, "/" + database, url.query, url.fragment))


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(dsn, **kwargs)


def dsn_parts(dsn: str) -> dict[str, str]:
    """host/port/user/password/dbname of a `postgresql://` URL, for tools configured by parts (dbt)."""
    url = urlsplit(dsn)
    if url.scheme not in ("postgresql", "postgres") and not url.scheme.startswith("postgresql+"):
        raise ValueError(f"expected a postgresql:// URL, got scheme {url.scheme!r}")
    return {
        "host": url.hostname or "127.0.0.1",
        "port": str(url.port or 5432),
        "user": unquote(url.username or "postgres"),
        "password": unquote(url.password or ""),
        "dbname": (url.path or "/").lstrip("/") or "postgres",
    }


def redacted(dsn: str) -> str:
    """The DSN with its password replaced by `***`, for messages and logs."""
    url = urlsplit(dsn)
    if not url.password:
        return dsn
    netloc = url.netloc.replace(f":{url.password}@", ":***@", 1)
    return url._replace(netloc=netloc).geturl()


def sqlalchemy_url(dsn: str) -> str:
    """The same server for SQLAlchemy users (Dagster storage, pyiceberg SQL catalog): psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix) :]
    return dsn
