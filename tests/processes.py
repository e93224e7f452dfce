"""Stopping the process groups the tests start (`dagster dev` and what it spawns: webserver, daemon, code
server, run workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

#: `dagster dev` may ignore SIGTERM for tens of seconds with runs in flight: the grace before SIGKILL.
STOP_TIMEOUT_S = 20.0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(proc: subprocess.Popen, grace_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the whole group (dagster dev forwards it to webserver, daemon and code server), then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie in the group
            if not group_alive(proc.pid):
                break
            time.sleep(0.2)
        if not group_alive(proc.pid):
            break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
