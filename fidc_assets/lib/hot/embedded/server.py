"""An embedded, real PostgreSQL server, started on demand under a private state directory.

Why: the marts, the Dagster storage and dbt need a *real* PostgreSQL (partitioning, constraints, planner), and
neither a laptop nor CI should have to install or administer one. This module runs a private cluster under
``root`` (normally ``$FIDC_HOME/pg``) with whatever PostgreSQL binaries it can find, preferably the ones
bundled in the ``pgserver`` wheel, so ``uv sync`` is all a machine needs.

Layout of ``root``::

    data/          the cluster (PGDATA), mode 0700
    postgres.log   server log (pg_ctl -l)
    port           last TCP port used, so status/url work from any process
    .lock          flock()ed around start/stop so concurrent processes don't race

Choices, and why:

* Only pgserver's *binaries* are used, never its Python server API: that API keeps its own state elsewhere and
  has its own lifecycle, while we want one state dir and one lifecycle owned by this project.
* The server listens on 127.0.0.1 over TCP only (no unix socket, whose path length and permissions differ per
  machine), with trust auth: nothing is reachable from outside the host, so no password has to be managed.
* fsync stays on: this database holds the marts, and durability is worth more than a faster test suite.
  ``settings`` lets a caller (e.g. tests) relax it explicitly.
* PostgreSQL refuses to run as root. Under root (CI containers) initdb/pg_ctl/postgres run as an unprivileged
  OS user (``FIDC_PG_OS_USER``, default ``nobody``) that owns the state dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

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

#: Directory holding initdb/pg_ctl/postgres; when set it is the only place looked at.
ENV_BIN = "FIDC_PG_BIN"
#: OS user that runs the server when this process is root.
ENV_OS_USER = "FIDC_PG_OS_USER"
DEFAULT_OS_USER = "nobody"

HOST = "127.0.0.1"
SUPERUSER = "postgres"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
#: Debian/Ubuntu layout: /usr/lib/postgresql/<major>/bin. Module-level so tests can point it elsewhere.
SYSTEM_PG_ROOT = Path("/usr/lib/postgresql")

#: Settings this module owns: changing them would break how the server is found and reached.
_RESERVED_SETTINGS = frozenset({"port", "listen_addresses"})
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_LOG_TAIL_LINES = 40
_BIND_FAILURE_MARKERS = ("could not bind", "Address already in use", "could not create any TCP/IP sockets")


#: Where binaries the server's OS user cannot reach are copied to, inside the state dir.
RELOCATED_INSTALL = "pginstall"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up, started or stopped; the message says where and why."""


class PgBinariesNotFoundError(EmbeddedPostgresError):
    """No directory with initdb, pg_ctl and postgres was found."""


# ----------------------------------------------------------------------------------------------------
# Binaries
# ----------------------------------------------------------------------------------------------------


def _missing_binaries(bin_dir: Path) -> list[str]:
    """Which of initdb/pg_ctl/postgres are absent or not executable in `bin_dir`."""
    return [
        name for name in REQUIRED_BINARIES if not ((bin_dir / name).is_file() and os.access(bin_dir / name, os.X_OK))
    ]


def _pgserver_bin_dir() -> Path | None:
    """The PostgreSQL binaries bundled in the pgserver wheel, if it is installed.

    The package is located with ``find_spec`` rather than imported: importing it runs its ``__init__``
    (psutil, platformdirs, which warns when XDG_RUNTIME_DIR is unset) and we only need its files.
    """
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _pg_config_bin_dir() -> Path | None:
    """``pg_config --bindir`` of the pg_config on PATH: the canonical answer where a dev install exists."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return Path(out) if out else None


def _path_initdb_dirs() -> list[Path]:
    """The directory of ``initdb`` on PATH, and of its symlink target when different.

    Wrappers such as /usr/local/bin often symlink only some binaries, so the real directory is tried too.
    """
    initdb = shutil.which("initdb")
    if initdb is None:
        return []
    dirs = [Path(initdb).parent]
    real = Path(initdb).resolve().parent
    if real != dirs[0]:
        dirs.append(real)
    return dirs


def _version_key(name: str) -> tuple[int, ...] | None:
    """'16' -> (16,), '9.6' -> (9, 6); None for directories that are not versions."""
    if not re.fullmatch(r"\d+(\.\d+)*", name):
        return None
    return tuple(int(part) for part in name.split("."))


def _system_bin_dir() -> Path | None:
    """Highest ``SYSTEM_PG_ROOT/<version>/bin`` that holds a server.

    Only complete directories count: Debian's postgresql-client-N installs N/bin without initdb, and a machine
    with client 17 and server 16 must get 16.
    """
    if not SYSTEM_PG_ROOT.is_dir():
        return None
    versions: list[tuple[tuple[int, ...], Path]] = []
    for bin_dir in SYSTEM_PG_ROOT.glob("*/bin"):
        key = _version_key(bin_dir.parent.name)
        if key is not None and not _missing_binaries(bin_dir):
            versions.append((key, bin_dir))
    return max(versions)[1] if versions else None


def _candidate_bin_dirs() -> Iterator[tuple[str, Path | None]]:
    """(source, directory) pairs in resolution order, computed lazily so cheap sources short-circuit."""
    yield "pgserver wheel (pgserver/pginstall/bin)", _pgserver_bin_dir()
    yield "pg_config --bindir", _pg_config_bin_dir()
    initdb_dirs = _path_initdb_dirs()
    if not initdb_dirs:
        yield "initdb on PATH", None
    for bin_dir in initdb_dirs:
        yield "initdb on PATH", bin_dir
    yield f"{SYSTEM_PG_ROOT}/*/bin", _system_bin_dir()


def find_pg_bin_dir() -> Path:
    """Directory holding initdb, pg_ctl and postgres.

    Order: ``$FIDC_PG_BIN``; the pgserver wheel (PostgreSQL 16); ``pg_config --bindir``; ``initdb`` on PATH;
    the highest ``/usr/lib/postgresql/*/bin``. An explicit ``FIDC_PG_BIN`` that is incomplete is an error
    rather than silently skipped: whoever set it wants those binaries and nothing else.
    """
    explicit = os.environ.get(ENV_BIN)
    if explicit:
        bin_dir = Path(explicit).expanduser().absolute()
        missing = _missing_binaries(bin_dir)
        if missing:
            raise PgBinariesNotFoundError(
                f"{ENV_BIN}={explicit!r} lacks executable {', '.join(missing)} "
                f"(needs {', '.join(REQUIRED_BINARIES)}); fix or unset {ENV_BIN}"
            )
        return bin_dir
    tried: list[str] = [f"${ENV_BIN}: not set"]
    for source, bin_dir in _candidate_bin_dirs():
        if bin_dir is None:
            tried.append(f"{source}: not available")
            continue
        missing = _missing_binaries(bin_dir)
        if not missing:
            return bin_dir
        tried.append(f"{source}: {bin_dir} lacks {', '.join(missing)}")
    raise PgBinariesNotFoundError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nInstall the project deps (pgserver wheel), a PostgreSQL server package, or set {ENV_BIN}."
    )


@lru_cache(maxsize=8)
def _server_major_version(postgres: Path) -> str:
    """Major version of a postgres binary in PG_VERSION form ('16', '9.6'): catches data/binary mismatches."""
    done = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", done.stdout)
    if done.returncode != 0 or match is None:
        raise EmbeddedPostgresError(
            f"could not get the version of {postgres} (exit {done.returncode}): {done.stdout}{done.stderr}"
        )
    major, minor = int(match.group(1)), match.group(2)
    return str(major) if major >= 10 or minor is None else f"{major}.{minor}"


# ----------------------------------------------------------------------------------------------------
# OS user and permissions
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OsUser:
    """The unprivileged account the server runs as when this process is root."""

    name: str
    uid: int
    gid: int


def server_os_user() -> OsUser | None:
    """Who runs initdb/pg_ctl/postgres: None means "this process's user" (the non-root case).

    PostgreSQL refuses to run as root, so under root we switch to ``$FIDC_PG_OS_USER`` or ``nobody``.
    """
    if os.geteuid() != 0:
        return None
    name = os.environ.get(ENV_OS_USER) or DEFAULT_OS_USER
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedPostgresError(
            f"this process is root, so PostgreSQL must run as another OS user, but user {name!r} "
            f"(from {ENV_OS_USER} or the default {DEFAULT_OS_USER!r}) does not exist; "
            f"set {ENV_OS_USER} to an existing unprivileged user"
        ) from None
    if entry.pw_uid == 0:
        raise EmbeddedPostgresError(
            f"{ENV_OS_USER}={name!r} is uid 0; PostgreSQL refuses to run as root, pick an unprivileged user"
        )
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _permits(path: Path, user: OsUser, bits: tuple[int, int, int]) -> bool:
    """Whether `user` gets the permission (owner, group, other `bits`) on `path`.

    Computed from mode bits because root cannot ask access() on another user's behalf. The child runs with
    extra_groups=[], so only the primary group counts. ACLs are ignored.
    """
    st = path.stat()
    if st.st_uid == user.uid:
        return bool(st.st_mode & bits[0])
    if st.st_gid == user.gid:
        return bool(st.st_mode & bits[1])
    return bool(st.st_mode & bits[2])


_SEARCH = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)


def _require_traversable(dirs: Sequence[Path], user: OsUser, purpose: str) -> None:
    """Fail early, naming the directory, when `user` cannot reach something it needs."""
    for directory in dirs:
        if not _permits(directory, user, _SEARCH):
            st = directory.stat()
            raise EmbeddedPostgresError(
                f"directory {directory} (mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid}) is not "
                f"traversable by OS user {user.name!r} (uid {user.uid}), which runs PostgreSQL because this "
                f"process is root; it is needed to reach {purpose}. Fix: set FIDC_HOME to a directory under "
                f"a world-traversable path (e.g. /var/lib/fidc or /tmp/fidc), set {ENV_OS_USER} to a user "
                f"that can traverse it, or `chmod o+x {directory}`"
            )


def _require_executable(bin_dir: Path, user: OsUser) -> None:
    """The binaries (and the dirs leading to them, symlinks resolved) must be executable by `user`.

    A venv created by root is normally 755 all the way, but a venv under /root (0700) is not.
    """
    for name in REQUIRED_BINARIES:
        binary = (bin_dir / name).resolve()
        _require_traversable([*reversed(binary.parents)], user, f"{binary} (set {ENV_BIN} elsewhere?)")
        if not _permits(binary, user, _SEARCH):
            raise EmbeddedPostgresError(
                f"{binary} is not executable by OS user {user.name!r} (uid {user.uid}); "
                f"`chmod o+rx {binary}` or set {ENV_BIN} to binaries that user can run"
            )


def _chown(path: Path, user: OsUser | None) -> None:
    if user is not None and path.lstat().st_uid != user.uid:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _chown_tree(top: Path, user: OsUser | None) -> None:
    """Re-own a whole tree, only when its top is owned by someone else (cheap on every start)."""
    if user is None or top.lstat().st_uid == user.uid:
        return
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), user.uid, user.gid, follow_symlinks=False)
    os.chown(top, user.uid, user.gid, follow_symlinks=False)


# ----------------------------------------------------------------------------------------------------
# Processes, ports, files
# ----------------------------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """Environment for PostgreSQL binaries: PG* variables dropped so the caller's PGDATA/PGPORT can't leak in,
    C locale so messages are stable and no missing-locale warnings appear."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run(
    argv: Sequence[str | Path], *, user: OsUser | None, cwd: Path, timeout: float, detach: bool = False
) -> tuple[int, str]:
    """Run a PostgreSQL binary as `user`; return (exit code, combined output).

    Output goes through a temp file, not a pipe: the postmaster forked by ``pg_ctl start`` may keep inherited
    pipe ends open and make the read hang (pgserver documents the same). `detach` puts pg_ctl (hence the
    postmaster) in its own session so a Ctrl-C aimed at the calling CLI/webserver does not stop the database.
    """
    creds: dict[str, object] = {}
    if user is not None:
        creds = {"user": user.uid, "group": user.gid, "extra_groups": []}
    who = user.name if user is not None else "the current user"
    with tempfile.TemporaryFile("w+") as out:
        try:
            done = subprocess.run(
                [str(arg) for arg in argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=_child_env(),
                timeout=timeout,
                start_new_session=detach,
                text=True,
                check=False,
                **creds,  # type: ignore[arg-type]
            )
        except subprocess.TimeoutExpired:
            out.seek(0)
            raise EmbeddedPostgresError(
                f"{argv[0]} (as {who}) timed out after {timeout:.0f}s; output:\n{out.read()}"
            ) from None
        except OSError as exc:
            raise EmbeddedPostgresError(f"could not execute {argv[0]} as {who}: {exc}") from exc
        out.seek(0)
        return done.returncode, out.read()


def _tail(path: Path, lines: int = _LOG_TAIL_LINES, offset: int = 0) -> str:
    """Last `lines` lines of a log from byte `offset` on: what the error message needs to be actionable."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else f"(log {path} is empty)"


def _free_port() -> int:
    """A port the kernel just considered free on 127.0.0.1 (tiny race until postgres binds it; retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """Whether postgres could bind `port`; SO_REUSEADDR like postgres, so TIME_WAIT leftovers don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _proc_state(pid: int) -> str | None:
    """Process state letter from /proc/<pid>/stat ('S', 'R', 'Z', ...); None if absent or no procfs."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat_line.rpartition(")")[2].split()  # comm, in parentheses, may contain spaces
    return fields[0] if fields else None


def _pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process. Zombies count as dead: where PID 1 reaps lazily (some containers), a
    postmaster that exited stays a zombie for a while and kill(pid, 0) still succeeds."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user (e.g. nobody's postmaster seen by a non-root CLI)
        pass
    return _proc_state(pid) != "Z"


def _is_postgres_process(pid: int) -> bool:
    """Guards against a stale postmaster.pid whose pid was reused (container restarts); True if unknowable."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return True
    return comm.startswith(("postgres", "postmaster"))


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    port: int | None


def _read_postmaster_pid(data_dir: Path) -> _Postmaster | None:
    """Parse ``postmaster.pid`` (line 1 pid, line 4 port); None if absent. PermissionError propagates."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None  # being written or truncated: treat as no server
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return _Postmaster(pid, port)


def wait_until_accepting(dsn: str, timeout: float = 30.0) -> None:
    """Block until `dsn` accepts a connection and answers ``select 1``; raise TimeoutError otherwise.

    pg_ctl -w already waits for "ready", but a server found running (possibly still in crash recovery, or
    started by another process) needs the same guarantee before we hand out its DSN.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        remaining = deadline - time.monotonic()
        try:
            with psycopg.connect(dsn, connect_timeout=max(2, min(10, int(remaining) + 1))) as conn:
                conn.execute("select 1")
            return
        except psycopg.Error as exc:
            last_error = exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"PostgreSQL at {dsn} did not accept connections within {timeout:.0f}s; last error: {last_error}"
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.5)


# ----------------------------------------------------------------------------------------------------
# The server
# ----------------------------------------------------------------------------------------------------


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

    def dsn_for(self, port: int, database: str | None = None) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/<database>`` (default: this instance's database)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{port}/{quote(database or self.database, safe='')}"

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The end of the server log, for CLI output and error messages."""
        return _tail(self.log_file, lines)

    # -- public operations -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start the server if needed (initdb on first use) and return the DSN of `database`.

        Idempotent: a server already running on this root (from this or any other process) is reused, as
        is; `settings` only apply when this call actually launches the postmaster.
        """
        user = server_os_user()
        bin_dir = self._runnable_bin_dir(find_pg_bin_dir(), user)
        self._prepare_root(bin_dir, user)
        with self._locked():
            if not self.is_initialized():
                self._initdb(bin_dir, user)
            port = self._running_port()
            if port is None:
                self._check_cluster_version(bin_dir)
                port = self._start_server(bin_dir, user)
            self._write_port(port, user)
            self._ensure_database(port)
        return self.dsn_for(port)

    def stop(self) -> None:
        """Fast shutdown (roll back open transactions, checkpoint); no error if nothing is running."""
        if not self.is_initialized():
            return
        user = server_os_user()
        bin_dir = self._runnable_bin_dir(find_pg_bin_dir(), user)
        with self._locked():
            if self._live_postmaster() is None:
                return
            pg_ctl = bin_dir / "pg_ctl"
            argv = [pg_ctl, "stop", "-D", self.data_dir, "-m", "fast", "-w", "-t", str(self.timeout)]
            code, output = _run(argv, user=user, cwd=self.root, timeout=self.timeout + 30)
            if code != 0 and self._live_postmaster() is not None:
                raise EmbeddedPostgresError(
                    f"{pg_ctl} stop failed (exit {code}) for data dir {self.data_dir}:\n{output}\n"
                    f"--- tail of {self.log_file} ---\n{self.log_tail()}"
                )

    def status(self) -> PgStatus:
        """Current state, read from disk and one connection attempt; never starts anything."""
        try:
            bin_dir: Path | None = find_pg_bin_dir()
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
        _require_executable(bin_dir, user)
        if self._holds_only_our_files():
            _chown(self.root, user)
        _require_traversable([*reversed(self.root.parents), self.root], user, f"the PostgreSQL state dir {self.root}")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        _chown_tree(self.data_dir, user)
        self.data_dir.chmod(0o700)
        self.log_file.touch(exist_ok=True)
        _chown(self.log_file, user)

    def _runnable_bin_dir(self, bin_dir: Path, user: OsUser | None) -> Path:
        """The binaries as the server's OS user can run them. Under root, binaries inside a tree that user
        cannot enter (a checkout under /root, mode 0700) are copied once, with their lib/ and share/, into the
        state dir, which that user must reach anyway."""
        if user is None:
            return bin_dir
        try:
            _require_executable(bin_dir, user)
            return bin_dir
        except EmbeddedPostgresError:
            install = bin_dir.resolve().parent
            if not (install / "lib").is_dir():
                raise
        # A wheel's binaries find their vendored libraries through RPATH $ORIGIN/../../../<package>.libs:
        # the copy keeps that layout (<package>/<install>/bin beside <package>.libs).
        package = install.parent
        wheel_libs = package.parent / f"{package.name}.libs"
        copy = self.root / RELOCATED_INSTALL
        copied_bin = copy / package.name / install.name / "bin"
        if not (copied_bin / "postgres").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            with self._locked():  # two processes starting at once copy once
                if not (copied_bin / "postgres").exists():
                    self._copy_install(install, wheel_libs, copy)
        _require_executable(copied_bin, user)
        return copied_bin

    def _copy_install(self, install: Path, wheel_libs: Path, copy: Path) -> None:
        partial = self.root / f".{RELOCATED_INSTALL}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(install, partial / install.parent.name / install.name, symlinks=True)
        if wheel_libs.is_dir():
            shutil.copytree(wheel_libs, partial / wheel_libs.name, symlinks=True)
        for path in [partial, *partial.rglob("*")]:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            readable = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
            runnable = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
            path.chmod(mode | readable | (runnable if path.is_dir() or mode & stat.S_IXUSR else 0))
        shutil.rmtree(copy, ignore_errors=True)
        partial.rename(copy)

    def _holds_only_our_files(self) -> bool:
        """Never re-own a directory that holds anything else (e.g. root=/tmp by mistake)."""
        ours = {"data", self.log_file.name, self.port_file.name, self.lock_file.name, RELOCATED_INSTALL}
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
        argv = [initdb, "-D", self.data_dir, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"]
        code, output = _run(argv, user=user, cwd=self.root, timeout=max(120, self.timeout))
        if code != 0:
            who = user.name if user else "the current user"
            raise EmbeddedPostgresError(
                f"{initdb} failed (exit {code}) for data dir {self.data_dir}, run as {who}:\n{output}"
            )

    def _check_cluster_version(self, bin_dir: Path) -> None:
        """A cluster runs only on binaries of its major version: say so, not a cryptic postgres FATAL."""
        cluster = (self.data_dir / "PG_VERSION").read_text().strip()
        binaries = _server_major_version(bin_dir / "postgres")
        if cluster != binaries:
            raise EmbeddedPostgresError(
                f"data dir {self.data_dir} was created by PostgreSQL {cluster}, but the binaries in "
                f"{bin_dir} are PostgreSQL {binaries}. Point {ENV_BIN} at PostgreSQL {cluster} binaries, "
                f"or dump the data with them and remove {self.root} to start afresh"
            )

    # -- running server --------------------------------------------------------------------------------

    def _live_postmaster(self) -> _Postmaster | None:
        """Our postmaster per postmaster.pid, if its pid is alive and is a postgres process."""
        postmaster = _read_postmaster_pid(self.data_dir)
        if postmaster is None or not _pid_alive(postmaster.pid) or not _is_postgres_process(postmaster.pid):
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
        port = stored if stored is not None and _port_is_free(stored) else _free_port()
        pg_ctl = bin_dir / "pg_ctl"
        for attempt in range(1, attempts + 1):
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            argv = [
                pg_ctl, "start", "-D", self.data_dir, "-l", self.log_file,
                "-w", "-t", str(self.timeout), "-o", self._server_options(port),
            ]  # fmt: skip
            code, output = _run(argv, user=user, cwd=self.root, timeout=self.timeout + 30, detach=True)
            if code == 0:
                try:
                    wait_until_accepting(self.dsn_for(port, "postgres"), timeout=self.timeout)
                except TimeoutError as exc:
                    raise EmbeddedPostgresError(
                        f"{pg_ctl} started {self.data_dir} but it does not accept connections: {exc}\n"
                        f"--- tail of {self.log_file} ---\n{_tail(self.log_file, offset=log_offset)}"
                    ) from exc
                return port
            log = _tail(self.log_file, offset=log_offset)
            port_race = any(marker in log for marker in _BIND_FAILURE_MARKERS)
            if not (port_race and attempt < attempts and self._live_postmaster() is None):
                raise EmbeddedPostgresError(
                    f"{pg_ctl} start failed (exit {code}) for data dir {self.data_dir} on {HOST}:{port}:\n"
                    f"{output}\n--- tail of {self.log_file} ---\n{log}"
                )
            port = _free_port()
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_reaped_postmaster(self) -> None:
        """Wait for a crashed postmaster's zombie to be reaped before starting a new one.

        postgres sees a zombie's pid as alive (kill(pid, 0) succeeds) and refuses to start; the pid file must
        not be deleted instead, since it also guards against orphaned backends still using shared memory.
        """
        postmaster = _read_postmaster_pid(self.data_dir)
        if postmaster is None:
            return
        deadline = time.monotonic() + self.timeout
        while _proc_state(postmaster.pid) == "Z":
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
        postmaster = _read_postmaster_pid(self.data_dir)
        if postmaster is not None and _pid_alive(postmaster.pid) and not _is_postgres_process(postmaster.pid):
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
        return row is not None and _same_path(Path(row[0]), self.data_dir)

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
                f"could not create database {self.database!r} on {self.dsn_for(port, 'postgres')}: {exc}"
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

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive flock on <root>/.lock for start/stop across processes (xdist workers, webserver + CLI).

        Polls with LOCK_NB so a wedged holder produces an error naming the lock instead of a silent hang. The
        fd is close-on-exec, so the postmaster never inherits (and keeps holding) the lock.
        """
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            deadline = time.monotonic() + 2 * self.timeout + 120
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedPostgresError(
                            f"timed out waiting for {self.lock_file}: another process is starting or "
                            f"stopping the server in {self.root}"
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _same_path(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
