"""`fidc-lake health` on the production-shaped profile, run as a probe would (a child process, its exit code,
its stderr): everything up → exit 0; PostgreSQL stopped, the Iceberg REST catalog stopped (the S3 gateway
that serves it), S3 unable to store (both volume servers stopped) → exit 1 and one line naming the service.
Each stopped service is started again before the test ends (the cluster is shared by the session)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fidc_assets.lib.hot.dsn import embedded_server
from tests.conftest import traversable_tmp_dir
from tests.prod.services import SeaweedCluster

pytestmark = pytest.mark.prod


@pytest.fixture
def private_pg() -> Iterator:
    """An embedded PostgreSQL of this test's own, so that stopping it disturbs no other test."""
    root = traversable_tmp_dir("fidc-prod-health-pg-")
    server = embedded_server(root / "pg")
    try:
        yield server, server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _health(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "fidc_assets.cli", "health", "--timeout", "15", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ), timeout=300)


def _down(result: subprocess.CompletedProcess[str], service: str) -> dict:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fidc-lake health: {service} down: "), result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["reason"].startswith(f"{service} down: ")
    return {c["name"]: c["status"] for c in report["checks"]}


def test_health_is_zero_when_up_and_names_the_service_that_is_down(prod_env, private_pg, seaweed: SeaweedCluster):
    server, dsn = private_pg
    os.environ["FIDC_PG_DSN"] = dsn
    inbox = prod_env["FIDC_INBOX"]

    up = _health("--json")
    assert up.returncode == 0, (up.stdout, up.stderr)
    report = json.loads(up.stdout)
    assert report["ok"] is True and report["reason"] is None
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "postgresql": "ok", "catalog": "ok", "storage": "ok", "inbox": "ok", "dbt_manifest": "ok", "deliveries": "ok",
    }  # fmt: skip
    human = _health()
    assert human.returncode == 0 and f"{inbox}: 0 files waiting" in human.stdout

    # S3 cannot store: both volume servers stopped (the gateway and the catalog's metadata still answer)
    seaweed.stop_volume(0)
    seaweed.stop_volume(1)
    try:
        statuses = _down(_health("--json"), "storage")
        assert statuses["postgresql"] == statuses["catalog"] == "ok"
    finally:
        seaweed.start_volume(0)
        seaweed.start_volume(1)
        seaweed.wait_writable()

    # the Iceberg REST catalog down: the S3 gateway that serves it stopped
    seaweed.processes["s3"].stop()
    try:
        statuses = _down(_health("--json"), "catalog")
        assert statuses["postgresql"] == "ok" and statuses["storage"] == "down"
    finally:
        seaweed.start_s3()

    # PostgreSQL stopped
    server.stop()
    statuses = _down(_health("--json"), "postgresql")
    assert statuses["catalog"] == statuses["storage"] == "ok"

    server.start()
    assert _health().returncode == 0
