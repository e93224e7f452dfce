"""Settings from the environment: defaults derived from FIDC_HOME, overrides honoured, bad values named."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fidc_assets.settings import (
    BI_PASSWORD_PREFIX,
    ENV_VARS,
    GX_ROOT_DIR,
    REPO_DIR,
    DagsterSettings,
    EmbeddedPgSettings,
    LegacySettings,
    ScheduleSettings,
    Settings,
    SettingsError,
)

ALL_VARS = (
    "FIDC_HOME",
    "FIDC_PG_DSN",
    "FIDC_ICEBERG_CATALOG_URI",
    "FIDC_WAREHOUSE",
    "FIDC_INBOX",
    "FIDC_HOT_WINDOW_MONTHS",
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_derive_from_fidc_home(tmp_path):
    home = tmp_path.resolve()
    s = Settings.from_env({"FIDC_HOME": str(tmp_path)})
    assert s.home == home
    assert s.iceberg_catalog_uri == f"sqlite:///{home}/iceberg/catalog.db"
    assert s.warehouse == (home / "warehouse").as_uri()
    assert s.warehouse.startswith("file:///")
    assert s.inbox == str(home / "inbox")
    assert s.hot_window_months == 13
    assert s.pg_dsn is None
    assert s.uses_embedded_pg
    assert s.pg_root == home / "pg"
    assert s.dagster_home == home / "dagster"


def test_fidc_home_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"FIDC_HOME": "state"})
    assert s.home == (tmp_path / "state").resolve()
    assert s.home.is_absolute()


def test_env_overrides_are_honoured(tmp_path):
    env = {
        "FIDC_HOME": str(tmp_path),
        "FIDC_PG_DSN": "postgresql://fidc:secret@db.example:5433/lake",
        "FIDC_ICEBERG_CATALOG_URI": "postgresql+psycopg://fidc@db.example/catalog",
        "FIDC_WAREHOUSE": "s3://bucket/warehouse/",
        "FIDC_INBOX": "/srv/sftp/inbox",
        "FIDC_HOT_WINDOW_MONTHS": "24",
    }
    s = Settings.from_env(env)
    assert s.pg_dsn == "postgresql://fidc:secret@db.example:5433/lake"
    assert not s.uses_embedded_pg
    assert s.iceberg_catalog_uri == "postgresql+psycopg://fidc@db.example/catalog"
    assert s.warehouse == "s3://bucket/warehouse"  # trailing slash dropped
    assert s.inbox == "/srv/sftp/inbox"
    assert s.hot_window_months == 24
    assert s.home == tmp_path.resolve()


def test_empty_values_fall_back_to_defaults(tmp_path):
    env = {name: "" for name in ALL_VARS} | {"FIDC_HOME": str(tmp_path)}
    s = Settings.from_env(env)
    assert s.pg_dsn is None
    assert s.hot_window_months == 13
    assert s.inbox == str(tmp_path.resolve() / "inbox")


@pytest.mark.parametrize("value", ["abc", "1.5", "13 months", "0", "-3"])
def test_bad_hot_window_raises_naming_the_variable(tmp_path, value):
    with pytest.raises(ValueError) as info:
        Settings.from_env({"FIDC_HOME": str(tmp_path), "FIDC_HOT_WINDOW_MONTHS": value})
    message = str(info.value)
    assert "FIDC_HOT_WINDOW_MONTHS" in message
    assert value.lstrip("-") in message


def test_hot_window_of_one_month_is_allowed(tmp_path):
    assert Settings.from_env({"FIDC_HOME": str(tmp_path), "FIDC_HOT_WINDOW_MONTHS": "1"}).hot_window_months == 1


def test_from_env_without_mapping_reads_os_environ(clean_env, tmp_path):
    clean_env.setenv("FIDC_HOME", str(tmp_path))
    clean_env.setenv("FIDC_HOT_WINDOW_MONTHS", "6")
    clean_env.setenv("FIDC_PG_DSN", "postgresql://localhost/x")
    s = Settings.from_env()
    assert s.home == tmp_path.resolve()
    assert s.hot_window_months == 6
    assert s.pg_dsn == "postgresql://localhost/x"


def test_from_env_with_explicit_mapping_does_not_read_os_environ(clean_env, tmp_path):
    clean_env.setenv("FIDC_HOME", str(tmp_path / "from-os-environ"))
    clean_env.setenv("FIDC_HOT_WINDOW_MONTHS", "not a number")
    clean_env.setenv("FIDC_PG_DSN", "postgresql://localhost/x")
    clean_env.setenv("FIDC_INBOX", "/from/os/environ")
    s = Settings.from_env({"FIDC_HOME": str(tmp_path / "explicit")})
    assert s.home == (tmp_path / "explicit").resolve()
    assert s.hot_window_months == 13
    assert s.pg_dsn is None
    assert s.inbox == str((tmp_path / "explicit").resolve() / "inbox")


def test_empty_mapping_uses_the_default_home_not_os_environ(clean_env, tmp_path):
    clean_env.setenv("FIDC_HOME", str(tmp_path))
    s = Settings.from_env({})
    assert s.home != tmp_path.resolve()
    assert s.home.name == ".fidc"


def test_settings_are_immutable(tmp_path):
    s = Settings.from_env({"FIDC_HOME": str(tmp_path)})
    with pytest.raises(AttributeError):
        s.hot_window_months = 1  # type: ignore[misc]


# --- every variable of the table: read, defaulted, and a bad value named --------------------------------------


def _env(tmp_path, **variables: str) -> dict[str, str]:
    return {"FIDC_HOME": str(tmp_path / "home"), **variables}


def test_the_sub_settings_defaults(tmp_path):
    s = Settings.from_env(_env(tmp_path))
    home = (tmp_path / "home").resolve()
    assert s.embedded_pg == EmbeddedPgSettings(root=home / "pg", bin_dir=None, os_user=None)
    assert s.schedules == ScheduleSettings(marts_cutoff=dt.time(20, 0), snapshot_retention_days=30)
    assert s.legacy == LegacySettings(dsn=None, cutover=None)
    assert dict(s.bi.passwords) == {}
    assert s.dagster == DagsterSettings(
        home=home / "dagster", pg_url=None, event_batch_size=1000, code_server_heartbeat_ttl_s=300
    )
    assert s.gx_root == GX_ROOT_DIR
    assert s.funds_file == home / "funds.yaml"


def test_the_sub_settings_read_their_variables(tmp_path):
    pg_bin, gx, fx = tmp_path / "pg-bin", tmp_path / "gx", tmp_path / "rates.csv"
    pg_bin.mkdir()
    gx.mkdir()
    fx.write_text("rate_date,currency,rate_to_brl\n", encoding="utf-8")
    s = Settings.from_env(
        _env(
            tmp_path,
            FIDC_PG_BIN=str(pg_bin),
            FIDC_PG_OS_USER="postgres",
            FIDC_MARTS_CUTOFF="21:30",
            FIDC_SNAPSHOT_RETENTION_DAYS="7",
            FIDC_LEGACY_DSN="postgresql://sifidc@legacy.example/sifidc",
            FIDC_LEGACY_CUTOVER="2025-07-01",
            FIDC_BI_PASSWORD_AURORA="s3cret",
            FIDC_BI_PASSWORD_BOREAL_2="other",
            FIDC_GX_ROOT=str(gx),
            FIDC_FX_RATES=str(fx),
            FIDC_DAGSTER_PG_URL="postgresql://dagster@db.example/dagster",
            DAGSTER_HOME=str(tmp_path / "dagster-home"),
            DAGSTER_EVENT_BATCH_SIZE="50",
            DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS="600",
        )
    )
    assert (s.embedded_pg.bin_dir, s.embedded_pg.os_user) == (str(pg_bin.resolve()), "postgres")
    assert s.schedules == ScheduleSettings(marts_cutoff=dt.time(21, 30), snapshot_retention_days=7)
    assert s.legacy == LegacySettings(dsn="postgresql://sifidc@legacy.example/sifidc", cutover=dt.date(2025, 7, 1))
    assert dict(s.bi.passwords) == {"aurora": "s3cret", "boreal_2": "other"}
    assert s.gx_root == gx.resolve() and s.config.fx_rates_file == fx.resolve()
    dagster_home = (tmp_path / "dagster-home").resolve()
    dagster_url = "postgresql://dagster@db.example/dagster"
    assert s.dagster == DagsterSettings(
        home=dagster_home, pg_url=dagster_url, event_batch_size=50, code_server_heartbeat_ttl_s=600
    )
    assert s.dagster_home == s.dagster.home


def test_overrides_win_over_the_environment_and_empty_ones_are_ignored(tmp_path):
    env = _env(tmp_path, FIDC_INBOX="/from/env", FIDC_WAREHOUSE="s3://env/warehouse")
    s = Settings.from_env(env, overrides={"FIDC_INBOX": "/from/resource", "FIDC_WAREHOUSE": None, "FIDC_FUNDS": ""})
    assert s.inbox == "/from/resource"
    assert s.warehouse == "s3://env/warehouse"
    assert s.funds_file == (tmp_path / "home").resolve() / "funds.yaml"


def test_secrets_stay_out_of_the_repr(tmp_path):
    s = Settings.from_env(
        _env(
            tmp_path,
            FIDC_PG_DSN="postgresql://fidc:pg-secret@db/lake",
            FIDC_LEGACY_DSN="postgresql://l:legacy-secret@db/legacy",
            FIDC_BI_PASSWORD_AURORA="bi-secret",
            FIDC_DAGSTER_PG_URL="postgresql://d:dagster-secret@db/dagster",
        )
    )
    text = repr(s)
    assert not any(secret in text for secret in ("pg-secret", "legacy-secret", "bi-secret", "dagster-secret"))


def _a_file(tmp_path) -> str:
    path = tmp_path / "a-file"
    path.write_text("x", encoding="utf-8")
    return str(path)


def _no_custodians(tmp_path) -> str:
    (tmp_path / "config-without-custodians" / "reference").mkdir(parents=True)
    return str(tmp_path / "config-without-custodians")


def _a_dir(tmp_path) -> str:
    (tmp_path / "a-dir").mkdir()
    return str(tmp_path / "a-dir")


#: variable → (bad value, or a function of tmp_path making one; what the message must say is expected)
BAD_VALUES: dict[str, tuple[str | Callable[[Path], str], str]] = {
    "FIDC_HOME": (_a_file, "must be a directory for the local state"),
    "FIDC_CONFIG_DIR": (lambda tmp: str(tmp / "missing"), "must be a directory holding custodians/"),
    "FIDC_PG_DSN": ("mysql://db/lake", "must be a postgresql:// URL"),
    "FIDC_PG_BIN": (lambda tmp: str(tmp / "no-bin"), "must be a directory holding initdb, pg_ctl and postgres"),
    "FIDC_PG_OS_USER": ("post gres", "must be the name or uid of an existing unprivileged OS user"),
    "FIDC_ICEBERG_CATALOG_URI": ("/srv/catalog.db", "must be a catalog URL (sqlite:///path"),
    "FIDC_WAREHOUSE": ("warehouse", "must be a URL (file://, s3://, sftp://...) or an absolute path"),
    "FIDC_ARCHIVE": ("archive", "must be a URL (file://, s3://, sftp://...) or an absolute path"),
    "FIDC_INBOX": ("./inbox", "must be a URL (file://, s3://, sftp://...) or an absolute path"),
    "FIDC_CVM_INBOX": ("cvm", "must be a URL (file://, s3://, sftp://...) or an absolute path"),
    "FIDC_FUNDS": (_a_dir, "must be the path of the fund registry YAML file"),
    "FIDC_HOT_WINDOW_MONTHS": ("a year", "must be a whole number of months, at least 1"),
    "FIDC_FX_RATES": (lambda tmp: str(tmp / "rates.csv"), "must be an existing CSV file (rate_date,currency,"),
    "FIDC_BI_PASSWORD_aurora": ("pw", "the part after FIDC_BI_PASSWORD_ must be a fund manager id in upper case"),
    "FIDC_MARTS_CUTOFF": ("8pm", "must be HH:MM (24 h, São Paulo time)"),
    "FIDC_SNAPSHOT_RETENTION_DAYS": ("0", "must be a whole number of days, at least 1"),
    "FIDC_SENSOR_REREQUEST_MINUTES": ("0", "must be a whole number of minutes, at least 1"),
    "FIDC_SENSOR_MAX_FUND_DAYS_PER_RUN": ("all", "must be a whole number of fund-days, at least 1"),
    "FIDC_LEGACY_DSN": ("sifidc.example:5432", "must be a postgresql:// URL"),
    "FIDC_LEGACY_CUTOVER": ("01/07/2025", "must be an ISO date (YYYY-MM-DD)"),
    "FIDC_GX_ROOT": (lambda tmp: str(tmp / "gx"), "must be an existing Great Expectations context directory"),
    "FIDC_DAGSTER_PG_URL": ("sqlite:///dagster.db", "must be a postgresql+psycopg2:// URL"),
    "FIDC_EXECUTOR": ("multiprocess", "must be one of in_process, celery"),
    "FIDC_CELERY_BROKER": ("127.0.0.1:6379", "must be a Celery broker URL (redis://host:6379/0"),
    "FIDC_CELERY_BACKEND": ("mongodb://db/results", "must be a Celery result backend URL"),
    "FIDC_CELERY_VISIBILITY_TIMEOUT": ("1h", "must be a whole number of seconds, at least 1"),
    "DAGSTER_HOME": (_a_file, "must be a directory for Dagster's instance"),
    "DAGSTER_EVENT_BATCH_SIZE": ("1e3", "must be a whole number of events, at least 1"),
    "DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS": ("30s", "must be a whole number of seconds, at least 1"),
}


@pytest.mark.parametrize("variable", list(BAD_VALUES))
def test_a_bad_value_names_the_variable_the_value_and_the_expectation(tmp_path, variable):
    bad, expected = BAD_VALUES[variable]
    value = bad if isinstance(bad, str) else bad(tmp_path)
    with pytest.raises(SettingsError) as info:
        Settings.from_env(_env(tmp_path, **{variable: value}))
    message = str(info.value)
    assert message.startswith(variable), message
    assert expected in message, message
    shown = "aurora" if variable.startswith(BI_PASSWORD_PREFIX) else value
    assert repr(shown) in message, message


def test_every_variable_of_the_table_has_a_bad_value_test():
    """The validated set, the documented set and this test's set are the same: a new variable needs all three."""
    tested = {BI_PASSWORD_PREFIX if v.startswith(BI_PASSWORD_PREFIX) else v for v in BAD_VALUES}
    assert tested == set(ENV_VARS)


def test_the_docstring_table_lists_every_variable():
    import fidc_assets.settings as module

    documented = [line.split("|")[1].strip() for line in (module.__doc__ or "").splitlines() if line.startswith("| ")][
        1:
    ]  # the header row
    assert [BI_PASSWORD_PREFIX if v.startswith(BI_PASSWORD_PREFIX) else v for v in documented] == list(ENV_VARS)


def test_a_config_dir_without_custodians_is_named(tmp_path):
    path = _no_custodians(tmp_path)
    expected = r"FIDC_CONFIG_DIR must be a directory holding custodians/ .* \(it has no custodians/\)"
    with pytest.raises(SettingsError, match=expected):
        Settings.from_env(_env(tmp_path, FIDC_CONFIG_DIR=path))


def test_a_dsn_password_never_reaches_the_message(tmp_path):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(_env(tmp_path, FIDC_PG_DSN="mysql://fidc:hunter2@db/lake"))
    assert "hunter2" not in str(info.value) and "mysql://fidc:***@db/lake" in str(info.value)


def test_a_bi_password_value_never_reaches_the_message(tmp_path):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(_env(tmp_path, **{"FIDC_BI_PASSWORD_bad-id": "hunter2"}))
    assert "hunter2" not in str(info.value) and "'bad-id'" in str(info.value)


def test_a_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_ensure_dagster_home_exports_what_dagster_reads(tmp_path, monkeypatch):
    from fidc_assets.pipeline import ensure_dagster_home

    for var in ("DAGSTER_HOME", "DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS"):
        monkeypatch.delenv(var, raising=False)
    home = ensure_dagster_home(Settings.from_env({"FIDC_HOME": str(tmp_path)}))
    assert os.environ["DAGSTER_HOME"] == str(home) == str(tmp_path / "dagster")
    assert (home / "dagster.yaml").read_text() == (REPO_DIR / "dagster.yaml").read_text()
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "1000"
    # the code server behind `dagster dev` outlives 300 s without a heartbeat, not Dagster's 30 s
    assert os.environ["DAGSTER_GRPC_PROXY_HEARTBEAT_TTL_SECONDS"] == "300"


def test_the_executor_is_in_process_unless_celery_is_chosen_with_a_broker(tmp_path):
    from fidc_assets.settings import CelerySettings

    assert Settings.from_env(_env(tmp_path)).dagster.executor == "in_process"
    assert Settings.from_env(_env(tmp_path)).dagster.celery is None
    s = Settings.from_env(_env(tmp_path, FIDC_EXECUTOR="celery", FIDC_CELERY_BROKER="redis://:pw@redis:6379/0"))
    assert s.dagster.executor == "celery"
    assert s.dagster.celery == CelerySettings("redis://:pw@redis:6379/0", "redis://:pw@redis:6379/0", 3600)
    assert "pw@" not in repr(s)
    other = Settings.from_env(
        _env(
            tmp_path,
            FIDC_CELERY_BROKER="redis://redis/0",
            FIDC_CELERY_BACKEND="redis://redis/1",
            FIDC_CELERY_VISIBILITY_TIMEOUT="600",
        )
    )
    assert other.dagster.celery == CelerySettings("redis://redis/0", "redis://redis/1", 600)
    with pytest.raises(SettingsError, match=r"^FIDC_EXECUTOR is 'celery' but FIDC_CELERY_BROKER is unset"):
        Settings.from_env(_env(tmp_path, FIDC_EXECUTOR="celery"))


def test_the_dagster_storage_url_takes_the_psycopg2_driver(tmp_path):
    url = "postgresql+psycopg2://dagster:pw@db:5432/dagster"
    assert Settings.from_env(_env(tmp_path, FIDC_DAGSTER_PG_URL=url)).dagster.pg_url == url
    with pytest.raises(SettingsError, match=r"FIDC_DAGSTER_PG_URL must be a postgresql\+psycopg2:// URL"):
        Settings.from_env(_env(tmp_path, FIDC_DAGSTER_PG_URL="postgresql+psycopg://dagster@db/dagster"))
