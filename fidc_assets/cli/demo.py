"""`fidc-lake demo`: sample → inbox → every asset for every sample day → summary, on embedded defaults.

The console shows the demo's own progress and its summary. dbt's per-model lines go to a file under
FIDC_HOME/logs (named on the console); Dagster's warnings and errors stay on the terminal; the libraries'
known chatter is filtered by `fidc_assets.cli.console` at the entry point.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from fidc_assets.cli.common import load_settings
from fidc_assets.cli.console import dbt_outcome, stdout_to
from fidc_assets.cli.sample import add_sample_arguments, generate


def cmd_demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    settings = load_settings()
    from fidc_assets.defs.dbt.project import prepare_manifest
    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.lib.hot.dsn import redacted
    from fidc_assets.pipeline import adopt_fund_registry, deliver, ensure_dagster_home, mart_totals, run_days, summarize
    from fidc_assets.sample.truth import read_truth

    ensure_dagster_home(settings)
    print(f"FIDC_HOME={settings.home}", flush=True)
    dsn = settings.resolve_pg_dsn()
    print("PostgreSQL:", redacted(dsn), flush=True)
    print(f"generating the sample (seed {args.seed}, {args.funds} funds, {args.days} business days) …", flush=True)
    manifest = generate(args, settings.home / "sample")
    delivered = deliver([manifest.inbox_dir / f for f in manifest.files], Path(settings.inbox))
    registry = adopt_fund_registry(manifest.out_dir / REGISTRY_FILE_NAME, settings.funds_file)
    print(f"fund registry: {len(registry.funds)} funds in {settings.funds_file}")
    print(
        f"sample: {len(manifest.files)} files for {len(manifest.funds)} funds × {len(manifest.days)} business days; "
        f"{len(delivered)} newly delivered to {settings.inbox}"
    )
    prepare_manifest()
    days = list(manifest.days)
    dbt_log = settings.home / "logs" / "demo-dbt.log"
    print(
        f"materializing every asset for {days[0]} .. {days[-1]} in two Dagster runs: ingestion (date × fund), "
        f"then hot load and marts (date); console: Dagster warnings and errors; dbt's output: {dbt_log}",
        flush=True,
    )
    console = sys.stdout  # the terminal: dbt's output is diverted to its log while the runs go on
    run_started = time.perf_counter()

    def progress(name: str, run: Any) -> None:
        nonlocal run_started
        elapsed = time.perf_counter() - run_started
        run_started = time.perf_counter()
        print(f"{name} run {run.run_id}: {'SUCCESS' if run.success else 'FAILURE'} ({elapsed:.0f} s)", file=console)
        console.flush()

    with stdout_to(dbt_log):
        result = run_days(days, raise_on_error=False, log_level="WARNING", on_run=progress)
    dbt_done = dbt_outcome(dbt_log)
    if dbt_done:
        print(f"dbt build: {dbt_done}")
    summary = summarize(settings, dsn, days, result)
    truth = read_truth(manifest.truth_dir)
    marts = mart_totals(dsn, days)
    mismatches = [k for k, t in truth.items() if marts.get(k) != t.totals]
    elapsed = time.perf_counter() - started
    print()
    print(
        f"files received      {summary.files_received} (accepted {summary.files_accepted}, "
        f"superseded {summary.files_superseded}, quarantined {summary.files_quarantined})"
    )
    print(f"rows landed         {summary.rows_landed} (lake.receivable_positions)")
    for entity, count in summary.other_rows.items():
        print(f"                    {count} (lake.{entity})")
    print(
        f"rows quarantined    {summary.rows_quarantined} (lake.quarantine; generator corrupted "
        f"{manifest.corrupted_count})"
    )
    print(f"landing rows        {summary.landing_rows} (PostgreSQL landing.receivable_positions)")
    print(f"mart rows           {summary.mart_rows} (marts.mart_fund_daily)")
    warned = f", {summary.checks_warned} warned" if summary.checks_warned else ""
    print(f"checks              {summary.checks_passed} passed, {summary.checks_failed} failed{warned}")
    print(f"ground truth        {len(truth) - len(mismatches)}/{len(truth)} fund-days equal to the centavo")
    print(f"wall time           {elapsed:.1f} s")
    print()
    print("Next: `make ui` opens the Dagster UI on http://127.0.0.1:3000 ;")
    # the DSN holds the owner's password (FIDC_HOME, mode 0600): the hint asks `fidc-lake db url` for it
    query = "select * from marts.mart_fund_daily order by 2, 1 limit 10"
    print(f"""      psql "$(.venv/bin/fidc-lake db url)" -c '{query}'""")
    ok = result.success and not mismatches and summary.checks_failed == 0
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on embedded defaults")
    add_sample_arguments(p)
    p.set_defaults(func=cmd_demo)
