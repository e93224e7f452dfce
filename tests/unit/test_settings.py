"""Settings from the environment: defaults derived from FIDC_HOME, overrides honoured, bad values named."""

from __future__ import annotations

import pytest

from fidc_assets.settings import Settings

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
