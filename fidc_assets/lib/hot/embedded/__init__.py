"""An embedded, real PostgreSQL server, started on demand under a private state directory.

Why: the marts, the Dagster storage and dbt need a *real* PostgreSQL (partitioning, constraints, planner), and
neither a laptop nor CI should have to install or administer one. This package runs a private cluster under
``root`` (normally ``$FIDC_HOME/pg``) with whatever PostgreSQL binaries it can find, preferably the ones
bundled in the ``pgserver`` wheel, so ``uv sync`` is all a machine needs.

Layout of ``root``::

    data/          the cluster (PGDATA), mode 0700
    postgres.log   server log (pg_ctl -l)
    port           last TCP port used, so status/url work from any process
    .lock          flock()ed around start/stop so concurrent processes don't race
    superuser.password  the superuser's password (mode 0600), read into the DSN
    pginstall/     only under root: binaries the server's OS user could not reach where they are, copied

Choices, and why:

* Only pgserver's *binaries* are used, never its Python server API: that API keeps its own state elsewhere and
  has its own lifecycle, while we want one state dir and one lifecycle owned by this project.
* The server listens on 127.0.0.1 over TCP only (no unix socket, whose path length and permissions differ per
  machine). Every login needs its password (scram-sha-256 in pg_hba.conf): a BI tenant on the same host must
  not log in as another tenant or as the superuser. The superuser's password is generated at initdb, kept in
  ``superuser.password`` (mode 0600) and put in the DSN `start` returns; a cluster made with trust by an
  older version is migrated on start.
* fsync stays on: this database holds the marts, and durability is worth more than a faster test suite.
  ``settings`` lets a caller (e.g. tests) relax it explicitly.
* PostgreSQL refuses to run as root. Under root (CI containers) initdb/pg_ctl/postgres run as an unprivileged
  OS user (``os_user``, the ``FIDC_PG_OS_USER`` setting, default ``nobody``) that owns the state dir.
* Nothing here reads the environment for configuration: the binaries' directory and the OS user are plain
  parameters of `EmbeddedPostgres`, filled by the settings.

Modules, by concern: `binaries` (finding initdb/pg_ctl/postgres), `os_user` (the OS user under root and the
permission checks), `process` (child processes, ports, pid file, readiness, the start/stop lock), `server`
(`EmbeddedPostgres`: initdb, start, stop, status), `errors`.
"""

from fidc_assets.lib.hot.embedded.binaries import ENV_BIN, find_pg_bin_dir
from fidc_assets.lib.hot.embedded.errors import EmbeddedPostgresError, PgBinariesNotFoundError
from fidc_assets.lib.hot.embedded.os_user import ENV_OS_USER, OsUser, server_os_user
from fidc_assets.lib.hot.embedded.process import wait_until_accepting
from fidc_assets.lib.hot.embedded.server import EmbeddedPostgres, PgStatus

__all__ = [
    "ENV_BIN",
    "ENV_OS_USER",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "OsUser",
    "PgBinariesNotFoundError",
    "PgStatus",
    "find_pg_bin_dir",
    "server_os_user",
    "wait_until_accepting",
]
