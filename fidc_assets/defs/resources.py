"""Resources: the lakehouse's settings, lake and PostgreSQL, resolved at run time, never at import.

Every field is optional; unset fields come from `Settings.from_env()` (FIDC_* variables with embedded
defaults) when a run first asks, so the same definitions serve the embedded demo and a deployment whose
environment points at an external PostgreSQL, a PostgreSQL catalog, S3 and its own configuration directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from fidc_assets.settings import Settings

if TYPE_CHECKING:  # imported where used: loading the definitions must not pay for pyiceberg, pydantic specs…
    from fidc_assets.lib.core.asset_types import AssetTypeRegistry
    from fidc_assets.lib.core.funds import FundRegistry
    from fidc_assets.lib.ingest.inbox import Inbox
    from fidc_assets.lib.ingest.specs import CustodianSpec
    from fidc_assets.lib.lake.catalog import Lake
    from fidc_assets.lib.legacy.cutover import CutoverRule


class LakehouseResource(dg.ConfigurableResource):
    """Where the lake, the inbox, the hot database and the configuration are."""

    home: str | None = None
    pg_dsn: str | None = None
    catalog_uri: str | None = None
    warehouse: str | None = None
    inbox: str | None = None
    config_dir: str | None = None
    funds_file: str | None = None

    def settings(self) -> Settings:
        """The environment's settings, with this resource's explicit fields in place of their variables."""
        return Settings.from_env(
            overrides={
                "FIDC_HOME": self.home,
                "FIDC_PG_DSN": self.pg_dsn,
                "FIDC_ICEBERG_CATALOG_URI": self.catalog_uri,
                "FIDC_WAREHOUSE": self.warehouse,
                "FIDC_INBOX": self.inbox,
                "FIDC_CONFIG_DIR": self.config_dir,
                "FIDC_FUNDS": self.funds_file,
            }
        )

    def lake(self) -> Lake:
        from fidc_assets.lib.lake.catalog import Lake

        s = self.settings()
        return Lake(s.iceberg_catalog_uri, s.warehouse, archive=s.archive)

    def dsn(self) -> str:
        return self.settings().resolve_pg_dsn()

    def asset_types(self) -> AssetTypeRegistry:
        """The configuration's asset type registry (FIDC_CONFIG_DIR/reference/asset_types.yaml)."""
        from fidc_assets.lib.core.asset_types import load_asset_types

        return load_asset_types(self.settings().config.asset_types_file)

    def specs(self) -> dict[str, CustodianSpec]:
        """The configuration's custodian specs (FIDC_CONFIG_DIR/custodians), checked against its registry."""
        from fidc_assets.lib.core.asset_types import load_asset_types
        from fidc_assets.lib.ingest.specs import load_specs

        config = self.settings().config
        return load_specs(config.custodians_dir, asset_types=load_asset_types(config.asset_types_file))

    def fund_registry(self) -> FundRegistry:
        from fidc_assets.lib.core.funds import load_fund_registry

        return load_fund_registry(self.settings().funds_file)

    def cutover_rule(self) -> CutoverRule:
        """Which source is authoritative for a fund-day held by both (the legacy mapping's cutover date, or
        FIDC_LEGACY_CUTOVER): passed to every cold read of the hot side."""
        from fidc_assets.lib.legacy.cutover import rule_from
        from fidc_assets.lib.legacy.mapping import load_legacy_spec

        s = self.settings()
        return rule_from(load_legacy_spec(s.config.legacy_mapping_file).cutover_date, s.legacy.cutover)

    def inbox_fs(self) -> Inbox:
        """FIDC_INBOX as a filesystem: a local directory or any fsspec URL (`s3://…`, `sftp://…`)."""
        from fidc_assets.lib.ingest.inbox import Inbox

        return Inbox.at(self.settings().inbox)
