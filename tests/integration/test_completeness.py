"""mart_fund_day_completeness end to end: a sample whose custodians deliver on time except one fund-day's stock
file, landed and built by the demo's two runs in a database of its own; then the file arrives late and a run
for that day clears it.

The expectations come from the sample's fund registry (what the sample delivers every day), the missing file is
chosen here, and every figure is compared with what the test delivered, never with the SQL under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import LiteralString
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.conftest import traversable_tmp_dir

pytestmark = pytest.mark.integration

SAMPLE = {"seed": 5, "funds": 2, "days": 3, "start": dt.date(2024, 7, 29), "receivables_per_fund": 120}
DATABASE = "fidc_completeness_test"
SP = ZoneInfo("America/Sao_Paulo")
#: When the sample's custodians deliver in this test: before every due time of the day (stock 19:00 on the day).
ON_TIME = dt.time(17, 0)


class Env:
    def __init__(self, dsn: str, home: Path, manifest, instance, registry, withheld: Path, fund: str, day: dt.date):
        self.dsn = dsn
        self.home = home
        self.manifest = manifest
        self.instance = instance
        self.registry = registry
        self.withheld = withheld  # the stock file kept back
        self.fund = fund
        self.day = day

    def query(self, sql: LiteralString, params=None) -> list[tuple]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params).fetchall()

    def completeness(self) -> dict[tuple[str, dt.date], dict[str, object]]:
        with psycopg.connect(self.dsn) as conn:
            cur = conn.execute("select * from marts.mart_fund_day_completeness")
            assert cur.description is not None
            names = [d.name for d in cur.description]
            return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _specs():
    """The configuration's custodian specs (FIDC_CONFIG_DIR of the module's environment)."""
    from fidc_assets.defs.resources import LakehouseResource

    return LakehouseResource().specs()


def _stock_file(manifest, fund: str, day: dt.date) -> Path:
    from fidc_assets.lib.ingest.specs import match_file

    specs = _specs()
    found = []
    for name in manifest.files:
        m = match_file(name, specs)
        if m and m.fund_cnpj == fund and m.reference_date == day and m.file_spec.entity == "receivable_positions":
            found.append(manifest.inbox_dir / name)
    assert len(found) == 1, found
    return found[0]


def _deliver_at(files: list[Path], inbox: Path, when: dt.datetime | None) -> None:
    """Deliver `files`, each stamped as arriving at `when` on its day (None: now)."""
    from fidc_assets.pipeline import deliver

    for dst in deliver(files, inbox):
        if when is not None:
            os.utime(dst, (when.timestamp(), when.timestamp()))


@pytest.fixture(scope="module")
def env(lakehouse, dbt_manifest):
    import dagster as dg

    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME, load_fund_registry
    from fidc_assets.lib.ingest.specs import match_file
    from fidc_assets.pipeline import adopt_fund_registry, run_days
    from fidc_assets.sample.generator import generate_sample

    with psycopg.connect(lakehouse.dsn, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DATABASE} with (force)")
        conn.execute(f"create database {DATABASE}")
    base, _, _ = lakehouse.dsn.rpartition("/")
    dsn = f"{base}/{DATABASE}"
    home = traversable_tmp_dir("fidc-test-completeness-")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("FIDC_ICEBERG_CATALOG_URI", "FIDC_WAREHOUSE", "FIDC_INBOX", "FIDC_FUNDS"):
            mp.delenv(var, raising=False)
        mp.setenv("FIDC_HOME", str(home))
        mp.setenv("FIDC_PG_DSN", dsn)
        manifest = generate_sample(home / "sample", **SAMPLE)
        registry = adopt_fund_registry(manifest.out_dir / REGISTRY_FILE_NAME, home / "funds.yaml")
        assert registry == load_fund_registry(home / "funds.yaml")
        fund, day = registry.funds[0].cnpj, manifest.days[1]
        withheld = _stock_file(manifest, fund, day)
        by_day: dict[dt.date, list[Path]] = {}
        specs = _specs()
        for name in manifest.files:
            path = manifest.inbox_dir / name
            if path == withheld:
                continue
            m = match_file(name, specs)
            assert m is not None, name
            by_day.setdefault(m.reference_date, []).append(path)
        for d, files in by_day.items():
            _deliver_at(files, home / "inbox", dt.datetime.combine(d, ON_TIME, tzinfo=SP))
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_days(list(manifest.days), instance=instance)
            assert result.success
            yield Env(dsn, home, manifest, instance, registry, withheld, fund, day)


def test_the_fund_day_without_its_stock_file_is_incomplete_and_the_others_complete(env):
    got = env.completeness()
    expected = {f.cnpj: len(f.expected) for f in env.registry.funds}
    assert all(n >= 2 for n in expected.values()), "the sample registry should expect several files a day"
    # one row per fund and business day of the sample, with the registry's count of expected files
    assert set(got) == {(f, d) for f in expected for d in env.manifest.days}
    for (fund, day), row in got.items():
        assert row["expected_files"] == expected[fund], (fund, day)

    gap = got[(env.fund, env.day)]
    assert gap["is_complete"] is False
    assert (gap["missing_files"], gap["accepted_files"]) == (1, expected[env.fund] - 1)
    assert (gap["quarantined_files"], gap["pending_files"], gap["late_files"]) == (0, 0, 1)
    assert gap["open_deliveries"].endswith("receivable_positions missing")

    complete = [key for key in got if key != (env.fund, env.day)]
    assert len(complete) == 2 * len(env.manifest.days) - 1
    for key in complete:
        row = got[key]
        assert row["is_complete"] is True, (key, row["open_deliveries"])
        assert (row["accepted_files"], row["missing_files"], row["late_files"]) == (expected[key[0]], 0, 0), key
        assert row["open_deliveries"] is None

    # BI joins on mart_fund_daily's key: every fund-day there has its completeness
    daily = {(r[0], r[1]) for r in env.query("select fund_cnpj, reference_date from marts.mart_fund_daily")}
    assert daily <= set(got)


def test_delivery_status_names_the_accepted_file_and_the_missing_one(env):
    rows = env.query(
        "select entity, state, is_late, accepted_sha256, accepted_file_name, due_at from reference.delivery_status "
        "where fund_cnpj = %s and reference_date = %s",
        [env.fund, env.day],
    )
    states = {r[0]: r for r in rows}
    stock = states["receivable_positions"]
    assert stock[1:5] == ("missing", True, None, None)
    assert stock[5] == dt.datetime.combine(env.day, dt.time(19), tzinfo=SP)
    delivered = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (env.home / "inbox").iterdir()}
    for entity, state, late, sha, name, _ in rows:
        if entity != "receivable_positions":
            assert (state, late) == ("accepted", False), entity
            assert delivered[name] == sha, entity


def test_the_late_stock_file_arrives_and_a_run_for_its_day_completes_it(env):
    from fidc_assets.pipeline import run_days

    before = env.completeness()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIDC_HOME", str(env.home))
        mp.setenv("FIDC_PG_DSN", env.dsn)
        _deliver_at([env.withheld], env.home / "inbox", None)  # arrives now: years after its due time
        assert run_days([env.day], instance=env.instance).success
    after = env.completeness()
    row = after[(env.fund, env.day)]
    assert row["is_complete"] is True
    assert (row["missing_files"], row["late_files"]) == (0, 1)  # it came, and the day's record says late
    assert row["accepted_files"] == row["expected_files"]
    # the other fund-days are what they were but for the evaluation's clock
    for key, was in before.items():
        if key != (env.fund, env.day):
            now = dict(after[key], evaluated_at=None)
            assert now == dict(was, evaluated_at=None), key
