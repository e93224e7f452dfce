"""The OS user that runs PostgreSQL when this process is root, and the permission checks that hand it over.

PostgreSQL refuses to run as root. Under root (CI containers) initdb/pg_ctl/postgres run as an unprivileged
OS user (the ``FIDC_PG_OS_USER`` setting, default ``nobody``) that owns the state dir; everything it needs
(binaries, the state dir and the directories leading to them) is checked beforehand, so a failure names the
directory and the fix instead of surfacing as a cryptic initdb error.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from fidc_assets.lib.hot.embedded.binaries import ENV_BIN, REQUIRED_BINARIES
from fidc_assets.lib.hot.embedded.errors import EmbeddedPostgresError

#: The setting that names the server's OS user (read by the settings, passed here as `name`); error messages
#: name it so the user knows what to change.
ENV_OS_USER = "FIDC_PG_OS_USER"
DEFAULT_OS_USER = "nobody"
#: Where binaries the server's OS user cannot reach are copied to, inside the state dir.
RELOCATED_INSTALL = "pginstall"


@dataclass(frozen=True)
class OsUser:
    """The unprivileged account the server runs as when this process is root."""

    name: str
    uid: int
    gid: int


def server_os_user(name: str | None = None) -> OsUser | None:
    """Who runs initdb/pg_ctl/postgres: None means "this process's user" (the non-root case).

    PostgreSQL refuses to run as root, so under root we switch to `name` (the ``FIDC_PG_OS_USER`` setting) or
    ``nobody``.
    """
    if os.geteuid() != 0:
        return None
    name = name or DEFAULT_OS_USER
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


def require_traversable(dirs: Sequence[Path], user: OsUser, purpose: str) -> None:
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


def require_executable(bin_dir: Path, user: OsUser) -> None:
    """The binaries (and the dirs leading to them, symlinks resolved) must be executable by `user`.

    A venv created by root is normally 755 all the way, but a venv under /root (0700) is not.
    """
    for name in REQUIRED_BINARIES:
        binary = (bin_dir / name).resolve()
        require_traversable([*reversed(binary.parents)], user, f"{binary} (set {ENV_BIN} elsewhere?)")
        if not _permits(binary, user, _SEARCH):
            raise EmbeddedPostgresError(
                f"{binary} is not executable by OS user {user.name!r} (uid {user.uid}); "
                f"`chmod o+rx {binary}` or set {ENV_BIN} to binaries that user can run"
            )


def chown(path: Path, user: OsUser | None) -> None:
    """Hand `path` (not following a symlink) to `user`, unless it is already theirs or there is no `user`."""
    if user is not None and path.lstat().st_uid != user.uid:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def chown_tree(top: Path, user: OsUser | None) -> None:
    """Re-own a whole tree, only when its top is owned by someone else (cheap on every start)."""
    if user is None or top.lstat().st_uid == user.uid:
        return
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), user.uid, user.gid, follow_symlinks=False)
    os.chown(top, user.uid, user.gid, follow_symlinks=False)


def runnable_bin_dir(
    bin_dir: Path, user: OsUser | None, state_root: Path, lock: Callable[[], AbstractContextManager[None]]
) -> Path:
    """The binaries as the server's OS user can run them. Under root, binaries inside a tree that user
    cannot enter (a checkout under /root, mode 0700) are copied once, with their lib/ and share/, into the
    state dir, which that user must reach anyway. `lock` serializes the copy across processes."""
    if user is None:
        return bin_dir
    install = bin_dir.resolve().parent
    try:
        require_executable(bin_dir, user)
        return bin_dir
    except EmbeddedPostgresError:
        if not (install / "lib").is_dir():
            raise
    # A wheel's binaries find their vendored libraries through RPATH $ORIGIN/../../../<package>.libs:
    # the copy keeps that layout (<package>/<install>/bin beside <package>.libs).
    package = install.parent
    wheel_libs = package.parent / f"{package.name}.libs"
    copy = state_root / RELOCATED_INSTALL
    copied_bin = copy / package.name / install.name / "bin"
    if not (copied_bin / "postgres").exists():
        state_root.mkdir(parents=True, exist_ok=True)
        with lock():  # two processes starting at once copy once
            if not (copied_bin / "postgres").exists():
                _copy_install(install, wheel_libs, copy, state_root)
    require_executable(copied_bin, user)
    return copied_bin


def _copy_install(install: Path, wheel_libs: Path, copy: Path, state_root: Path) -> None:
    """Copy the installation (and the wheel's vendored libraries) world-readable, then rename into place."""
    partial = state_root / f".{RELOCATED_INSTALL}.partial"
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
