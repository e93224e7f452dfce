"""`fidc-lake daemon` is Dagster's daemon with the code server's heartbeat TTL of the settings (Dagster's own
is a hard-coded 20 s: on 2 busy cores the code server shut itself down and the sensors failed for minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.processes import stop_process_group

pytestmark = pytest.mark.integration


def _code_server_args(pid: int) -> list[str] | None:
    for child in psutil.Process(pid).children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if "api" in cmd and "grpc" in cmd:
            return cmd
    return None


def test_the_daemon_starts_its_code_server_with_the_settings_heartbeat_ttl(tmp_path: Path):
    env = {**os.environ, "FIDC_HOME": str(tmp_path / "home"), "DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS": "123"}
    env.pop("DAGSTER_HOME", None)
    log = (tmp_path / "daemon.log").open("wb")
    fidc_lake = str(Path(sys.executable).parent / "fidc-lake")
    proc = subprocess.Popen(
        [fidc_lake, "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline, cmd = time.monotonic() + 300, None
        while cmd is None and time.monotonic() < deadline and proc.poll() is None:
            cmd = _code_server_args(proc.pid)
            time.sleep(1)
        assert cmd is not None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert cmd[cmd.index("--heartbeat-timeout") + 1] == "123", cmd
    finally:
        stop_process_group(proc)
        log.close()
