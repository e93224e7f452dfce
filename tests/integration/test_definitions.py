"""The code location: loads without side effects, and its graph does not drift silently."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from fidc_assets.settings import REPO_DIR
from tests.conftest import traversable_tmp_dir

pytestmark = pytest.mark.integration

EXPECTED_ASSETS = [
    "hot/landing_acquisitions",
    "hot/landing_fund_quotas",
    "hot/landing_receivable_positions",
    "hot/landing_settlements",
    "intermediate/int_receivable_lifecycle",
    "intermediate/int_receivable_positions_rated",
    "lake/acquisitions",
    "lake/custodian_files",
    "lake/cvm_inf_mensal",
    "lake/fund_quotas",
    "lake/receivable_positions",
    "lake/settlements",
    "legacy/migration",
    "marts/dim_asset_type",
    "marts/dim_cedente",
    "marts/dim_custodian",
    "marts/dim_date",
    "marts/dim_fund",
    "marts/dim_sacado",
    "marts/fct_acquisition",
    "marts/fct_receivable_position_daily",
    "marts/fct_settlement",
    "marts/mart_fund_daily",
    "marts/mart_fund_day_completeness",
    "marts/mart_fund_monthly",
    "marts/mart_fund_regulatory",
    "reference/anbima_holidays",
    "reference/asset_types",
    "reference/custodians",
    "reference/delivery_status",
    "reference/fund_managers",
    "reference/funds",
    "reference/fx_rates",
    "staging/stg_acquisitions",
    "staging/stg_anbima_holidays",
    "staging/stg_asset_types",
    "staging/stg_custodians",
    "staging/stg_delivery_status",
    "staging/stg_fund_managers",
    "staging/stg_fund_quotas",
    "staging/stg_funds",
    "staging/stg_receivable_positions",
    "staging/stg_settlements",
]


def _load_in_subprocess(env_home: str, code: str) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "FIDC_HOME": env_home,
        # Unreachable on purpose: loading definitions must not connect anywhere.
        "FIDC_PG_DSN": "postgresql://nobody@127.0.0.1:1/none",
        "HOME": env_home,
    }
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(code)],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_does_nothing_and_loading_touches_no_state(dbt_manifest):
    home = traversable_tmp_dir("fidc-test-defs-")
    manifest_mtime = dbt_manifest.stat().st_mtime_ns
    result = _load_in_subprocess(
        str(home),
        """
        import json, sys
        import fidc_assets.definitions as d
        heavy_after_import = sorted(m for m in ("dbt", "great_expectations", "psycopg") if m in sys.modules)
        defs = d.defs()
        keys = sorted(k.to_user_string() for k in defs.resolve_all_asset_keys())
        checks = sorted(k.to_user_string() for k in defs.resolve_asset_graph().asset_check_keys)
        print(json.dumps({"heavy": heavy_after_import, "keys": keys, "checks": checks}))
        """,
    )
    assert result["keys"] == EXPECTED_ASSETS
    assert "lake/receivable_positions:gx_receivable_positions_canonical" in result["checks"]
    assert "hot/landing_receivable_positions:shadow_legacy_vs_custodian" in result["checks"]
    assert any(c.startswith("marts/mart_fund_daily:unique_combination") for c in result["checks"])
    assert list(home.iterdir()) == [], "loading definitions wrote to FIDC_HOME"
    assert dbt_manifest.stat().st_mtime_ns == manifest_mtime, "loading definitions re-parsed dbt"
    assert "great_expectations" not in result["heavy"]


def test_every_asset_is_partitioned_by_business_day_and_documented(dbt_manifest):
    """Ingestion by date × fund (funds: the dynamic `funds` partitions), everything else by date; the legacy
    migration by month."""
    import dagster as dg

    from fidc_assets.definitions import defs
    from fidc_assets.defs.partitions import FUNDS, months

    graph = defs().resolve_asset_graph()
    multi = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        partitions = node.partitions_def
        assert partitions is not None, f"{key} is not partitioned"
        assert node.description, f"{key} has no description"
        if partitions == months():
            continue
        if isinstance(partitions, dg.MultiPartitionsDefinition):
            multi.add(key.to_user_string())
            assert partitions.get_partitions_def_for_dimension("fund") == FUNDS, key
            partitions = partitions.get_partitions_def_for_dimension("date")
        keys = partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2024-11-14", "2024-11-22"))
        # 15 Nov (Proclamação) and 20 Nov (Consciência Negra) are ANBIMA holidays; 16-17 a weekend.
        assert keys == ["2024-11-14", "2024-11-18", "2024-11-19", "2024-11-21", "2024-11-22"], key
    assert multi == {
        "lake/custodian_files",
        "lake/receivable_positions",
        "lake/acquisitions",
        "lake/settlements",
        "lake/fund_quotas",
    }
