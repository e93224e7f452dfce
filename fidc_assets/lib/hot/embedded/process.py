"""Running PostgreSQL's programs and watching its processes: child processes, ports, the postmaster's pid
file, readiness, and the lock that serializes start/stop across processes.

Everything here reads the operating system's view (procfs, sockets, flock) rather than any Python state, so
any number of processes can manage the same server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from fidc_assets.lib.hot.embedded.errors import EmbeddedPostgresError
from fidc_assets.lib.hot.embedded.os_user import OsUser

#: The server listens here only (TCP, no unix socket): nothing is reachable from outside the host.
HOST = "127.0.0.1"
LOG_TAIL_LINES = 40


def _child_env() -> dict[str, str]:
    """Environment for PostgreSQL binaries: PG* variables dropped so the caller's PGDATA/PGPORT can't leak in,
    C locale so messages are stable and no missing-locale warnings appear."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def run_binary(
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


def tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
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


def free_port() -> int:
    """A port the kernel just considered free on 127.0.0.1 (tiny race until postgres binds it; retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether postgres could bind `port`; SO_REUSEADDR like postgres, so TIME_WAIT leftovers don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def proc_state(pid: int) -> str | None:
    """Process state letter from /proc/<pid>/stat ('S', 'R', 'Z', ...); None if absent or no procfs."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat_line.rpartition(")")[2].split()  # comm, in parentheses, may contain spaces
    return fields[0] if fields else None


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process. Zombies count as dead: where PID 1 reaps lazily (some containers), a
    postmaster that exited stays a zombie for a while and kill(pid, 0) still succeeds."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user (e.g. nobody's postmaster seen by a non-root CLI)
        pass
    return proc_state(pid) != "Z"


def is_postgres_process(pid: int) -> bool:
    """Guards against a stale postmaster.pid whose pid was reused (container restarts); True if unknowable."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return True
    return comm.startswith(("postgres", "postmaster"))


@dataclass(frozen=True)
class Postmaster:
    """What postmaster.pid says about the running server."""

    pid: int
    port: int | None


def read_postmaster_pid(data_dir: Path) -> Postmaster | None:
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
    return Postmaster(pid, port)


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
            from fidc_assets.lib.hot.dsn import redacted

            raise TimeoutError(
                f"PostgreSQL at {redacted(dsn)} did not accept connections within {timeout:.0f}s; "
                f"last error: {last_error}"
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.5)


@contextlib.contextmanager
def exclusive_lock(lock_file: Path, timeout: float) -> Iterator[None]:
    """Exclusive flock on `lock_file` for start/stop across processes (xdist workers, webserver + CLI).

    Polls with LOCK_NB so a wedged holder produces an error naming the lock instead of a silent hang. The
    fd is close-on-exec, so the postmaster never inherits (and keeps holding) the lock.
    """
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"timed out waiting for {lock_file}: another process is starting or "
                        f"stopping the server in {lock_file.parent}"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def same_path(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (by inode when both exist, else by resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
