"""`fidc-lake cvm land|recon`: the CVM Informe Mensal from the command line (docs/regulatory.md).

* `fidc-lake cvm land [ZIP ...]`: land zips (default: the newest publication of every month in
  FIDC_CVM_INBOX) into the lake's `cvm_tab_*` tables, each of their months replaced;
* `fidc-lake cvm recon MONTH ...`: reconcile the months with `marts.mart_fund_monthly`, write
  `marts.mart_fund_regulatory`, validate with GX (checkpoint `cvm_recon`) and print the statuses and every
  flagged row. Exit 1 when the GX suite fails (an unexplained PL), 0 otherwise.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from fidc_assets.cli.common import CliError, load_settings, month


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cvm", help="the CVM Informe Mensal: land published zips, reconcile months")
    cvm_sub = p.add_subparsers(dest="cvm_command", required=True)
    land = cvm_sub.add_parser("land", help="land zips (default: the newest of every month in FIDC_CVM_INBOX)")
    land.add_argument("zips", nargs="*", type=Path, help="inf_mensal_fidc_<YYYYMM|YYYY>.zip files")
    land.set_defaults(func=cmd_land)
    recon = cvm_sub.add_parser("recon", help="reconcile months with the marts (writes marts.mart_fund_regulatory)")
    recon.add_argument("months", nargs="+", type=month, help="YYYY-MM")
    recon.add_argument("--no-data-docs", action="store_true", help="validate without updating Data Docs")
    recon.set_defaults(func=cmd_recon)


def cmd_land(args: argparse.Namespace) -> int:
    from fidc_assets.lib.ingest.inbox import Inbox
    from fidc_assets.lib.ingest.readers import FileRejected
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.regulatory.inbox import newest_for_month, report_zips
    from fidc_assets.lib.regulatory.landing import land_report
    from fidc_assets.lib.regulatory.spec import load_cvm_spec, zip_period

    settings = load_settings()
    spec = load_cvm_spec(settings.config.cvm_spec_file)
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    work: list[tuple[Path, list | None]] = []
    if args.zips:
        for path in args.zips:
            if not path.is_file() or zip_period(spec, path.name) is None:
                raise CliError(f"{path}: not a file named like {spec.zip_pattern!r}")
            work.append((path, None))
    else:
        inbox = Inbox.at(settings.cvm_inbox)
        if not inbox.is_local:
            raise CliError(f"FIDC_CVM_INBOX={settings.cvm_inbox}: name the zips, or use the cvm_monthly job")
        listings = report_zips(inbox.list(), spec)
        months = sorted({m for item in listings for m in _months(spec, item.name)})
        for m in months:
            newest = newest_for_month(listings, spec, m)
            if newest is not None:
                work.append((Path(newest.path), [m]))
        if not work:
            print(f"no CVM zip in {settings.cvm_inbox}")
            return 0
    for path, months in work:
        try:
            landed = land_report(lake, path, spec, months)
        except FileRejected as e:
            raise CliError(e.message) from e
        dropped = sum(t.identical_rows + t.kind_duplicates + t.conflicting_rows for t in landed.tabs)
        shown = ", ".join(f"{m:%Y-%m}" for m in landed.months)
        print(f"{path}: sha256 {landed.sha256[:12]}…, months {shown}: {landed.rows} rows landed, "
              f"{landed.rejected} rejected (in lake.quarantine), {dropped} published duplicates dropped")  # fmt: skip
    return 0


def _months(spec, name: str) -> list:
    from fidc_assets.lib.core.months import months_between
    from fidc_assets.lib.regulatory.spec import zip_period

    period = zip_period(spec, name)
    return [] if period is None else months_between(period[0], period[1])


def cmd_recon(args: argparse.Namespace) -> int:
    from fidc_assets.lib.core.months import parse_month
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.regulatory.recon import recon_cvm_monthly
    from fidc_assets.lib.regulatory.spec import load_cvm_spec

    settings = load_settings()
    lake = Lake(settings.iceberg_catalog_uri, settings.warehouse, archive=settings.archive)
    months = sorted({parse_month(m) for m in args.months})
    rows, result = recon_cvm_monthly(
        lake, load_cvm_spec(settings.config.cvm_spec_file), settings.resolve_pg_dsn(), months, settings.gx_root,
        data_docs=not args.no_data_docs,
    )  # fmt: skip
    by_figure = Counter(
        (r.figure.split("_")[0] if r.figure.startswith("overdue_") else r.figure, r.status) for r in rows
    )
    print(
        f"fund-months compared: {result.fund_months} ({', '.join(f'{m:%Y-%m}' for m in months)}); rows: {result.rows}"
    )
    print("statuses: " + ", ".join(f"{s} {result.by_status.get(s, 0)}" for s in
                                   ("match", "explained", "published_data_defect", "unexplained")))  # fmt: skip
    for (figure, status), n in sorted(by_figure.items()):
        print(f"  {figure:<27} {status:<22} {n}")
    for r in rows:
        if r.flagged:
            print(f"flagged: {r.fund_cnpj} {r.reference_month:%Y-%m} {r.figure}: {r.status}: {r.reason}")
    print(f"GX checkpoint cvm_recon: {'passed' if result.success else 'FAILED'}"
          + (f" ({'; '.join(result.failed_expectations)})" if result.failed_expectations else ""))  # fmt: skip
    if result.data_docs:
        print(f"Data Docs: {result.data_docs}")
    return 0 if result.success else 1
