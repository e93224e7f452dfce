"""The embedded PostgreSQL against a real server: lifecycle, cross-process state, durability, privileges.

State dirs are made with mkdtemp under /tmp and chmod 0755 rather than pytest's tmp_path: under root,
/tmp/pytest-of-root is 0700, which the unprivileged server user could not traverse.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from fidc_assets.lib.hot.embedded import EmbeddedPostgres, EmbeddedPostgresError
from fidc_assets.lib.hot.embedded.os_user import DEFAULT_OS_USER
from tests.db import own_sql

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


def traversable_tmp_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="fidc-pg-test-", dir="/tmp"))
    directory.chmod(0o755)
    return directory


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A fresh traversable dir; any server under it is stopped before removal."""
    directory = traversable_tmp_dir()
    try:
        yield directory
    finally:
        for root in directory.glob("*"):
            if (root / "data").is_dir():
                EmbeddedPostgres(root).stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def pg() -> Iterator[EmbeddedPostgres]:
    """One server for the module (initdb is the slow part); each test starts it (idempotent) as needed."""
    directory = traversable_tmp_dir()
    server = EmbeddedPostgres(directory / "pg")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def query_one(dsn: str, statement: str) -> object:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(own_sql(statement)).fetchone()
    assert row is not None
    return row[0]


def status_in_subprocess(root: Path) -> dict[str, object]:
    """status() from a separate interpreter: proves state lives on disk, not in the Python object."""
    code = (
        "import json, sys\n"
        "from fidc_assets.lib.hot.embedded import EmbeddedPostgres\n"
        "s = EmbeddedPostgres(sys.argv[1]).status()\n"
        "print(json.dumps({'running': s.running, 'port': s.port, 'pid': s.pid, 'dsn': s.dsn}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected_server_uid() -> int:
    if not IS_ROOT:
        return os.geteuid()
    return pwd.getpwnam(DEFAULT_OS_USER).pw_uid  # EmbeddedPostgres(root) without os_user


def proc_uids(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(uid) for uid in line.split()[1:]]
    raise AssertionError(f"no Uid line for pid {pid}")


def test_start_returns_a_working_dsn_for_the_fidc_database(pg: EmbeddedPostgres) -> None:
    dsn = pg.start()
    assert dsn.startswith("postgresql://postgres:") and "@127.0.0.1:" in dsn and dsn.endswith("/fidc")
    assert query_one(dsn, "select 1") == 1
    assert query_one(dsn, "select current_database()") == "fidc"


def test_start_is_idempotent_and_reuses_the_postmaster(pg: EmbeddedPostgres) -> None:
    first = pg.start()
    pid = pg.status().pid
    assert pid is not None

    assert pg.start() == first
    assert pg.status().pid == pid
    assert int((pg.data_dir / "postmaster.pid").read_text().splitlines()[0]) == pid


def test_status_and_url_report_the_running_server(pg: EmbeddedPostgres) -> None:
    dsn = pg.start()
    status = pg.status()
    assert status.running
    assert status.dsn == dsn == pg.url()
    assert status.port is not None and f":{status.port}/" in dsn
    assert pg.port_file.read_text().strip() == str(status.port)
    assert status.data_dir == pg.data_dir
    assert status.bin_dir is not None and (status.bin_dir / "postgres").exists()


def test_another_instance_and_another_process_see_it_running(pg: EmbeddedPostgres) -> None:
    dsn = pg.start()
    mine = pg.status()

    other = EmbeddedPostgres(pg.root).status()
    assert (other.running, other.port, other.pid, other.dsn) == (True, mine.port, mine.pid, dsn)

    remote = status_in_subprocess(pg.root)
    assert remote == {"running": True, "port": mine.port, "pid": mine.pid, "dsn": dsn}


def test_stop_then_start_keeps_data(pg: EmbeddedPostgres) -> None:
    dsn = pg.start()
    with psycopg.connect(dsn) as conn:
        conn.execute("create table if not exists survivor (id int primary key, note text)")
        conn.execute("insert into survivor values (1, 'kept') on conflict do nothing")

    pg.stop()
    stopped = pg.status()
    assert not stopped.running
    assert (stopped.pid, stopped.dsn, pg.url()) == (None, None, None)
    assert status_in_subprocess(pg.root)["running"] is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    pg.stop()  # stopping a stopped server is fine

    restarted = pg.start()
    assert query_one(restarted, "select note from survivor where id = 1") == "kept"


def test_taken_stored_port_makes_start_pick_another(pg: EmbeddedPostgres) -> None:
    pg.start()
    old_port = pg.status().port
    assert old_port is not None
    pg.stop()

    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: the stopped server's connections may leave the port in TIME_WAIT.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        dsn = pg.start()
    finally:
        squatter.close()

    new_port = pg.status().port
    assert new_port != old_port
    assert f":{new_port}/" in dsn
    assert pg.port_file.read_text().strip() == str(new_port)
    assert query_one(dsn, "select 1") == 1


def test_server_runs_unprivileged_and_owns_its_data(pg: EmbeddedPostgres) -> None:
    pg.start()
    pid = pg.status().pid
    assert pid is not None
    uid = expected_server_uid()

    st = os.stat(pg.data_dir)
    assert st.st_uid == uid
    assert st.st_mode & 0o777 == 0o700
    assert os.stat(pg.log_file).st_uid == uid
    assert proc_uids(pid) == [uid] * 4
    if IS_ROOT:
        assert uid != 0


def test_concurrent_starts_share_one_server(scratch: Path) -> None:
    """Two processes racing on a fresh root (e.g. xdist workers): one initdb, one postmaster, one DSN."""
    root = scratch / "pg"
    code = (
        "import sys\n"
        "from fidc_assets.lib.hot.embedded import EmbeddedPostgres\n"
        "print(EmbeddedPostgres(sys.argv[1]).start())\n"
    )

    def start_in_subprocess(_: int) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, str(root)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    with ThreadPoolExecutor(max_workers=2) as pool:
        dsns = set(pool.map(start_in_subprocess, range(2)))

    assert len(dsns) == 1
    status = EmbeddedPostgres(root).status()
    assert status.running and status.dsn == dsns.pop()


@pytest.mark.skipif(not IS_ROOT, reason="the traversal check only applies when root hands off to another user")
def test_untraversable_parent_fails_with_a_clear_message(scratch: Path) -> None:
    hidden = scratch / "private"
    hidden.mkdir(mode=0o700)
    with pytest.raises(EmbeddedPostgresError, match=rf"directory {hidden} .* not traversable .*FIDC_HOME"):
        EmbeddedPostgres(hidden / "pg").start()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another OS user")
def test_binaries_the_server_user_cannot_reach_are_copied_into_the_state_dir(scratch: Path) -> None:
    """A checkout under /root (0700): its venv's binaries are out of `nobody`'s reach, so they are copied."""
    import shutil

    from fidc_assets.lib.hot.embedded import find_pg_bin_dir
    from fidc_assets.lib.hot.embedded.os_user import RELOCATED_INSTALL

    private = Path(tempfile.mkdtemp(prefix="fidc-private-", dir="/tmp"))
    private.chmod(0o700)
    try:
        install = find_pg_bin_dir().resolve().parent
        package = install.parent
        private_install = private / package.name / install.name
        shutil.copytree(install, private_install, symlinks=True)
        libs = package.parent / f"{package.name}.libs"  # the wheel's vendored libraries, if any
        if libs.is_dir():
            shutil.copytree(libs, private / libs.name, symlinks=True)
        pg = EmbeddedPostgres(scratch / "relocated", bin_dir=str(private_install / "bin"))
        dsn = pg.start()
        try:
            with psycopg.connect(dsn) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
            relocated = scratch / "relocated" / RELOCATED_INSTALL / package.name / install.name / "bin" / "postgres"
            assert relocated.exists()
        finally:
            pg.stop()
    finally:
        shutil.rmtree(private, ignore_errors=True)
