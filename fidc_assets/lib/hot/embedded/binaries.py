"""Finding the PostgreSQL server binaries (initdb, pg_ctl, postgres) and telling their major version.

Why a search at all: neither a laptop nor CI should have to install PostgreSQL, so the binaries bundled in the
``pgserver`` wheel come first; a machine with its own server package (or a developer pointing at a build) is
served too. The caller may name a directory explicitly (the ``FIDC_PG_BIN`` setting): then it is the only
place looked at.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from fidc_assets.lib.hot.embedded.errors import EmbeddedPostgresError, PgBinariesNotFoundError

#: The setting that names the binaries' directory (read by the settings, passed here as `explicit`); error
#: messages name it so the user knows what to change.
ENV_BIN = "FIDC_PG_BIN"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
#: Debian/Ubuntu layout: /usr/lib/postgresql/<major>/bin. Module-level so tests can point it elsewhere.
SYSTEM_PG_ROOT = Path("/usr/lib/postgresql")


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


def find_pg_bin_dir(explicit: str | Path | None = None) -> Path:
    """Directory holding initdb, pg_ctl and postgres.

    Order: `explicit` (the ``FIDC_PG_BIN`` setting); the pgserver wheel (PostgreSQL 16); ``pg_config --bindir``;
    ``initdb`` on PATH; the highest ``/usr/lib/postgresql/*/bin``. An explicit directory that is incomplete is
    an error rather than silently skipped: whoever set it wants those binaries and nothing else.
    """
    if explicit:
        bin_dir = Path(explicit).expanduser().absolute()
        missing = _missing_binaries(bin_dir)
        if missing:
            raise PgBinariesNotFoundError(
                f"{ENV_BIN}={str(explicit)!r} lacks executable {', '.join(missing)} "
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
def server_major_version(postgres: Path) -> str:
    """Major version of a postgres binary in PG_VERSION form ('16', '9.6'): catches data/binary mismatches."""
    done = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", done.stdout)
    if done.returncode != 0 or match is None:
        raise EmbeddedPostgresError(
            f"could not get the version of {postgres} (exit {done.returncode}): {done.stdout}{done.stderr}"
        )
    major, minor = int(match.group(1)), match.group(2)
    return str(major) if major >= 10 or minor is None else f"{major}.{minor}"
