"""Resolution order of the PostgreSQL binaries used by the embedded server.

Fake executables in tmp dirs stand in for installations: only path logic is under test here; the real
server is exercised in tests/integration/test_pg_embedded.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fidc_assets.lib.hot.embedded import server as pg_embedded
from fidc_assets.lib.hot.embedded.server import REQUIRED_BINARIES, PgBinariesNotFoundError, find_pg_bin_dir


def make_bin_dir(path: Path, names: tuple[str, ...] = REQUIRED_BINARIES) -> Path:
    """A directory of do-nothing executables with the given names."""
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        exe = path / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return path


def make_pg_config(path_dir: Path, bindir: Path) -> None:
    """A fake pg_config on PATH that answers `--bindir`."""
    path_dir.mkdir(parents=True, exist_ok=True)
    script = path_dir / "pg_config"
    script.write_text(f'#!/bin/sh\n[ "$1" = "--bindir" ] && echo "{bindir}"\n')
    script.chmod(0o755)


@pytest.fixture
def path_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH with only this directory: the machine's own pg_config/initdb must not leak in (the fake scripts
    need no PATH: their shebang is absolute and they use only shell builtins)."""
    directory = tmp_path / "path"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


@pytest.fixture
def system_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "usr-lib-postgresql"
    root.mkdir()
    monkeypatch.setattr(pg_embedded, "SYSTEM_PG_ROOT", root)
    return root


@pytest.fixture
def no_pgserver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pgserver look uninstalled: find_spec and import treat a None entry in sys.modules as absent."""
    monkeypatch.setitem(sys.modules, "pgserver", None)


@pytest.fixture(autouse=True)
def no_env_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pg_embedded.ENV_BIN, raising=False)


def pgserver_installed() -> bool:
    return pg_embedded._pgserver_bin_dir() is not None


def test_env_var_wins_over_everything(tmp_path: Path, path_dir: Path, system_root: Path, monkeypatch) -> None:
    explicit = make_bin_dir(tmp_path / "explicit")
    make_bin_dir(path_dir)
    make_bin_dir(system_root / "16" / "bin")
    monkeypatch.setenv(pg_embedded.ENV_BIN, str(explicit))
    assert find_pg_bin_dir() == explicit


def test_incomplete_env_var_is_an_error_not_skipped(tmp_path: Path, path_dir: Path, monkeypatch) -> None:
    partial = make_bin_dir(tmp_path / "partial", ("initdb", "pg_ctl"))
    make_bin_dir(path_dir)  # a valid fallback exists, but an explicit choice must not be silently overridden
    monkeypatch.setenv(pg_embedded.ENV_BIN, str(partial))
    with pytest.raises(PgBinariesNotFoundError, match=r"FIDC_PG_BIN=.*partial.*lacks executable postgres"):
        find_pg_bin_dir()


def test_non_executable_file_does_not_count(tmp_path: Path, monkeypatch) -> None:
    explicit = make_bin_dir(tmp_path / "explicit")
    (explicit / "pg_ctl").chmod(0o644)
    monkeypatch.setenv(pg_embedded.ENV_BIN, str(explicit))
    with pytest.raises(PgBinariesNotFoundError, match="lacks executable pg_ctl"):
        find_pg_bin_dir()


@pytest.mark.skipif(not pgserver_installed(), reason="pgserver wheel not installed (Python >= 3.13)")
def test_pgserver_wheel_comes_before_path_and_system(
    tmp_path: Path, path_dir: Path, system_root: Path, monkeypatch
) -> None:
    make_pg_config(path_dir, make_bin_dir(tmp_path / "from-pg-config"))
    make_bin_dir(path_dir)
    make_bin_dir(system_root / "16" / "bin")
    monkeypatch.delitem(sys.modules, "pgserver", raising=False)

    found = find_pg_bin_dir()

    assert found.parts[-3:] == ("pgserver", "pginstall", "bin")
    assert pg_embedded._missing_binaries(found) == []
    # Located, not imported: pgserver's __init__ has side effects we don't want.
    assert "pgserver" not in sys.modules


def test_pg_config_comes_before_initdb_on_path(
    tmp_path: Path, path_dir: Path, system_root: Path, no_pgserver: None
) -> None:
    from_pg_config = make_bin_dir(tmp_path / "from-pg-config")
    make_pg_config(path_dir, from_pg_config)
    make_bin_dir(path_dir)
    make_bin_dir(system_root / "16" / "bin")
    assert find_pg_bin_dir() == from_pg_config


def test_pg_config_without_server_binaries_falls_through_to_initdb_on_path(
    tmp_path: Path, path_dir: Path, system_root: Path, no_pgserver: None
) -> None:
    # Typical of a libpq-dev-only machine: pg_config exists, its bindir has client tools only.
    make_pg_config(path_dir, make_bin_dir(tmp_path / "client-only", ("psql", "pg_dump")))
    make_bin_dir(path_dir)
    assert find_pg_bin_dir() == path_dir


def test_initdb_on_path_symlink_resolves_to_real_dir(
    tmp_path: Path, path_dir: Path, system_root: Path, no_pgserver: None
) -> None:
    real = make_bin_dir(tmp_path / "real" / "bin")
    (path_dir / "initdb").symlink_to(real / "initdb")  # only initdb is linked onto PATH
    assert find_pg_bin_dir() == real


def test_system_dir_picks_highest_complete_version(path_dir: Path, system_root: Path, no_pgserver: None) -> None:
    make_bin_dir(system_root / "9.6" / "bin")
    make_bin_dir(system_root / "10" / "bin")
    make_bin_dir(system_root / "16" / "bin")
    make_bin_dir(system_root / "17" / "bin", ("psql", "pg_dump"))  # client package only: no server
    assert find_pg_bin_dir() == system_root / "16" / "bin"


def test_system_dir_orders_versions_numerically(path_dir: Path, system_root: Path, no_pgserver: None) -> None:
    make_bin_dir(system_root / "9.6" / "bin")
    make_bin_dir(system_root / "10" / "bin")
    assert find_pg_bin_dir() == system_root / "10" / "bin"


def test_nothing_found_lists_every_source_tried(
    tmp_path: Path, path_dir: Path, system_root: Path, no_pgserver: None
) -> None:
    make_pg_config(path_dir, make_bin_dir(tmp_path / "client-only", ("psql",)))
    make_bin_dir(system_root / "17" / "bin", ("psql",))

    with pytest.raises(PgBinariesNotFoundError) as excinfo:
        find_pg_bin_dir()

    message = str(excinfo.value)
    assert "$FIDC_PG_BIN: not set" in message
    assert "pgserver wheel (pgserver/pginstall/bin): not available" in message
    assert f"pg_config --bindir: {tmp_path / 'client-only'} lacks initdb, pg_ctl, postgres" in message
    assert "initdb on PATH: not available" in message
    assert f"{system_root}/*/bin: not available" in message
    assert "FIDC_PG_BIN" in message.splitlines()[-1]


@pytest.mark.skipif(os.geteuid() != 0, reason="the OS-user switch only applies when running as root")
def test_root_cannot_be_the_server_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg_embedded.ENV_OS_USER, "root")
    with pytest.raises(pg_embedded.EmbeddedPostgresError, match="uid 0"):
        pg_embedded.server_os_user()


@pytest.mark.skipif(os.geteuid() != 0, reason="the OS-user switch only applies when running as root")
def test_unknown_server_user_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg_embedded.ENV_OS_USER, "no-such-user-fidc")
    with pytest.raises(pg_embedded.EmbeddedPostgresError, match="'no-such-user-fidc'.*does not exist"):
        pg_embedded.server_os_user()


def test_settings_cannot_override_how_the_server_is_reached(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'port' is managed"):
        pg_embedded.EmbeddedPostgres(tmp_path, settings={"port": "5432"})
    with pytest.raises(ValueError, match="invalid PostgreSQL setting name"):
        pg_embedded.EmbeddedPostgres(tmp_path, settings={"fsync=off -c x": "y"})


def test_server_options_are_shell_quoted(tmp_path: Path) -> None:
    pg = pg_embedded.EmbeddedPostgres(tmp_path, settings={"application_name": "it's"})
    assert pg._server_options(5555) == (
        "-c listen_addresses=127.0.0.1 -c port=5555 -c unix_socket_directories= -c 'application_name=it'\"'\"'s'"
    )
