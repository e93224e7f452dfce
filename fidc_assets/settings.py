"""One settings object: every environment variable the project reads, validated here and nowhere else.

Nothing here runs at import time: call `Settings.from_env()` where the value is needed (a resource method,
a CLI command), so that importing the Dagster definitions never reads the environment. Resources and CLI
commands are the only readers; `fidc_assets.lib` receives plain values (paths, strings, numbers, a mapping of
passwords, a cutover date) and never reads the environment itself. An empty variable counts as unset. A bad
value raises `SettingsError`, naming the variable, the value (passwords hidden) and what is expected.

| variable | default | meaning |
|---|---|---|
| FIDC_HOME | `<repo>/.fidc` in a checkout, else `./.fidc` | local state: embedded PostgreSQL, catalog, inbox |
| FIDC_CONFIG_DIR | the shipped `fidc_assets/config` | the deployment's configuration directory (see below) |
| FIDC_PG_DSN | unset: embedded server in FIDC_HOME/pg | external PostgreSQL, `postgresql://user:pw@host:port/db` |
| FIDC_PG_BIN | pgserver wheel, `pg_config`, PATH, `/usr/lib/postgresql/*/bin` | the embedded server's binaries |
| FIDC_PG_OS_USER | `nobody` | OS user (name or uid) the embedded server runs as when the process is root |
| FIDC_ICEBERG_CATALOG_URI | `sqlite:///FIDC_HOME/iceberg/catalog.db` | SQL catalog (`postgresql+psycopg://`) or REST |
| FIDC_WAREHOUSE | `file://FIDC_HOME/warehouse` | Iceberg warehouse (`file://`, `s3://`), and raw archive by default |
| FIDC_ARCHIVE | FIDC_WAREHOUSE | raw archive root; its own bucket when the warehouse is an S3 table bucket |
| FIDC_INBOX | `FIDC_HOME/inbox` | where custodians drop files: a directory or an fsspec URL |
| FIDC_CVM_INBOX | `FIDC_HOME/cvm_inbox` | downloaded CVM Informe Mensal zips: a directory or an fsspec URL |
| FIDC_FUNDS | `FIDC_HOME/funds.yaml` | the fund registry: funds, managers (BI tenants), custodians |
| FIDC_HOT_WINDOW_MONTHS | 13 | months of history kept in the PostgreSQL marts (at least 1) |
| FIDC_FX_RATES | `FIDC_CONFIG_DIR/reference/fx_rates.csv` | daily rates to BRL: a file other than the config dir's |
| FIDC_BI_PASSWORD_<ID> | unset: no password | password of fund manager `<id>`'s BI role (`FIDC_BI_PASSWORD_AURORA`) |
| FIDC_MARTS_CUTOFF | `20:00` | HH:MM, São Paulo time, of the business-day hot load and marts |
| FIDC_SNAPSHOT_RETENTION_DAYS | 30 | Iceberg snapshots older than this (days, at least 1) expire nightly |
| FIDC_SENSOR_REREQUEST_MINUTES | 10 | a file requested this long ago and still not registered is requested again |
| FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN | 25 | the inbox sensor's runs land at most this many fund-days of one date each |
| FIDC_LEGACY_DSN | lakehouse server, mapping's database | the legacy database to migrate (`postgresql://`) |
| FIDC_LEGACY_CUTOVER | the mapping's `cutover_date` | ISO date from which custodian files, not the legacy, count |
| FIDC_GX_ROOT | `<repo>/great_expectations` | Great Expectations context (suites, checkpoints, Data Docs) |
| FIDC_DAGSTER_PG_URL | unset: SQLite in DAGSTER_HOME | PostgreSQL storage for Dagster runs, events, schedules |
| FIDC_EXECUTOR | `in_process` | how a launched run executes its steps: `in_process`, or `celery` (Celery workers) |
| FIDC_CELERY_BROKER | unset (required with `celery`) | the Celery broker, `redis://host:6379/0` |
| FIDC_CELERY_BACKEND | FIDC_CELERY_BROKER | the Celery result backend (`redis://…`) |
| FIDC_CELERY_VISIBILITY_TIMEOUT | 3600 | seconds before the step of a dead worker goes to another (> any step) |
| DAGSTER_HOME | `FIDC_HOME/dagster` | Dagster's instance directory (`fidc-lake` exports it) |
| DAGSTER_EVENT_BATCH_SIZE | 1000 | events Dagster writes per batch (`fidc-lake` exports it) |
| DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS | 300 | code server heartbeat TTL (`dagster dev`, `fidc-lake daemon`) |

The configuration directory (FIDC_CONFIG_DIR; `fidc-lake config init DIR` writes a copy of the shipped one):
`custodians/*.yaml` (one spec per custodian; onboarding one is dropping its file here) with `custodians/layouts/`
(shared fixed-width layouts), `reference/asset_types.yaml` (the asset type registry the specs map onto),
`reference/fx_rates.csv`, `legacy/sifidc.yaml` (the legacy mapping and its cutover date), `cvm/inf_mensal.yaml`
(the CVM Informe Mensal's tabs, docs/regulatory.md). A directory or file you name (FIDC_CONFIG_DIR,
FIDC_FX_RATES, FIDC_PG_BIN, FIDC_GX_ROOT) must exist; state directories are created. A location (FIDC_WAREHOUSE,
FIDC_INBOX, FIDC_CVM_INBOX) is a URL or an absolute path: the CLI, the daemon and the code server run in
different working directories.

Who reads them (through `Settings`): `LakehouseResource` (defs/resources.py: home, DSN, embedded server,
catalog, warehouse, inbox, fund registry, configuration, cutover; its `settings()` also serves the ops and
assets: hot window, snapshot retention, FX rates, BI passwords, GX root), `LegacyResource` (legacy DSN and
mapping), the schedules when the definitions load (marts cutoff), and the `fidc-lake` commands
(`ensure_dagster_home` exports DAGSTER_HOME, DAGSTER_EVENT_BATCH_SIZE and DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS
for Dagster, and picks `dagster.postgres.yaml` when FIDC_DAGSTER_PG_URL is set; Dagster reads that variable
from it), the code location when it loads (FIDC_EXECUTOR and FIDC_CELERY_*: the jobs' executor,
`defs/executor.py`) and `fidc-lake worker` (the same FIDC_CELERY_* for the worker's side).

Set by the project, not by hand: `FIDC_DBT_HOST`, `FIDC_DBT_PORT`, `FIDC_DBT_USER`, `FIDC_DBT_PASSWORD`,
`FIDC_DBT_DBNAME` carry the resolved DSN to `dbt_project/profiles.yml` for one dbt invocation
(`fidc_assets.defs.dbt.project.dbt_profile_env`). Passed through untouched: `PYICEBERG_CATALOG__FIDC__*`
(pyiceberg's own catalog properties, e.g. S3 credentials and endpoints).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fidc_assets.lib.core.shipped import SHIPPED_CONFIG_DIR, ConfigLayout

if TYPE_CHECKING:
    from fidc_assets.lib.hot.embedded.server import EmbeddedPostgres

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DBT_PROJECT_DIR = REPO_DIR / "dbt_project"
#: FIDC_GX_ROOT's default: the repository's committed GX context.
GX_ROOT_DIR = REPO_DIR / "great_expectations"
BI_PASSWORD_PREFIX = "FIDC_BI_PASSWORD_"

DEFAULT_HOT_WINDOW_MONTHS = 13
DEFAULT_MARTS_CUTOFF = "20:00"  # São Paulo time: custodians deliver the day's files by then
DEFAULT_SNAPSHOT_RETENTION_DAYS = 30
DEFAULT_SENSOR_REREQUEST_MINUTES = 10
DEFAULT_SENSOR_MAX_FUND_DAYS_PER_RUN = 25
DEFAULT_EVENT_BATCH_SIZE = 1000
# Dagster's default is 30 s: on 2 busy cores the code server behind `dagster dev` missed its heartbeats and shut
# itself down ("No heartbeat received in 30 seconds"), leaving queued runs with no code location
DEFAULT_CODE_SERVER_HEARTBEAT_TTL_S = 300
#: a step whose Celery worker died is redelivered after this; it must exceed the longest step (a step still
#: running past it is given to a second worker too)
DEFAULT_CELERY_VISIBILITY_TIMEOUT_S = 3600
EXECUTORS = ("in_process", "celery")
#: the drivers dagster-postgres works with (`postgresql://` alone makes SQLAlchemy 2.1 pick psycopg 3, whose
#: parameter style breaks Dagster's NOTIFY)
DAGSTER_PG_SCHEMES = ("postgresql+psycopg2", "postgresql", "postgres")

#: Every variable of the table above (FIDC_BI_PASSWORD_ stands for the family); tests check the two agree.
ENV_VARS = (
    "FIDC_HOME",
    "FIDC_CONFIG_DIR",
    "FIDC_PG_DSN",
    "FIDC_PG_BIN",
    "FIDC_PG_OS_USER",
    "FIDC_ICEBERG_CATALOG_URI",
    "FIDC_WAREHOUSE",
    "FIDC_ARCHIVE",
    "FIDC_INBOX",
    "FIDC_CVM_INBOX",
    "FIDC_FUNDS",
    "FIDC_HOT_WINDOW_MONTHS",
    "FIDC_FX_RATES",
    BI_PASSWORD_PREFIX,
    "FIDC_MARTS_CUTOFF",
    "FIDC_SNAPSHOT_RETENTION_DAYS",
    "FIDC_SENSOR_REREQUEST_MINUTES",
    "FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN",
    "FIDC_LEGACY_DSN",
    "FIDC_LEGACY_CUTOVER",
    "FIDC_GX_ROOT",
    "FIDC_DAGSTER_PG_URL",
    "FIDC_EXECUTOR",
    "FIDC_CELERY_BROKER",
    "FIDC_CELERY_BACKEND",
    "FIDC_CELERY_VISIBILITY_TIMEOUT",
    "DAGSTER_HOME",
    "DAGSTER_EVENT_BATCH_SIZE",
    "DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS",
)

_OS_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_MANAGER_SUFFIX = re.compile(r"^[A-Z][A-Z0-9_]*$")


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use: the message names the variable, the
    value (passwords redacted) and what is expected."""


def _default_home() -> Path:
    # In a checkout (editable install) state lives beside the code; installed elsewhere, in the cwd.
    if (REPO_DIR / "pyproject.toml").exists():
        return REPO_DIR / ".fidc"
    return Path.cwd() / ".fidc"


def _redacted(url: str) -> str:
    """A URL with its password replaced by `***` (for messages: a DSN may carry one)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    return url.replace(f":{password}@", ":***@", 1)


class _Env:
    """The variables being read; every accessor treats an empty value as unset."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        return self.env.get(name) or None

    def fail(self, name: str, value: str, expected: str) -> SettingsError:
        return SettingsError(f"{name} must be {expected}, got {value!r}")

    def whole(self, name: str, default: int, expected: str) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(name, raw, expected) from None
        if value < 1:
            raise self.fail(name, raw, expected)
        return value

    def path(self, name: str) -> Path | None:
        raw = self.text(name)
        return None if raw is None else Path(raw).expanduser().resolve()

    def existing_dir(self, name: str, expected: str) -> Path | None:
        """A directory the user names must exist (a default is checked where it is used)."""
        path = self.path(name)
        if path is not None and not path.is_dir():
            why = "it is a file" if path.exists() else "no such directory"
            raise SettingsError(f"{name} must be {expected}, got {self.env[name]!r} ({why})")
        return path

    def not_a_file(self, name: str, path: Path, expected: str) -> Path:
        """A directory that is created on demand: anything but an existing file."""
        if path.exists() and not path.is_dir():
            raise SettingsError(f"{name} must be {expected}, got {str(path)!r} (it is a file)")
        return path

    def location(self, name: str, expected: str) -> str | None:
        """A URL (`file://`, `s3://`, `sftp://`…) or an absolute local path (`~` expanded): a relative one would
        mean a different place for each process's working directory (CLI, daemon, code server)."""
        raw = self.text(name)
        if raw is None or "://" in raw:
            return raw
        path = Path(raw).expanduser()
        if not path.is_absolute():
            raise self.fail(name, raw, expected)
        return str(path)

    def postgres_url(self, name: str, schemes: tuple[str, ...] = ("postgresql", "postgres")) -> str | None:
        shown = f"{schemes[0]}://user:password@host:port/db"
        return self.url(name, schemes, f"a {schemes[0]}:// URL ({shown})")

    def url(self, name: str, schemes: tuple[str, ...], expected: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            scheme = urlsplit(raw).scheme
        except ValueError:
            scheme = ""
        if scheme not in schemes:
            raise self.fail(name, _redacted(raw), expected)
        return raw


@dataclass(frozen=True)
class ConfigSettings:
    """FIDC_CONFIG_DIR and the files the project reads from it (FIDC_FX_RATES may point elsewhere)."""

    dir: Path
    custodians_dir: Path
    asset_types_file: Path
    fx_rates_file: Path
    legacy_mapping_file: Path
    cvm_spec_file: Path = SHIPPED_CONFIG_DIR / "cvm" / "inf_mensal.yaml"

    @classmethod
    def _read(cls, env: _Env) -> ConfigSettings:
        expected = (
            "a directory holding custodians/ (with layouts/), reference/ and legacy/ "
            "(`fidc-lake config init DIR` writes one)"
        )
        root = env.existing_dir("FIDC_CONFIG_DIR", expected) or SHIPPED_CONFIG_DIR
        layout = ConfigLayout(root)
        if not layout.custodians.is_dir():
            raise SettingsError(f"FIDC_CONFIG_DIR must be {expected}, got {str(root)!r} (it has no custodians/)")
        fx_rates = env.path("FIDC_FX_RATES")
        if fx_rates is not None and not fx_rates.is_file():
            raise env.fail(
                "FIDC_FX_RATES", env.env["FIDC_FX_RATES"], "an existing CSV file (rate_date,currency,rate_to_brl)"
            )
        return cls(
            dir=root,
            custodians_dir=layout.custodians,
            asset_types_file=layout.asset_types,
            fx_rates_file=fx_rates or layout.fx_rates,
            legacy_mapping_file=layout.legacy_mapping,
            # a configuration directory older than the CVM spec reads the shipped one
            cvm_spec_file=layout.cvm_spec if layout.cvm_spec.is_file() else ConfigLayout(SHIPPED_CONFIG_DIR).cvm_spec,
        )


@dataclass(frozen=True)
class EmbeddedPgSettings:
    """The embedded PostgreSQL server (used only when FIDC_PG_DSN is unset)."""

    root: Path  # FIDC_HOME/pg
    bin_dir: str | None  # FIDC_PG_BIN
    os_user: str | None  # FIDC_PG_OS_USER

    @classmethod
    def _read(cls, env: _Env, home: Path) -> EmbeddedPgSettings:
        bin_dir = env.existing_dir("FIDC_PG_BIN", "a directory holding initdb, pg_ctl and postgres")
        os_user = env.text("FIDC_PG_OS_USER")
        if os_user is not None and not _OS_USER.match(os_user):
            raise env.fail("FIDC_PG_OS_USER", os_user, "the name or uid of an existing unprivileged OS user")
        return cls(root=home / "pg", bin_dir=None if bin_dir is None else str(bin_dir), os_user=os_user)


@dataclass(frozen=True)
class ScheduleSettings:
    marts_cutoff: dt.time  # FIDC_MARTS_CUTOFF, São Paulo time
    snapshot_retention_days: int  # FIDC_SNAPSHOT_RETENTION_DAYS
    sensor_rerequest_minutes: int = DEFAULT_SENSOR_REREQUEST_MINUTES  # FIDC_SENSOR_REREQUEST_MINUTES
    sensor_max_fund_days_per_run: int = DEFAULT_SENSOR_MAX_FUND_DAYS_PER_RUN  # FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN

    @classmethod
    def _read(cls, env: _Env) -> ScheduleSettings:
        raw = env.text("FIDC_MARTS_CUTOFF") or DEFAULT_MARTS_CUTOFF
        try:
            hour, minute = (int(x) for x in raw.split(":"))
            cutoff = dt.time(hour, minute)
        except ValueError:
            raise env.fail("FIDC_MARTS_CUTOFF", raw, "HH:MM (24 h, São Paulo time), e.g. 20:00") from None
        days = env.whole(
            "FIDC_SNAPSHOT_RETENTION_DAYS", DEFAULT_SNAPSHOT_RETENTION_DAYS, "a whole number of days, at least 1"
        )
        rerequest = env.whole(
            "FIDC_SENSOR_REREQUEST_MINUTES", DEFAULT_SENSOR_REREQUEST_MINUTES, "a whole number of minutes, at least 1"
        )
        per_run = env.whole(
            "FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN",
            DEFAULT_SENSOR_MAX_FUND_DAYS_PER_RUN,
            "a whole number of fund-days, at least 1",
        )
        return cls(
            marts_cutoff=cutoff,
            snapshot_retention_days=days,
            sensor_rerequest_minutes=rerequest,
            sensor_max_fund_days_per_run=per_run,
        )


@dataclass(frozen=True)
class LegacySettings:
    dsn: str | None = field(repr=False)  # FIDC_LEGACY_DSN
    cutover: dt.date | None  # FIDC_LEGACY_CUTOVER: overrides the mapping's cutover_date

    @classmethod
    def _read(cls, env: _Env) -> LegacySettings:
        raw = env.text("FIDC_LEGACY_CUTOVER")
        cutover = None
        if raw is not None:
            try:
                cutover = dt.date.fromisoformat(raw)
            except ValueError:
                raise env.fail("FIDC_LEGACY_CUTOVER", raw, "an ISO date (YYYY-MM-DD)") from None
        return cls(dsn=env.postgres_url("FIDC_LEGACY_DSN"), cutover=cutover)


@dataclass(frozen=True)
class BiSettings:
    #: fund manager id (lower case, as in the fund registry) → password of its BI login role
    passwords: Mapping[str, str] = field(repr=False)

    @classmethod
    def _read(cls, env: _Env) -> BiSettings:
        passwords = {}
        for name, value in env.env.items():
            if not name.startswith(BI_PASSWORD_PREFIX) or not value:
                continue
            suffix = name.removeprefix(BI_PASSWORD_PREFIX)
            if not _MANAGER_SUFFIX.match(suffix):
                raise SettingsError(
                    f"{name}: the part after {BI_PASSWORD_PREFIX} must be a fund manager id in upper case "
                    f"(A-Z, 0-9, _; manager aurora → {BI_PASSWORD_PREFIX}AURORA), got {suffix!r}"
                )
            passwords[suffix.lower()] = value
        return cls(passwords=MappingProxyType(passwords))


@dataclass(frozen=True)
class CelerySettings:
    """The Celery side of FIDC_EXECUTOR=celery: the same values serve the run (which submits each step) and
    `fidc-lake worker` (which executes them); they must agree."""

    broker: str = field(repr=False)  # FIDC_CELERY_BROKER (may hold a password)
    backend: str = field(repr=False)  # FIDC_CELERY_BACKEND, default the broker
    visibility_timeout_s: int = DEFAULT_CELERY_VISIBILITY_TIMEOUT_S  # FIDC_CELERY_VISIBILITY_TIMEOUT


@dataclass(frozen=True)
class DagsterSettings:
    home: Path  # DAGSTER_HOME, default FIDC_HOME/dagster
    pg_url: str | None = field(repr=False)  # FIDC_DAGSTER_PG_URL: PostgreSQL storage instead of SQLite
    event_batch_size: int  # DAGSTER_EVENT_BATCH_SIZE
    code_server_heartbeat_ttl_s: int  # DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS
    executor: str = "in_process"  # FIDC_EXECUTOR
    celery: CelerySettings | None = None  # FIDC_CELERY_*: required with executor celery, else None

    @classmethod
    def _read(cls, env: _Env, home: Path) -> DagsterSettings:
        expected = "a directory for Dagster's instance (created if missing)"
        executor = env.text("FIDC_EXECUTOR") or "in_process"
        if executor not in EXECUTORS:
            raise env.fail("FIDC_EXECUTOR", executor, "one of " + ", ".join(EXECUTORS))
        return cls(
            home=env.not_a_file("DAGSTER_HOME", env.path("DAGSTER_HOME") or home / "dagster", expected),
            pg_url=env.postgres_url("FIDC_DAGSTER_PG_URL", DAGSTER_PG_SCHEMES),
            event_batch_size=env.whole(
                "DAGSTER_EVENT_BATCH_SIZE", DEFAULT_EVENT_BATCH_SIZE, "a whole number of events, at least 1"
            ),
            code_server_heartbeat_ttl_s=env.whole(
                "DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS",
                DEFAULT_CODE_SERVER_HEARTBEAT_TTL_S,
                "a whole number of seconds, at least 1",
            ),
            executor=executor,
            celery=_celery(env, required=executor == "celery"),
        )


def _celery(env: _Env, required: bool) -> CelerySettings | None:
    schemes = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sqs")
    expected = "a Celery broker URL (redis://host:6379/0, amqp://…)"
    broker = env.url("FIDC_CELERY_BROKER", schemes, expected)
    backend = env.url(
        "FIDC_CELERY_BACKEND",
        ("redis", "rediss", "rpc", "db+postgresql"),
        "a Celery result backend URL (redis://host:6379/0)",
    )
    timeout = env.whole(
        "FIDC_CELERY_VISIBILITY_TIMEOUT", DEFAULT_CELERY_VISIBILITY_TIMEOUT_S, "a whole number of seconds, at least 1"
    )
    if broker is None:
        if required:
            raise SettingsError("FIDC_EXECUTOR is 'celery' but FIDC_CELERY_BROKER is unset (redis://host:6379/0)")
        return None
    return CelerySettings(broker=broker, backend=backend or broker, visibility_timeout_s=timeout)


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_dsn: str | None = field(repr=False)
    iceberg_catalog_uri: str = field(repr=False)
    warehouse: str
    inbox: str
    hot_window_months: int
    funds_file: Path
    config: ConfigSettings
    embedded_pg: EmbeddedPgSettings
    schedules: ScheduleSettings
    legacy: LegacySettings
    bi: BiSettings
    dagster: DagsterSettings
    gx_root: Path
    #: Raw archive root; FIDC_ARCHIVE, default the warehouse (an S3 table bucket holds only tables).
    archive: str = ""
    #: FIDC_CVM_INBOX: where downloaded CVM Informe Mensal zips are dropped (docs/regulatory.md).
    cvm_inbox: str = ""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, str | None] | None = None
    ) -> Settings:
        """Read `env` (default: the process environment); `overrides` (variable → value, None/empty
        ignored) win over it: a resource's explicit fields."""
        base = os.environ if env is None else env
        if overrides:
            base = {**base, **{k: v for k, v in overrides.items() if v}}
        e = _Env(base)
        home_expected = "a directory for the local state (created if missing)"
        home = e.not_a_file("FIDC_HOME", e.path("FIDC_HOME") or _default_home().resolve(), home_expected)
        catalog_uri = e.text("FIDC_ICEBERG_CATALOG_URI") or f"sqlite:///{home / 'iceberg' / 'catalog.db'}"
        if "://" not in catalog_uri:
            raise e.fail(
                "FIDC_ICEBERG_CATALOG_URI",
                _redacted(catalog_uri),
                "a catalog URL (sqlite:///path, postgresql+psycopg://user@host/db or https://rest-catalog)",
            )
        where = "a URL (file://, s3://, sftp://...) or an absolute path"
        funds_file = e.path("FIDC_FUNDS") or (home / "funds.yaml").resolve()
        if funds_file.is_dir():
            raise e.fail("FIDC_FUNDS", str(funds_file), "the path of the fund registry YAML file (it is a directory)")
        warehouse = (e.location("FIDC_WAREHOUSE", where) or (home / "warehouse").as_uri()).rstrip("/")
        return cls(
            home=home,
            pg_dsn=e.postgres_url("FIDC_PG_DSN"),
            iceberg_catalog_uri=catalog_uri,
            warehouse=warehouse,
            archive=(e.location("FIDC_ARCHIVE", where) or warehouse).rstrip("/"),
            inbox=e.location("FIDC_INBOX", where) or str(home / "inbox"),
            cvm_inbox=e.location("FIDC_CVM_INBOX", where) or str(home / "cvm_inbox"),
            hot_window_months=e.whole(
                "FIDC_HOT_WINDOW_MONTHS", DEFAULT_HOT_WINDOW_MONTHS, "a whole number of months, at least 1"
            ),
            funds_file=funds_file,
            config=ConfigSettings._read(e),
            embedded_pg=EmbeddedPgSettings._read(e, home),
            schedules=ScheduleSettings._read(e),
            legacy=LegacySettings._read(e),
            bi=BiSettings._read(e),
            dagster=DagsterSettings._read(e, home),
            gx_root=e.existing_dir("FIDC_GX_ROOT", "an existing Great Expectations context directory") or GX_ROOT_DIR,
        )

    @property
    def pg_root(self) -> Path:
        """State dir of the embedded PostgreSQL server (used only when FIDC_PG_DSN is unset)."""
        return self.embedded_pg.root

    @property
    def dagster_home(self) -> Path:
        return self.dagster.home

    @property
    def uses_embedded_pg(self) -> bool:
        return self.pg_dsn is None

    def embedded_server(self) -> EmbeddedPostgres:
        """The embedded server of FIDC_HOME/pg with FIDC_PG_BIN and FIDC_PG_OS_USER (not started)."""
        from fidc_assets.lib.hot.dsn import embedded_server

        pg = self.embedded_pg
        return embedded_server(pg.root, pg.bin_dir, pg.os_user)

    def resolve_pg_dsn(self) -> str:
        """FIDC_PG_DSN as given, else the embedded server's DSN (started if it is not running)."""
        from fidc_assets.lib.hot.dsn import resolve_dsn

        pg = self.embedded_pg
        return resolve_dsn(self.pg_dsn, pg.root, bin_dir=pg.bin_dir, os_user=pg.os_user)
