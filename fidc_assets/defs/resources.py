"""Resources: the lakehouse's settings, lake and PostgreSQL, resolved at run time, never at import.

Every field is optional; unset fields come from `Settings.from_env()` (FIDC_* variables with embedded
defaults) when a run first asks, so the same definitions serve the embedded demo and a deployment whose
environment points at an external PostgreSQL, a PostgreSQL catalog and S3.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from fidc_assets.lib.core.funds import FundRegistry, load_fund_registry
from fidc_assets.lib.hot.dsn import resolve_dsn
from fidc_assets.lib.ingest.inbox import Inbox
from fidc_assets.lib.ingest.specs import CustodianSpec, load_specs
from fidc_assets.lib.lake.catalog import Lake
from fidc_assets.lib.legacy.cutover import CutoverRule, rule_from
from fidc_assets.settings import CUSTODIANS_DIR, Settings


class LakehouseResource(dg.ConfigurableResource):
    """Where the lake, the inbox and the hot database are."""

    home: str | None = None
    pg_dsn: str | None = None
    catalog_uri: str | None = None
    warehouse: str | None = None
    inbox: str | None = None
    custodians_dir: str | None = None
    funds_file: str | None = None

    def settings(self) -> Settings:
        base = Settings.from_env()
        env = {
            "FIDC_HOME": self.home or str(base.home),
            "FIDC_PG_DSN": self.pg_dsn or base.pg_dsn or "",
            "FIDC_ICEBERG_CATALOG_URI": self.catalog_uri or base.iceberg_catalog_uri,
            "FIDC_WAREHOUSE": self.warehouse or base.warehouse,
            "FIDC_INBOX": self.inbox or base.inbox,
            "FIDC_HOT_WINDOW_MONTHS": str(base.hot_window_months),
            "FIDC_FUNDS": self.funds_file or str(base.funds_file),
            # an explicit FIDC_ARCHIVE stays; else the archive follows the (possibly overridden) warehouse
            **({"FIDC_ARCHIVE": base.archive} if base.archive != base.warehouse else {}),
        }
        return Settings.from_env(env)

    def lake(self) -> Lake:
        s = self.settings()
        return Lake(s.iceberg_catalog_uri, s.warehouse, archive=s.archive)

    def dsn(self) -> str:
        s = self.settings()
        return resolve_dsn(s.pg_dsn, s.pg_root)

    def specs(self) -> dict[str, CustodianSpec]:
        return load_specs(Path(self.custodians_dir) if self.custodians_dir else CUSTODIANS_DIR)

    def fund_registry(self) -> FundRegistry:
        return load_fund_registry(self.settings().funds_file)

    def cutover_rule(self) -> CutoverRule:
        """Which source is authoritative for a fund-day held by both (the legacy mapping's cutover date, or
        FIDC_LEGACY_CUTOVER): passed to every cold read of the hot side."""
        import os

        from fidc_assets.lib.legacy.migration import default_spec

        return rule_from(default_spec().cutover_date, os.environ)

    def inbox_fs(self) -> Inbox:
        """FIDC_INBOX as a filesystem: a local directory or any fsspec URL (`s3://…`, `sftp://…`)."""
        return Inbox.at(self.settings().inbox)
