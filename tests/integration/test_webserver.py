"""The real Dagster webserver: `dagster dev` starts with the project's workspace, the `fidc_assets` code
location loads, and the GraphQL API lists the assets, their partitioning and the Great Expectations check.

`dagster dev` runs in its own process group (webserver, daemon and code server are children) so that the
whole tree can be stopped; DAGSTER_HOME is a fresh temp dir holding a copy of the repo's dagster.yaml.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from fidc_assets.lib.core.calendar import HISTORY_START, TIMEZONE, business_days_between
from fidc_assets.settings import REPO_DIR
from tests.processes import stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCATION_NAME = "fidc_assets"
STARTUP_TIMEOUT_S = 120.0

EXPECTED_ASSETS = {
    "lake/custodian_files",
    "lake/receivable_positions",
    "hot/landing_receivable_positions",
    "staging/stg_receivable_positions",
    "marts/fct_receivable_position_daily",
    "marts/mart_fund_daily",
}
PARTITIONED_ASSET = "lake/receivable_positions"
GX_CHECK = "gx_receivable_positions_canonical"

WORKSPACE_QUERY = """
{
  workspaceOrError {
    __typename
    ... on PythonError { message stack }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation {
            name
            repositories {
              name
              sensors { name sensorState { status } }
              schedules { name scheduleState { status } }
            }
          }
          ... on PythonError { message stack cause { message stack } }
        }
      }
    }
  }
}
"""

ASSETS_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name assetKey { path } } }
      ... on AssetCheckNeedsMigrationError { message }
      ... on AssetCheckNeedsUserCodeUpgrade { message }
      ... on AssetCheckNeedsAgentUpgradeError { message }
    }
  }
}
"""


@dataclass
class Webserver:
    url: str
    proc: subprocess.Popen
    log: Path
    home: Path  # DAGSTER_HOME of the served instance
    inbox: Path  # FIDC_INBOX of the served code location (and of the sensor)
    funds: list[str]  # the registered funds (`funds` partitions)
    backfill_id: str | None = None  # set by the backfill test, shown by the UI test

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"<log unreadable: {exc}>"
        return text[-chars:]

    def graphql(self, query: str, timeout: float = 30.0, variables: dict | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as e:  # the server's own error (a 500 carries GraphQL's errors in its body)
            raise AssertionError(f"HTTP {e.code}: {e.read()[:4000]!r}\n--- log tail ---\n{self.log_tail()}") from e
        assert not payload.get("errors"), f"GraphQL errors: {payload['errors']}\n--- log tail ---\n{self.log_tail()}"
        return payload["data"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(server: Webserver) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(
                f"dagster dev exited with code {server.proc.returncode} before answering\n"
                f"--- log tail ---\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last_error = exc
        time.sleep(1.0)
    pytest.fail(
        f"dagster dev did not answer /server_info within {STARTUP_TIMEOUT_S:.0f}s (last error: {last_error!r})\n"
        f"--- log tail ---\n{server.log_tail()}"
    )


def wait_until_location_loaded(server: Webserver, deadline: float) -> dict[str, Any]:
    """Poll the workspace until the location's loadStatus is LOADED; return its entry."""
    while True:
        workspace = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]
        assert workspace["__typename"] == "Workspace", f"workspace error: {workspace}\n{server.log_tail()}"
        entries = {e["name"]: e for e in workspace["locationEntries"]}
        assert LOCATION_NAME in entries, f"locations: {sorted(entries)}\n--- log tail ---\n{server.log_tail()}"
        entry = entries[LOCATION_NAME]
        if entry["loadStatus"] == "LOADED" or time.monotonic() > deadline:
            return entry
        time.sleep(1.0)


@pytest.fixture(scope="module")
def webserver(lakehouse, dbt_manifest: Path, sample) -> Iterator[Webserver]:
    assert dbt_manifest.exists(), f"dbt manifest missing: {dbt_manifest}"
    tmp = Path(tempfile.mkdtemp(prefix="fidc-webserver-test-"))
    dagster_home = tmp / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_DIR / "dagster.yaml", dagster_home / "dagster.yaml")
    log = tmp / "dagster-dev.log"
    # two sample days materialized into this instance, so the UI has partition status to show
    from fidc_assets.pipeline import run_days

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        assert run_days(list(sample.days[:2]), instance=instance, log_level="WARNING").success
        funds = instance.get_dynamic_partitions("funds")

    bin_dir = Path(sys.executable).parent
    env = os.environ.copy()
    env["DAGSTER_HOME"] = str(dagster_home)
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    # the inbox sensor is on by default: give it an empty inbox, so the daemon starts no run during the test
    (tmp / "inbox").mkdir()
    env["FIDC_INBOX"] = str(tmp / "inbox")
    port = free_port()
    cmd = [
        str(bin_dir / "dagster"),
        "dev",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(REPO_DIR / "workspace.yaml"),
    ]
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    server = Webserver(url=url, proc=proc, log=log, home=dagster_home, inbox=tmp / "inbox", funds=list(funds))
    try:
        yield server
    finally:
        stop_process_group(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_webserver_lists_project_assets(webserver: Webserver) -> None:
    started = time.monotonic()
    wait_until_answering(webserver)

    entry = wait_until_location_loaded(webserver, deadline=started + STARTUP_TIMEOUT_S)
    location = entry["locationOrLoadError"]
    assert entry["loadStatus"] == "LOADED", f"location still {entry['loadStatus']}\n{webserver.log_tail()}"
    assert location is not None and location["__typename"] == "RepositoryLocation", (
        f"code location {LOCATION_NAME!r} failed to load: {json.dumps(location, indent=2)}\n"
        f"--- log tail ---\n{webserver.log_tail()}"
    )
    assert location["repositories"], f"no repositories in {LOCATION_NAME!r}"
    repo = location["repositories"][0]
    sensors = {x["name"]: x["sensorState"]["status"] for x in repo["sensors"]}
    schedules = {x["name"]: x["scheduleState"]["status"] for x in repo["schedules"]}
    # the inbox, the late-delivery watch and the declarative automation of the hot loads and marts
    assert sensors == {
        "inbox_sensor": "RUNNING",
        "expected_deliveries": "RUNNING",
        "marts_automation": "RUNNING",
        "cvm_inbox_sensor": "RUNNING",
    }, sensors
    assert schedules == {"daily_marts": "RUNNING", "nightly_maintenance": "RUNNING"}, schedules

    nodes = webserver.graphql(ASSETS_QUERY)["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    missing = EXPECTED_ASSETS - by_key.keys()
    assert not missing, f"assets missing from GraphQL: {sorted(missing)}; listed: {sorted(by_key)}"

    positions = by_key[PARTITIONED_ASSET]
    assert positions["isPartitioned"] is True, positions

    checks_or_error = positions["assetChecksOrError"]
    assert checks_or_error["__typename"] == "AssetChecks", checks_or_error
    check_names = {c["name"] for c in checks_or_error["checks"]}
    assert GX_CHECK in check_names, f"checks on {PARTITIONED_ASSET}: {sorted(check_names)}"
    gx_check = next(c for c in checks_or_error["checks"] if c["name"] == GX_CHECK)
    assert "/".join(gx_check["assetKey"]["path"]) == PARTITIONED_ASSET


PARTITIONING_QUERY = """
{ assetNodes { assetKey { path } partitionDefinition { type description } } }
"""
SENSORS_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection { nodes { sensors { name sensorState { id status } } } }
  }
}
"""
STOP_SENSOR = """
mutation Stop($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message stack }
  }
}
"""
LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on PythonError { message stack }
  }
}
"""
BACKFILL_RUNS = """
query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status assetSelection { path } tags { key value } } }
  }
}
"""
BACKFILL_TIMEOUT_S = 900.0
#: One month of a smaller book than the session's sample, after it (the session sample starts 2024-07-01).
MONTH_ARGS = {"seed": 7, "funds": 2, "start": dt.date(2024, 8, 1), "days": 22, "receivables_per_fund": 200}


def _stop_inbox_sensor(server: Webserver) -> None:
    """Files are delivered by hand for the backfill: the sensor must not start runs of its own for them."""
    repos = server.graphql(SENSORS_QUERY)["repositoriesOrError"]["nodes"]
    [state] = [s["sensorState"] for r in repos for s in r["sensors"] if s["name"] == "inbox_sensor"]
    # The instance's SQLite storage has several writers (daemon, three sensors, webserver): a write may find it
    # locked for a moment, which the mutation reports as an error. Stopping the sensor again is safe.
    result: dict[str, Any] = {}
    for attempt in range(10):
        try:
            result = server.graphql(STOP_SENSOR, variables={"id": state["id"]})["stopSensor"]
        except AssertionError as e:
            if "database is locked" not in str(e) or attempt == 9:
                raise
            time.sleep(2.0)
            continue
        if result["__typename"] == "PythonError" and "database is locked" in result["message"] and attempt < 9:
            time.sleep(2.0)
            continue
        break
    assert result["__typename"] == "StopSensorMutationResult", result
    assert result["instigationState"]["status"] == "STOPPED"


def test_a_month_backfills_through_the_daemon_in_bounded_runs(webserver: Webserver, lakehouse) -> None:
    """What an operator does in the UI: select every asset, one month, all funds, launch a backfill. The
    daemon splits it by the assets' backfill policies: one ingestion run per fund over the whole month,
    then the date-only hot load and marts in single runs; the marts then equal the generator's truth."""
    from dagster._core.instance.ref import InstanceRef

    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.pipeline import adopt_fund_registry, deliver, mart_totals, register_funds
    from fidc_assets.sample.generator import generate_sample
    from fidc_assets.sample.truth import read_truth

    wait_until_answering(webserver)
    entry = wait_until_location_loaded(webserver, deadline=time.monotonic() + STARTUP_TIMEOUT_S)
    assert entry["loadStatus"] == "LOADED", webserver.log_tail()
    _stop_inbox_sensor(webserver)

    month = generate_sample(lakehouse.home / "sample-month", **MONTH_ARGS)
    deliver([month.inbox_dir / f for f in month.files], webserver.inbox)
    registry = adopt_fund_registry(month.out_dir / REGISTRY_FILE_NAME, lakehouse.settings.funds_file)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(webserver.home))) as instance:
        register_funds(instance, registry)
        funds = instance.get_dynamic_partitions("funds")
    days = list(month.days)
    month_funds = [f.cnpj for f in month.funds]
    assert set(month_funds) <= set(funds)

    nodes = webserver.graphql(PARTITIONING_QUERY)["assetNodes"]
    ranges = []
    for node in nodes:
        kind, description = node["partitionDefinition"]["type"], node["partitionDefinition"]["description"]
        if kind == "MULTIPARTITIONED":  # ingestion: date × fund
            first, last = f"{days[0]}|{funds[0]}", f"{days[-1]}|{funds[-1]}"
        elif description.startswith("Daily"):
            first, last = str(days[0]), str(days[-1])
        else:  # the legacy migration (monthly) is not part of a custodian-file backfill
            continue
        ranges.append(
            {"assetKey": {"path": node["assetKey"]["path"]}, "partitions": {"range": {"start": first, "end": last}}}
        )
    launched = webserver.graphql(
        LAUNCH_BACKFILL,
        variables={"params": {"partitionsByAssets": ranges, "title": f"sample month {days[0]:%Y-%m}"}},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = webserver.backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        status = webserver.graphql(BACKFILL_STATUS, variables={"id": backfill_id})["partitionBackfillOrError"]
        if status.get("status") not in ("REQUESTED", "CANCELING", None):
            break
        time.sleep(3.0)
    runs = webserver.graphql(BACKFILL_RUNS, variables={"id": backfill_id})["runsOrError"]["results"]
    summary = [
        (r["runId"][:8], r["status"], sorted("/".join(a["path"]) for a in r["assetSelection"] or [])) for r in runs
    ]
    assert status and status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (
        f"{status}\n{summary}\n{webserver.log_tail()}"
    )
    assert all(r["status"] == "SUCCESS" for r in runs), summary

    # bounded, whatever the number of days: ingestion runs once per fund over the whole month; every date-only
    # asset is materialized by exactly one run, over the whole month (the daemon launches such runs as their
    # parents finish, so how they group depends on timing, not on the number of partitions)
    ingest_runs = [r for r in runs if any(a["path"][0] == "lake" for a in r["assetSelection"] or [])]
    assert len(ingest_runs) == len(funds), summary
    for r in ingest_runs:
        tags = {t["key"]: t["value"] for t in r["tags"]}
        start, end = tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]
        assert (start.split("|")[0], end.split("|")[0]) == (str(days[0]), str(days[-1])), tags
        assert start.split("|")[1] == end.split("|")[1], tags  # one fund per run
    dated_runs = [r for r in runs if r not in ingest_runs]
    dated_assets = ["/".join(a["path"]) for r in dated_runs for a in r["assetSelection"] or []]
    assert len(dated_assets) == len(set(dated_assets)), summary  # no asset in two runs
    for r in dated_runs:
        tags = {t["key"]: t["value"] for t in r["tags"]}
        assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
            str(days[0]),
            str(days[-1]),
        ), tags
    assert len(runs) < len(days)

    truth = read_truth(month.truth_dir)
    marts = mart_totals(lakehouse.dsn, days)
    expected = {k: t.totals for k, t in truth.items()}
    assert len(expected) == len(month_funds) * len(days)
    assert {k: marts.get(k) for k in expected} == expected
    print(f"\nbackfill {backfill_id}: {len(runs)} runs for {len(days)} days × {len(funds)} funds: {summary}")


SCREENSHOTS = REPO_DIR / "tests" / "output" / "ui"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _dismiss_community_dialog(page) -> None:
    """The UI greets a new browser profile with a newsletter dialog; a person clicks Skip."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=10_000)
        skip.click()
    except Exception:  # noqa: BLE001 - no dialog this time
        pass


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_ui_shows_the_asset_graph_and_partition_status(webserver: Webserver) -> None:
    """A person's view: the asset graph of the ingest group, and a partitioned asset's materialized days."""
    from playwright.sync_api import sync_playwright

    wait_until_answering(webserver)
    wait_until_location_loaded(webserver, deadline=time.monotonic() + STARTUP_TIMEOUT_S)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{webserver.url}/locations/fidc_assets/asset-groups/ingest/lineage", timeout=60_000)
            _dismiss_community_dialog(page)
            page.get_by_text("custodian_files").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3_000)  # let the graph lay out
            page.screenshot(path=str(SCREENSHOTS / "asset-graph.png"))
            graph_text = page.inner_text("body")

            # a date-only asset: one partition per business day, 2 days materialized (24 after the month backfill)
            page.goto(f"{webserver.url}/assets/hot/landing_receivable_positions?view=partitions", timeout=60_000)
            _dismiss_community_dialog(page)
            page.get_by_text(re.compile(r"Materialized \(\d+\)")).first.wait_for(timeout=60_000)
            page.wait_for_timeout(2_000)  # let the partition health bar render
            page.screenshot(path=str(SCREENSHOTS / "partitions.png"))
            body = page.inner_text("body")

            # an ingestion asset: date × fund, one row per registered fund
            page.goto(f"{webserver.url}/assets/lake/receivable_positions?view=partitions", timeout=60_000)
            _dismiss_community_dialog(page)
            try:
                page.get_by_text(webserver.funds[0]).first.wait_for(timeout=60_000)
            finally:
                by_fund_text = page.inner_text("body")
            page.wait_for_timeout(2_000)
            page.screenshot(path=str(SCREENSHOTS / "partitions-by-fund.png"))

            if webserver.backfill_id:  # the backfill test ran: its page, with the runs it launched
                page.goto(f"{webserver.url}/runs/b/{webserver.backfill_id}?tab=runs", timeout=60_000)
                _dismiss_community_dialog(page)
                page.get_by_text(re.compile(f"{webserver.backfill_id}|Partition selection")).first.wait_for(
                    timeout=60_000
                )
                page.wait_for_timeout(3_000)
                page.screenshot(path=str(SCREENSHOTS / "backfill.png"))
        finally:
            browser.close()
    for name in ("custodian_files", "receivable_positions", "acquisitions", "settlements", "fund_quotas"):
        assert name in graph_text, f"{name} is not in the ingest group's graph"
    # the two sample days materialized into this instance, and the 22 of the month if the backfill test ran
    assert f"Materialized ({2 + (22 if webserver.backfill_id else 0)})" in body, body[:3000]
    assert all(f in by_fund_text for f in webserver.funds), by_fund_text[:3000]
    # one partition per ANBIMA business day from 2019-01-02 to today (America/Sao_Paulo), as our calendar counts
    today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    expected = sum(1 for _ in business_days_between(HISTORY_START, today))
    assert f"{expected:,} Partitions Selected" in body
    assert (SCREENSHOTS / "asset-graph.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "partitions.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "partitions-by-fund.png").stat().st_size > 10_000
