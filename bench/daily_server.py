"""What `bench.daily` runs its homes with: a fresh FIDC_HOME per measurement, `fidc-lake` commands in it, the
direct (no sensor) path, and the Dagster webserver and daemon as `make ui` starts them (`fidc-lake ui`: `dagster
dev` in its own process group, stopped with a grace period, then SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fidc_assets.settings import REPO_DIR

BIN = Path(sys.executable).parent
STOP_GRACE_S = 20.0

SENSOR_TICKS = """
query ($sel: SensorSelector!) {
  sensorOrError(sensorSelector: $sel) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 1) { status timestamp } } }
  }
}
"""


@dataclass
class Home:
    """One fresh FIDC_HOME and the environment its commands run with (no FIDC_*/DAGSTER_HOME from outside)."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FIDC_", "DAGSTER_"))}
        self.env = {**base, "FIDC_HOME": str(self.root), **self.env}

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def funds_file(self) -> Path:
        return self.root / "funds.yaml"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    def fidc(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "fidc-lake"), *args], env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"fidc-lake {' '.join(args)} failed ({out.returncode}): {out.stderr[-3000:]}")
        return out.stdout.strip()

    def dsn(self) -> str:
        return self.fidc("db", "url")

    def direct(self, days: list[str]) -> dict[str, Any]:
        """The direct path (`fidc-lake demo`'s two in-process runs, no sensor) for `days`, in a child process
        with this home's environment; returns its timings (see `bench.daily.direct_main`)."""
        log = self.root / "direct.log"
        with log.open("a") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.daily", "_direct", *days],
                env=self.env,
                cwd=REPO_DIR,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
            )
        if proc.returncode != 0:
            raise RuntimeError(f"direct path for {days} failed ({proc.returncode}); see {log}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`fidc-lake ui` (webserver + daemon + code server) for a home, in its own process group."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.root / "ui.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300.0) -> float:
        """Start and wait until the inbox sensor has ticked once; returns the seconds it took."""
        started = time.monotonic()
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "fidc-lake"), "ui", "--port", str(self.port)],
                env=self.home.env,
                cwd=REPO_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout_s
        since = time.time()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited ({self.proc.returncode}); see {self.log}")
            tick = self._last_tick()
            if tick is not None and tick["timestamp"] >= since and tick["status"] in ("SKIPPED", "SUCCESS"):
                return time.monotonic() - started
            time.sleep(2.0)
        raise RuntimeError(f"the inbox sensor did not tick within {timeout_s:.0f} s; see {self.log}")

    def _last_tick(self) -> dict[str, Any] | None:
        sel = {
            "repositoryLocationName": "fidc_assets",
            "repositoryName": "__repository__",
            "sensorName": "inbox_sensor",
        }
        try:
            data = self.graphql(SENSOR_TICKS, {"sel": sel})
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
            return None
        sensor = data.get("sensorOrError") or {}
        ticks = (sensor.get("sensorState") or {}).get("ticks") or []
        return ticks[0] if ticks else None

    def graphql(self, query: str, variables: dict | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise ValueError(str(payload["errors"]))
        return payload["data"]

    def stop(self) -> None:
        """SIGTERM the group, wait up to STOP_GRACE_S, then SIGKILL what is left."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                self.proc.poll()
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                continue
            break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
