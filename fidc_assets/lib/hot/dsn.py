"""PostgreSQL connections: the external server of FIDC_PG_DSN, or the embedded one started on demand."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg

if TYPE_CHECKING:
    from fidc_assets.lib.hot.embedded.server import EmbeddedPostgres


def embedded_server(pg_root: Path, bin_dir: str | None = None, os_user: str | None = None) -> EmbeddedPostgres:
    """The embedded server living in `pg_root`; `bin_dir` and `os_user` (FIDC_PG_BIN, FIDC_PG_OS_USER, read by
    the settings) choose its binaries and, under root, the OS user it runs as; None keeps the defaults."""
    from fidc_assets.lib.hot.embedded.server import EmbeddedPostgres

    # only the options given: the server's own defaults stay in one place (embedded/server.py)
    options: dict[str, Any] = {k: v for k, v in (("bin_dir", bin_dir), ("os_user", os_user)) if v is not None}
    return EmbeddedPostgres(pg_root, **options)


def resolve_dsn(pg_dsn: str | None, pg_root: Path, bin_dir: str | None = None, os_user: str | None = None) -> str:
    """The DSN to use: FIDC_PG_DSN as given, else the embedded server (started if it is not running)."""
    if pg_dsn:
        return pg_dsn
    return embedded_server(pg_root, bin_dir, os_user).start()


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
