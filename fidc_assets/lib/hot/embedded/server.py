"""The embedded server itself: a PostgreSQL cluster in a state directory, started on demand and shared by every
process that uses that directory (see the package docstring for the layout and the choices behind it)."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from fidc_assets.lib.hot.dsn import redacted
from fidc_assets.lib.hot.embedded.binaries import ENV_BIN, find_pg_bin_dir, server_major_version
from fidc_assets.lib.hot.embedded.errors import EmbeddedPostgresError, PgBinariesNotFoundError
from fidc_assets.lib.hot.embedded.os_user import (
    RELOCATED_INSTALL,
    OsUser,
    chown,
    chown_tree,
    require_executable,
    require_traversable,
    runnable_bin_dir,
    server_os_user,
)
from fidc_assets.lib.hot.embedded.process import (
    HOST,
    LOG_TAIL_LINES,
    Postmaster,
    exclusive_lock,
    free_port,
    is_postgres_process,
    pid_alive,
    port_is_free,
    proc_state,
    read_postmaster_pid,
    run_binary,
    same_path,
    tail,
    wait_until_accepting,
)
from fidc_assets.lib.hot.scram import scram_sha256_verifier

SUPERUSER = "postgres"
#: Settings this module owns: changing them would break how the server is found and reached.
_RESERVED_SETTINGS = frozenset({"port", "listen_addresses"})
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
#: pg_hba.conf of the embedded server: every login needs its password (the server listens on TCP only).
PG_HBA = """# written by fidc-lakehouse: every login needs its password (SCRAM-SHA-256)
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""
_BIND_FAILURE_MARKERS = ("could not bind", "Address already in use", "could not create any TCP/IP sockets")


@dataclass(frozen=True)
class PgStatus:
    """Snapshot of the embedded server, for ``fidc-lake db status`` and callers deciding whether to start it.

    `running` means our postmaster is alive *and* accepts connections. When not running, `port` is the last
    port used (the one a restart tries first) and `dsn` is None. `bin_dir` is None if no binaries are found.
    """

    running: bool
    port: int | None
    dsn: str | None
    data_dir: Path
    bin_dir: Path | None
    pid: int | None
    initialized: bool = False
    log_file: Path | None = None


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster living in `root`, started on demand and shared by every process using that root.

    All state is on disk (data dir, port file, postmaster.pid), so any number of instances, in any number of
    processes, can manage the same server; ``start``/``stop`` serialize on an flock.
    """

    root: Path
    #: Directory of initdb/pg_ctl/postgres (the ``FIDC_PG_BIN`` setting); None: search (`find_pg_bin_dir`).
    bin_dir: str | Path | None = None
    #: OS user that runs the server when this process is root (the ``FIDC_PG_OS_USER`` setting); None:
    #: ``nobody`` (`server_os_user`).
    os_user: str | None = None
    database: str = "fidc"
    #: Extra ``-c name=value`` server settings, e.g. ``{"fsync": "off"}`` for throwaway test clusters.
    settings: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait for the server to start or stop (pg_ctl -t).
    timeout: int = 60

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().absolute()
        if not self.database:
            raise ValueError("database name must not be empty")
        for name in self.settings:
            if not _SETTING_NAME.match(name):
                raise ValueError(f"invalid PostgreSQL setting name {name!r}")
            if name in _RESERVED_SETTINGS:
                raise ValueError(f"setting {name!r} is managed by EmbeddedPostgres and cannot be overridden")

    # -- paths -----------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def password_file(self) -> Path:
        """The superuser's password, generated at initdb (or when a trust-era cluster is migrated), mode 0600."""
        return self.root / "superuser.password"

    def superuser_password(self) -> str | None:
        """The superuser's password, or None when there is none (yet) or this OS user may not read it."""
        try:
            return self.password_file.read_text().strip() or None
        except OSError:
            return None

    def dsn_for(self, port: int, database: str | None = None) -> str:
        """``postgresql://postgres:PASSWORD@127.0.0.1:PORT/<database>`` (default: this instance's database);
        without the password when it cannot be read (another OS user's server: the login then fails)."""
        password = self.superuser_password()
        who = f"{SUPERUSER}:{quote(password, safe='')}" if password else SUPERUSER
        return f"postgresql://{who}@{HOST}:{port}/{quote(database or self.database, safe='')}"

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The end of the server log, for CLI output and error messages."""
        return tail(self.log_file, lines)

    # -- public operations -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start the server if needed (initdb on first use) and return the DSN of `database`.

        Idempotent: a server already running on this root (from this or any other process) is reused, as
        is; `settings` only apply when this call actually launches the postmaster.
        """
        user = server_os_user(self.os_user)
        bin_dir = runnable_bin_dir(find_pg_bin_dir(self.bin_dir), user, self.root, self._locked)
        self._prepare_root(bin_dir, user)
        with self._locked():
            if not self.is_initialized():
                self._initdb(bin_dir, user)
            port = self._running_port()
            if port is None:
                self._check_cluster_version(bin_dir)
                port = self._start_server(bin_dir, user)
            self._ensure_password_auth(port, user)
            self._write_port(port, user)
            self._ensure_database(port)
        return self.dsn_for(port)

    def stop(self) -> None:
        """Fast shutdown (roll back open transactions, checkpoint); no error if nothing is running."""
        if not self.is_initialized():
            return
        user = server_os_user(self.os_user)
        bin_dir = runnable_bin_dir(find_pg_bin_dir(self.bin_dir), user, self.root, self._locked)
        with self._locked():
            if self._live_postmaster() is None:
                return
            pg_ctl = bin_dir / "pg_ctl"
            argv = [pg_ctl, "stop", "-D", self.data_dir, "-m", "fast", "-w", "-t", str(self.timeout)]
            code, output = run_binary(argv, user=user, cwd=self.root, timeout=self.timeout + 30)
            if code != 0 and self._live_postmaster() is not None:
                raise EmbeddedPostgresError(
                    f"{pg_ctl} stop failed (exit {code}) for data dir {self.data_dir}:\n{output}\n"
                    f"--- tail of {self.log_file} ---\n{self.log_tail()}"
                )

    def status(self) -> PgStatus:
        """Current state, read from disk and one connection attempt; never starts anything."""
        try:
            bin_dir: Path | None = find_pg_bin_dir(self.bin_dir)
        except PgBinariesNotFoundError:
            bin_dir = None
        port = self._read_port()
        pid: int | None = None
        try:
            postmaster = self._live_postmaster()
            pid_known = True
        except PermissionError:  # data dir of another OS user: fall back to the port file + a connection
            postmaster, pid_known = None, False
        if postmaster is not None:
            pid = postmaster.pid
            port = postmaster.port or port
        alive = postmaster is not None or not pid_known
        running = alive and port is not None and self._accepts(port)
        return PgStatus(
            running=running,
            port=port,
            dsn=self.dsn_for(port) if running and port is not None else None,
            data_dir=self.data_dir,
            bin_dir=bin_dir,
            pid=pid,
            initialized=self._safe_is_initialized(),
            log_file=self.log_file,
        )

    def url(self) -> str | None:
        """The DSN if the server is running, else None (does not start it)."""
        return self.status().dsn

    # -- setup -----------------------------------------------------------------------------------------

    def _prepare_root(self, bin_dir: Path, user: OsUser | None) -> None:
        """Create the state dir; under root, check the server's OS user can reach it, then hand it over."""
        self.root.mkdir(parents=True, exist_ok=True)
        if user is None:
            return
        require_executable(bin_dir, user)
        if self._holds_only_our_files():
            chown(self.root, user)
        require_traversable([*reversed(self.root.parents), self.root], user, f"the PostgreSQL state dir {self.root}")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        chown_tree(self.data_dir, user)
        self.data_dir.chmod(0o700)
        self.log_file.touch(exist_ok=True)
        chown(self.log_file, user)

    def _holds_only_our_files(self) -> bool:
        """Never re-own a directory that holds anything else (e.g. root=/tmp by mistake)."""
        ours = {
            "data", self.log_file.name, self.port_file.name, self.lock_file.name, self.password_file.name,
            RELOCATED_INSTALL,
        }  # fmt: skip
        return all(
            entry.name in ours or entry.name.startswith((".port.", f".{RELOCATED_INSTALL}."))
            for entry in self.root.iterdir()
        )

    def _initdb(self, bin_dir: Path, user: OsUser | None) -> None:
        if self.data_dir.is_dir() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty but holds no cluster (no PG_VERSION); probably an interrupted "
                f"initdb. Move it away or delete it, then start again"
            )
        initdb = bin_dir / "initdb"
        password = self._new_password()
        # initdb reads the password from a file the server's OS user can read; it is gone right after
        fd, pwfile = tempfile.mkstemp(prefix=".pwfile.", dir=self.root)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            if user is not None:
                os.chown(pwfile, user.uid, user.gid)
            argv = [
                initdb, "-D", self.data_dir, "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                "-E", "UTF8", "--locale=C",
            ]  # fmt: skip
            code, output = run_binary(argv, user=user, cwd=self.root, timeout=max(120, self.timeout))
        finally:
            os.unlink(pwfile)
        if code != 0:
            who = user.name if user else "the current user"
            raise EmbeddedPostgresError(
                f"{initdb} failed (exit {code}) for data dir {self.data_dir}, run as {who}:\n{output}"
            )

    def _new_password(self) -> str:
        """Generate the superuser's password and keep it in `password_file` (0600, this process's OS user)."""
        password = secrets.token_urlsafe(32)
        fd, tmp = tempfile.mkstemp(prefix=".password.", dir=self.root)  # mkstemp: created 0600
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        os.replace(tmp, self.password_file)
        return password

    def _hba_trusts(self) -> bool:
        """Whether pg_hba.conf lets any login in without a password (clusters made before passwords)."""
        lines = (self.data_dir / "pg_hba.conf").read_text().splitlines()
        return any("trust" in line.split("#", 1)[0].split() for line in lines)

    def _ensure_password_auth(self, port: int, user: OsUser | None) -> None:
        """Migrate a cluster made with trust authentication: give the superuser a password (sent as a SCRAM
        verifier, so the server never sees it), then require passwords in pg_hba.conf and reload."""
        if not self._hba_trusts():
            return
        password = self.superuser_password() or self._new_password()
        try:
            with psycopg.connect(self.dsn_for(port, "postgres"), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(SUPERUSER), sql.Literal(scram_sha256_verifier(password))
                    )
                )
                hba = self.data_dir / "pg_hba.conf"
                tmp = hba.with_name(".pg_hba.conf.new")
                tmp.write_text(PG_HBA)
                tmp.chmod(0o600)
                if user is not None:
                    os.chown(tmp, user.uid, user.gid)
                os.replace(tmp, hba)
                conn.execute("select pg_reload_conf()")
        except psycopg.Error as exc:
            raise EmbeddedPostgresError(
                f"could not require passwords on {redacted(self.dsn_for(port, 'postgres'))}: {exc}"
            ) from exc
        wait_until_accepting(self.dsn_for(port, "postgres"), timeout=self.timeout)

    def _check_cluster_version(self, bin_dir: Path) -> None:
        """A cluster runs only on binaries of its major version: say so, not a cryptic postgres FATAL."""
        cluster = (self.data_dir / "PG_VERSION").read_text().strip()
        binaries = server_major_version(bin_dir / "postgres")
        if cluster != binaries:
            raise EmbeddedPostgresError(
                f"data dir {self.data_dir} was created by PostgreSQL {cluster}, but the binaries in "
                f"{bin_dir} are PostgreSQL {binaries}. Point {ENV_BIN} at PostgreSQL {cluster} binaries, "
                f"or dump the data with them and remove {self.root} to start afresh"
            )

    # -- running server --------------------------------------------------------------------------------

    def _live_postmaster(self) -> Postmaster | None:
        """Our postmaster per postmaster.pid, if its pid is alive and is a postgres process."""
        postmaster = read_postmaster_pid(self.data_dir)
        if postmaster is None or not pid_alive(postmaster.pid) or not is_postgres_process(postmaster.pid):
            return None
        return postmaster

    def _running_port(self) -> int | None:
        """Port of the server already running on this root (waiting for it to accept), or None."""
        postmaster = self._live_postmaster()
        if postmaster is None:
            return None
        if postmaster.port is None:
            raise EmbeddedPostgresError(
                f"postmaster pid {postmaster.pid} of {self.data_dir} records no port in postmaster.pid"
            )
        try:
            wait_until_accepting(self.dsn_for(postmaster.port, "postgres"), timeout=self.timeout)
        except TimeoutError as exc:
            raise EmbeddedPostgresError(
                f"postmaster pid {postmaster.pid} of {self.data_dir} is alive but not accepting connections "
                f"on port {postmaster.port}: {exc}\n--- tail of {self.log_file} ---\n{self.log_tail()}"
            ) from exc
        return postmaster.port

    def _start_server(self, bin_dir: Path, user: OsUser | None, attempts: int = 3) -> int:
        """pg_ctl start on the stored port if free, else a fresh one; retry if another process grabs it."""
        self._await_reaped_postmaster()
        self._remove_stale_pid_file()
        stored = self._read_port()
        port = stored if stored is not None and port_is_free(stored) else free_port()
        pg_ctl = bin_dir / "pg_ctl"
        for attempt in range(1, attempts + 1):
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            argv = [
                pg_ctl, "start", "-D", self.data_dir, "-l", self.log_file,
                "-w", "-t", str(self.timeout), "-o", self._server_options(port),
            ]  # fmt: skip
            code, output = run_binary(argv, user=user, cwd=self.root, timeout=self.timeout + 30, detach=True)
            if code == 0:
                try:
                    wait_until_accepting(self.dsn_for(port, "postgres"), timeout=self.timeout)
                except TimeoutError as exc:
                    raise EmbeddedPostgresError(
                        f"{pg_ctl} started {self.data_dir} but it does not accept connections: {exc}\n"
                        f"--- tail of {self.log_file} ---\n{tail(self.log_file, offset=log_offset)}"
                    ) from exc
                return port
            log = tail(self.log_file, offset=log_offset)
            port_race = any(marker in log for marker in _BIND_FAILURE_MARKERS)
            if not (port_race and attempt < attempts and self._live_postmaster() is None):
                raise EmbeddedPostgresError(
                    f"{pg_ctl} start failed (exit {code}) for data dir {self.data_dir} on {HOST}:{port}:\n"
                    f"{output}\n--- tail of {self.log_file} ---\n{log}"
                )
            port = free_port()
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_reaped_postmaster(self) -> None:
        """Wait for a crashed postmaster's zombie to be reaped before starting a new one.

        postgres sees a zombie's pid as alive (kill(pid, 0) succeeds) and refuses to start; the pid file must
        not be deleted instead, since it also guards against orphaned backends still using shared memory.
        """
        postmaster = read_postmaster_pid(self.data_dir)
        if postmaster is None:
            return
        deadline = time.monotonic() + self.timeout
        while proc_state(postmaster.pid) == "Z":
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"the previous postmaster (pid {postmaster.pid}) of {self.data_dir} died and is a zombie "
                    f"nobody reaps: PID 1 here does not reap orphans. Run the container with an init "
                    f"(docker run --init, tini) or restart it"
                )
            time.sleep(0.1)

    def _remove_stale_pid_file(self) -> None:
        """Drop a postmaster.pid whose pid now belongs to another program (postgres would refuse to start).

        That happens after a reboot or container restart with a persisted state dir; the old postmaster and its
        backends are gone with the old machine, so the file's shared-memory interlock has nothing to protect.
        """
        postmaster = read_postmaster_pid(self.data_dir)
        if postmaster is not None and pid_alive(postmaster.pid) and not is_postgres_process(postmaster.pid):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _server_options(self, port: int) -> str:
        """The pg_ctl -o string; pg_ctl hands it to a shell, hence the quoting."""
        options = {
            "listen_addresses": HOST,
            "port": str(port),
            "unix_socket_directories": "",
            **self.settings,
        }
        return " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in options.items())

    def _accepts(self, port: int) -> bool:
        """One quick connection attempt; true only if the server there is *this* cluster."""
        try:
            with psycopg.connect(self.dsn_for(port, "postgres"), connect_timeout=2) as conn:
                row = conn.execute("select current_setting('data_directory')").fetchone()
        except psycopg.Error:
            return False
        return row is not None and same_path(Path(row[0]), self.data_dir)

    def _ensure_database(self, port: int) -> None:
        """CREATE DATABASE `database` if missing (under the start lock, so no two processes race on it)."""
        try:
            with psycopg.connect(self.dsn_for(port, "postgres"), autocommit=True) as conn:
                found = conn.execute("select 1 from pg_database where datname = %s", (self.database,)).fetchone()
                if found is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        except psycopg.errors.DuplicateDatabase:
            return
        except psycopg.Error as exc:
            raise EmbeddedPostgresError(
                f"could not create database {self.database!r} on {redacted(self.dsn_for(port, 'postgres'))}: {exc}"
            ) from exc

    # -- state files -----------------------------------------------------------------------------------

    def _read_port(self) -> int | None:
        try:
            text = self.port_file.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def _write_port(self, port: int, user: OsUser | None) -> None:
        """Atomic replace, so a concurrent status() never reads a half-written port."""
        if self._read_port() == port:
            return
        fd, tmp = tempfile.mkstemp(prefix=".port.", dir=self.root)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{port}\n")
        os.chmod(tmp, 0o644)
        if user is not None:
            os.chown(tmp, user.uid, user.gid)
        os.replace(tmp, self.port_file)

    def _safe_is_initialized(self) -> bool:
        try:
            return self.is_initialized()
        except PermissionError:
            return False

    def _locked(self) -> AbstractContextManager[None]:
        """Exclusive flock on <root>/.lock for start/stop across processes (see `exclusive_lock`)."""
        return exclusive_lock(self.lock_file, 2 * self.timeout + 120)
