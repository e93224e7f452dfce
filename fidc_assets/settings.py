"""One settings object, read from environment variables with embedded defaults.

Nothing here runs at import time: call `Settings.from_env()` where the value is needed (a resource method,
a CLI command), so that importing the Dagster definitions never reads the environment.

| variable | default | meaning |
|---|---|---|
| FIDC_HOME | `<repo>/.fidc` | local state: embedded PostgreSQL, SQLite catalog, warehouse, inbox, Dagster home |
| FIDC_PG_DSN | unset → embedded server under FIDC_HOME/pg | external PostgreSQL (`postgresql://user:pw@host:port/db`) |
| FIDC_ICEBERG_CATALOG_URI | `sqlite:///FIDC_HOME/iceberg/catalog.db` | SQL catalog (SQLite, `postgresql+psycopg://`) |
| FIDC_WAREHOUSE | `file://FIDC_HOME/warehouse` | Iceberg warehouse and raw archive root (`file://` or `s3://`) |
| FIDC_ARCHIVE | FIDC_WAREHOUSE | raw archive root; its own bucket when the warehouse is an S3 table bucket |
| FIDC_INBOX | `FIDC_HOME/inbox` | where custodians drop files |
| FIDC_FUNDS | `FIDC_HOME/funds.yaml` | the fund registry: funds, their managers (BI tenants) and custodians |
| FIDC_HOT_WINDOW_MONTHS | 13 | months of history kept in the PostgreSQL marts |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fidc_assets.lib.core.shipped import SHIPPED_CONFIG_DIR

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DBT_PROJECT_DIR = REPO_DIR / "dbt_project"
GX_ROOT_DIR = REPO_DIR / "great_expectations"
CUSTODIANS_DIR = SHIPPED_CONFIG_DIR / "custodians"


def _default_home() -> Path:
    # In a checkout (editable install) state lives beside the code; installed elsewhere, in the cwd.
    if (REPO_DIR / "pyproject.toml").exists():
        return REPO_DIR / ".fidc"
    return Path.cwd() / ".fidc"


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_dsn: str | None
    iceberg_catalog_uri: str
    warehouse: str
    inbox: str
    hot_window_months: int
    funds_file: Path
    #: Raw archive root; FIDC_ARCHIVE, default the warehouse (an S3 table bucket holds only tables).
    archive: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("FIDC_HOME") or _default_home()).expanduser().resolve()
        months_raw = env.get("FIDC_HOT_WINDOW_MONTHS") or "13"
        try:
            months = int(months_raw)
        except ValueError:
            raise ValueError(f"FIDC_HOT_WINDOW_MONTHS must be a whole number of months, got {months_raw!r}") from None
        if months < 1:
            raise ValueError(f"FIDC_HOT_WINDOW_MONTHS must be at least 1, got {months}")
        warehouse = (env.get("FIDC_WAREHOUSE") or (home / "warehouse").as_uri()).rstrip("/")
        return cls(
            home=home,
            pg_dsn=env.get("FIDC_PG_DSN") or None,
            iceberg_catalog_uri=env.get("FIDC_ICEBERG_CATALOG_URI") or f"sqlite:///{home / 'iceberg' / 'catalog.db'}",
            warehouse=warehouse,
            inbox=env.get("FIDC_INBOX") or str(home / "inbox"),
            hot_window_months=months,
            funds_file=Path(env.get("FIDC_FUNDS") or home / "funds.yaml").expanduser().resolve(),
            archive=(env.get("FIDC_ARCHIVE") or warehouse).rstrip("/"),
        )

    @property
    def pg_root(self) -> Path:
        """State dir of the embedded PostgreSQL server (used only when FIDC_PG_DSN is unset)."""
        return self.home / "pg"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def uses_embedded_pg(self) -> bool:
        return self.pg_dsn is None
