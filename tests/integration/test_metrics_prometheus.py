"""The metrics endpoint scraped by a real Prometheus (Debian's /usr/bin/prometheus, temp config and data
dir): `fidc-lake metrics serve` runs as its own process against a local lake; after a custodian file lands,
PromQL over Prometheus' HTTP API sees the files landed and the rows change. Both processes are stopped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fidc_assets.lib.core.shipped import CUSTODIANS_DIR
from fidc_assets.lib.ingest.landing import land_slices, receive_files, scan_inbox
from fidc_assets.lib.ingest.specs import load_specs
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.sample.generator import generate_sample

pytestmark = pytest.mark.integration

PROMETHEUS = Path("/usr/bin/prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def _wait(check, what: str, timeout: float = 120.0):
    """Until `check()` returns something truthy (returned); fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.5)
    pytest.fail(f"{what}: not seen within {timeout:.0f} s (last: {last!r})")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def metrics_process(lakehouse, tmp_path: Path) -> Iterator[tuple[Lake, str, int]]:
    lake = Lake.local(tmp_path / "lake")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "FIDC_HOME": str(tmp_path / "home"),
        "FIDC_PG_DSN": lakehouse.dsn,
        "FIDC_ICEBERG_CATALOG_URI": lake.catalog_uri,
        "FIDC_WAREHOUSE": lake.warehouse,
        "FIDC_INBOX": str(inbox),
    }
    argv = [sys.executable, "-m", "fidc_assets.cli", "metrics", "serve", "--port", str(port), "--refresh", "1"]
    log = (tmp_path / "metrics.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: b"fidc_rows_landed" in _get(f"http://127.0.0.1:{port}/metrics"), "the metrics endpoint")
        yield lake, str(inbox), port
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def prometheus(metrics_process, tmp_path: Path) -> Iterator[str]:
    if not PROMETHEUS.exists():
        pytest.fail("Debian's prometheus is not installed (apt-get install -y prometheus)")
    _, _, target = metrics_process
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: fidc\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    )
    data = tmp_path / "prometheus-data"
    argv = [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(f"{url}/-/ready"), "prometheus ready")
        yield url
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def _query(prometheus: str, promql: str) -> float | None:
    """The value of an instant PromQL query with one result, None when it has none."""
    body = json.loads(_get(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"))
    assert body["status"] == "success", body
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_endpoint_and_sees_a_file_land(metrics_process, prometheus: str, tmp_path: Path):
    lake, inbox, _ = metrics_process
    # the endpoint is scraped: its own series arrive, and the lake is empty
    _wait(lambda: _query(prometheus, 'up{job="fidc"}') == 1, "the fidc target up")
    _wait(lambda: _query(prometheus, 'fidc_rows_landed{table="lake.receivable_positions"}') is not None, "rows series")
    assert _query(prometheus, 'fidc_rows_landed{table="lake.receivable_positions"}') == 0
    assert _query(prometheus, "sum(fidc_files_landed_total)") is None  # no file registered: no series
    assert _query(prometheus, 'fidc_metrics_source_up{source="postgresql"}') == 1

    manifest = generate_sample(tmp_path / "sample", seed=3, funds=1, days=1, receivables_per_fund=60,
                               custodians=["custodia_alfa"])  # fmt: skip
    for name in manifest.files:
        shutil.copy2(manifest.inbox_dir / name, Path(inbox) / name)
    specs = load_specs(CUSTODIANS_DIR)
    matched, _ = scan_inbox(inbox, specs)
    receive_files(lake, matched)
    land_slices(lake, specs, manifest.days)
    landed_rows = lake.read("receivable_positions").num_rows
    assert landed_rows > 0

    landed = _wait(lambda: _query(prometheus, 'fidc_files_landed_total{custodian="custodia_alfa"}'), "files landed")
    assert landed == len(manifest.files)
    _wait(lambda: _query(prometheus, 'fidc_rows_landed{table="lake.receivable_positions"}') == landed_rows, "rows")
    since = _query(prometheus, 'max(fidc_seconds_since_last_delivery{custodian="custodia_alfa"})')
    assert since is not None and since >= 0
    assert _query(prometheus, 'fidc_iceberg_snapshots{table="lake.receivable_positions"}') == 1
    assert _query(prometheus, "sum(fidc_iceberg_orphan_files)") == 0
