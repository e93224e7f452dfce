"""`fidc-lake`: the command line of fidc-lakehouse.

fidc-lake db start|stop|status|url     the embedded PostgreSQL (ignored when FIDC_PG_DSN is set)
fidc-lake sample --seed N --funds F --days D --out DIR
fidc-lake sample legacy --funds F --years Y   a legacy PostgreSQL database to migrate (docs/legacy.md)
fidc-lake history migrate|recon|as-of|log|rollback|shadow   the legacy migration (fidc-lake history -h)
fidc-lake dbt-prepare                  parse the dbt project (manifest for Dagster)
fidc-lake demo                         sample → inbox → every asset for every sample day → summary
fidc-lake ui                           the Dagster webserver on 127.0.0.1 with everything loaded
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from fidc_assets.settings import REPO_DIR, Settings


def _cmd_db(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.pg_dsn:
        if args.action == "url":
            print(settings.pg_dsn)
            return 0
        print(f"FIDC_PG_DSN is set: using the external server, the embedded one is not managed ({args.action}).")
        return 0 if args.action == "status" else 1
    from fidc_assets.lib.hot.embedded.server import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.pg_root)
    if args.action == "start":
        print(pg.start())
    elif args.action == "stop":
        pg.stop()
        print("stopped")
    elif args.action == "status":
        st = pg.status()
        print(f"running: {st.running}\nport: {st.port}\ndsn: {st.dsn}\ndata: {st.data_dir}\nbinaries: {st.bin_dir}")
        return 0 if st.running else 3
    elif args.action == "url":
        url = pg.url()
        if url is None:
            print("not running: start it with `fidc-lake db start`", file=sys.stderr)
            return 3
        print(url)
    return 0


def _generate(args: argparse.Namespace, out: Path):
    """The sample the `sample` and `demo` commands share (same options)."""
    from fidc_assets.sample.generator import generate_sample

    return generate_sample(
        out,
        seed=args.seed,
        funds=args.funds,
        days=args.days,
        start=dt.date.fromisoformat(args.start),
        custodians=args.custodians.split(",") if args.custodians else None,
    )


def _cmd_sample(args: argparse.Namespace) -> int:
    if args.mode == "legacy":
        from fidc_assets.legacy_cli import cmd_sample_legacy

        return cmd_sample_legacy(args)
    if not args.out:
        print("fidc-lake sample: --out is required", file=sys.stderr)
        return 2

    manifest = _generate(args, Path(args.out))
    print(
        f"{len(manifest.files)} files, {manifest.row_count} valid rows, {manifest.corrupted_count} corrupted rows "
        f"for {len(manifest.funds)} funds over {len(manifest.days)} business days "
        f"({manifest.days[0]} to {manifest.days[-1]})\ninbox: {manifest.inbox_dir}\ntruth: {manifest.truth_dir}"
    )
    return 0


def _cmd_custodian(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ingest.specs import SpecError, load_spec, load_specs
    from fidc_assets.settings import CUSTODIANS_DIR

    if args.action == "list":
        for spec in load_specs(CUSTODIANS_DIR).values():
            entities = ", ".join(f"{f.entity} ({f.format.kind})" for f in spec.files)
            print(f"{spec.id:20} {spec.name} — {entities}")
        return 0
    if not args.spec:
        print("custodian check needs the spec's path", file=sys.stderr)
        return 2
    try:
        spec = load_spec(Path(args.spec))
    except SpecError as e:
        print(e, file=sys.stderr)
        return 2
    except FileNotFoundError:
        print(f"{args.spec}: no such file", file=sys.stderr)
        return 2
    print(f"{args.spec}: valid spec for {spec.id} ({spec.name}), default currency {spec.default_currency}")
    for i, f in enumerate(spec.files):
        archive = f" inside ZIP ({f.archive.member_pattern})" if f.archive else ""
        print(f"  files[{i}] {f.entity}: {f.format.kind}{archive}, names matching {f.pattern}")
        for field_name, cmap in f.column_maps().items():
            source = cmap.column if cmap.column is not None else f"default {cmap.default!r}"
            extra = f" via map of {len(cmap.map)} codes" if cmap.map else ""
            print(f"      {field_name:22} ← {source}{extra}")
    return 0


def _print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  " + "  ".join(str("" if r.get(c) is None else r.get(c)).ljust(widths[c]) for c in columns))


def _cmd_ingest(args: argparse.Namespace) -> int:
    import datetime as dt_

    from fidc_assets.lib.ingest.adapters import FileRejected, parse_bytes
    from fidc_assets.lib.ingest.specs import load_specs, match_file
    from fidc_assets.lib.lake.archive import sha256_file
    from fidc_assets.settings import CUSTODIANS_DIR

    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 2
    specs = load_specs(CUSTODIANS_DIR)
    if args.custodian:
        if args.custodian not in specs:
            print(f"unknown custodian {args.custodian!r}; known: {', '.join(specs)}", file=sys.stderr)
            return 2
        specs = {args.custodian: specs[args.custodian]}
    match = match_file(path.name, specs)
    if match is None:
        print(f"{path.name}: matches no file pattern of {', '.join(specs)}", file=sys.stderr)
        return 2
    sha = sha256_file(path)
    print(
        f"{path.name}: {match.custodian.id} / {match.file_spec.entity} / fund {match.fund_cnpj} / "
        f"{match.reference_date} / sha256 {sha[:12]}…"
    )
    try:
        result = parse_bytes(path.read_bytes(), path.name, match, sha, dt_.datetime.now(dt_.UTC))
    except FileRejected as e:
        print(f"FILE REJECTED ({e.reason_code}): {e.message}")
        return 1
    print(f"{result.rows.num_rows} rows accepted, {len(result.rejected)} rejected; totals {result.control_totals}")
    preview = [c for c in result.rows.column_names if c not in ("source", "source_file_sha256", "ingested_at")]
    if result.rows.num_rows:
        print(f"first {min(args.limit, result.rows.num_rows)} canonical rows:")
        _print_table(result.rows.slice(0, args.limit).to_pylist(), preview[: args.columns])
    for r in result.rejected:
        print(f"  line {r.line_number}: {r.reason_code}: {r.message}")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    from fidc_assets.lib.ingest.landing import InboxFile, land_slices, receive_files
    from fidc_assets.lib.lake.catalog import Lake

    settings = Settings.from_env()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    mtime = dt_.datetime.fromtimestamp(path.stat().st_mtime, tz=dt_.UTC)
    receive_files(lake, [(InboxFile(path, mtime), match)])
    report = land_slices(lake, specs, [match.reference_date], entities=[match.file_spec.entity])
    print(f"landed: {report.rows_accepted} rows, {report.rows_rejected} quarantined, {report.commits} commits")
    return 0


def _cmd_dbt_prepare(_: argparse.Namespace) -> int:
    from fidc_assets.defs.dbt.project import dbt_project, prepare_manifest

    prepare_manifest()
    print(dbt_project().manifest_path)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    settings = Settings.from_env()
    from fidc_assets.defs.dbt.project import prepare_manifest
    from fidc_assets.lib.core.funds import REGISTRY_FILE_NAME
    from fidc_assets.lib.hot.dsn import redacted, resolve_dsn
    from fidc_assets.pipeline import adopt_fund_registry, deliver, ensure_dagster_home, mart_totals, run_days, summarize
    from fidc_assets.sample.generator import read_truth

    ensure_dagster_home(settings)
    print(f"FIDC_HOME={settings.home}")
    dsn = resolve_dsn(settings.pg_dsn, settings.pg_root)
    print("PostgreSQL:", redacted(dsn))
    manifest = _generate(args, settings.home / "sample")
    delivered = deliver([manifest.inbox_dir / f for f in manifest.files], Path(settings.inbox))
    registry = adopt_fund_registry(manifest.out_dir / REGISTRY_FILE_NAME, settings.funds_file)
    print(f"fund registry: {len(registry.funds)} funds in {settings.funds_file}")
    print(
        f"sample: {len(manifest.files)} files for {len(manifest.funds)} funds × {len(manifest.days)} business days; "
        f"{len(delivered)} newly delivered to {settings.inbox}"
    )
    prepare_manifest()
    days = list(manifest.days)
    print(
        f"materializing every asset for {days[0]} .. {days[-1]} in two Dagster runs: ingestion (date × fund), "
        "then hot load and marts (date); console log: warnings"
    )
    result = run_days(days, raise_on_error=False, log_level="WARNING")
    summary = summarize(settings, dsn, days, result)
    truth = read_truth(manifest.truth_dir)
    marts = mart_totals(dsn, days)
    mismatches = [k for k, t in truth.items() if marts.get(k) != (t.row_count, t.nominal_value, t.present_value)]
    elapsed = time.perf_counter() - started
    print()
    for name, run in (("ingest", result.ingest), ("marts", result.marts)):
        if run is not None:
            print(f"{name} run {run.run_id}: {'SUCCESS' if run.success else 'FAILURE'}")
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
    print(f"checks              {summary.checks_passed} passed, {summary.checks_failed} failed")
    print(f"ground truth        {len(truth) - len(mismatches)}/{len(truth)} fund-days equal to the centavo")
    print(f"wall time           {elapsed:.1f} s")
    print()
    print("Next: `make ui` opens the Dagster UI on http://127.0.0.1:3000 ;")
    print(f"      psql '{redacted(dsn)}' -c 'select * from marts.mart_fund_daily order by 2, 1 limit 10'")
    ok = result.success and not mismatches and summary.checks_failed == 0
    return 0 if ok else 1


def _cmd_ui(args: argparse.Namespace) -> int:
    from fidc_assets.defs.dbt.project import prepare_manifest
    from fidc_assets.pipeline import ensure_dagster_home

    settings = Settings.from_env()
    ensure_dagster_home(settings)
    prepare_manifest()
    dagster = str(Path(sys.executable).parent / "dagster")
    argv = [dagster, "dev", "-h", args.host, "-p", str(args.port), "-w", str(REPO_DIR / "workspace.yaml")]
    os.chdir(REPO_DIR)
    os.execv(dagster, argv)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fidc-lake", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=_cmd_db)

    for name, func, help_text in (
        ("sample", _cmd_sample, "generate deterministic custodian files and their ground truth"),
        ("demo", _cmd_demo, "run the main job end to end on embedded defaults"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--funds", type=int, default=4, help="funds; fund i goes to the i-th custodian in turn")
        p.add_argument("--custodians", help="comma-separated custodian ids to render (default: all shipped)")
        p.add_argument("--days", type=int, default=22, help="business days")
        p.add_argument("--start", default="2024-07-01", help="first day (ISO); moved to a business day")
        if name == "sample":
            from fidc_assets.legacy_cli import add_sample_legacy_arguments

            mode_help = "files (default) or legacy: a PostgreSQL database `legacy` (see docs/legacy.md)"
            p.add_argument("mode", nargs="?", choices=["files", "legacy"], default="files", help=mode_help)
            p.add_argument("--out", help="output directory (gets inbox/ and truth/); required for files")
            add_sample_legacy_arguments(p)
        p.set_defaults(func=func)

    cust = sub.add_parser("custodian", help="custodian specs: list, or check one YAML file")
    cust.add_argument("action", choices=["check", "list"])
    cust.add_argument("spec", nargs="?", help="path of the spec YAML (for check)")
    cust.set_defaults(func=_cmd_custodian)

    ing = sub.add_parser("ingest", help="parse one file with its custodian spec; land it unless --dry-run")
    ing.add_argument("file")
    ing.add_argument("--custodian", help="only try this custodian's patterns")
    ing.add_argument("--dry-run", action="store_true", help="parse and show, write nothing")
    ing.add_argument("--limit", type=int, default=5, help="canonical rows to preview")
    ing.add_argument("--columns", type=int, default=8, help="canonical columns to preview")
    ing.set_defaults(func=_cmd_ingest)

    from fidc_assets.legacy_cli import add_history_parser

    add_history_parser(sub)

    sub.add_parser("dbt-prepare", help="parse the dbt project (writes the manifest)").set_defaults(
        func=_cmd_dbt_prepare
    )

    ui = sub.add_parser("ui", help="start the Dagster webserver (dagster dev)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # dbt and dagster are called as programs: make this environment's bin dir the first place to look.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
