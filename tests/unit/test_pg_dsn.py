"""DSN helpers: parts for dbt, and a redacted form for messages (a password never reaches stdout or logs)."""

from __future__ import annotations

from fidc_assets.lib.hot.dsn import dsn_parts, redacted


def test_redacted_hides_the_password_and_nothing_else():
    assert redacted("postgresql://fidc:s3cr%40t@db.internal:6432/lake") == "postgresql://fidc:***@db.internal:6432/lake"
    assert redacted("postgresql://postgres@127.0.0.1:5432/fidc") == "postgresql://postgres@127.0.0.1:5432/fidc"


def test_dsn_parts_decode_the_password():
    assert dsn_parts("postgresql://fidc:s3cr%40t@db:6432/lake")["password"] == "s3cr@t"
