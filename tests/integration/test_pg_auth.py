"""Authentication on the embedded server (issue 13, defect 6): it trusted every TCP login, so a BI user could
log in as any tenant, or as the superuser, with no password; tenant passwords were sent in plain text
(`ALTER ROLE ... PASSWORD '...'`, visible to statement logging)."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from fidc_assets.lib.core.asset_types import load_asset_types
from fidc_assets.lib.core.funds import Fund, FundRegistry, Manager
from fidc_assets.lib.core.shipped import SHIPPED
from fidc_assets.lib.hot.bi_access import ensure_bi_access
from fidc_assets.lib.hot.embedded import EmbeddedPostgres
from fidc_assets.lib.hot.reference import ReferenceData, sync_reference_data, tenant_role
from fidc_assets.lib.hot.scram import scram_sha256_verifier, verify_scram_sha256
from tests.integration.test_pg_embedded import traversable_tmp_dir

pytestmark = pytest.mark.integration

TENANT_PASSWORD = "boreal-Senha-123!"


def _without_password(dsn: str, user: str | None = None) -> str:
    url = urlsplit(dsn)
    return f"postgresql://{user or url.username}@{url.hostname}:{url.port}{url.path}"


def _login_fails(dsn: str) -> str:
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(dsn, connect_timeout=5).close()
    return str(info.value)


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[EmbeddedPostgres, str]]:
    directory = traversable_tmp_dir()
    server = EmbeddedPostgres(directory / "pg", settings={"log_statement": "ddl", "fsync": "off"})
    try:
        yield server, server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_the_superuser_needs_its_password(pg) -> None:
    server, dsn = pg
    assert urlsplit(dsn).password
    assert "password" in _login_fails(_without_password(dsn)).lower()
    assert "password authentication failed" in _login_fails(dsn.replace(urlsplit(dsn).password or "", "wrong"))
    with psycopg.connect(dsn) as conn:
        method = conn.execute("select rolpassword from pg_authid where rolname = 'postgres'").fetchone()
    assert method and str(method[0]).startswith("SCRAM-SHA-256$")
    mode = stat.S_IMODE(server.password_file.stat().st_mode)
    assert mode == 0o600
    assert server.status().dsn == dsn


def test_a_tenant_needs_its_password_and_it_never_reaches_the_log(pg) -> None:
    server, dsn = pg
    registry = FundRegistry(
        managers=(Manager(id="boreal", name="Boreal"),),
        funds=(Fund(cnpj="17556821000101", name="FIDC B", manager="boreal"),),
    )
    with psycopg.connect(dsn) as conn:
        sync_reference_data(conn, ReferenceData.build(registry, {}, load_asset_types(SHIPPED.asset_types), []))
        ensure_bi_access(conn, registry, {"boreal": TENANT_PASSWORD})
        conn.commit()
    role = tenant_role("boreal")
    assert "password" in _login_fails(_without_password(dsn, role)).lower()
    url = urlsplit(dsn)
    good = f"postgresql://{role}:{TENANT_PASSWORD.replace('!', '%21')}@{url.hostname}:{url.port}{url.path}"
    with psycopg.connect(good) as conn:
        assert conn.execute("select current_user").fetchone() == (role,)
    # a tenant cannot log in as the owner with its own password either
    _login_fails(good.replace(role, "postgres", 1))
    log = server.log_file.read_text(errors="replace")
    assert "ALTER ROLE" in log.upper()  # statement logging is on: the DDL was logged ...
    assert TENANT_PASSWORD not in log  # ... but never the password
    assert (urlsplit(dsn).password or "?") not in log


def test_a_data_dir_made_with_trust_is_migrated_on_start(tmp_path: Path) -> None:
    directory = traversable_tmp_dir()
    server = EmbeddedPostgres(directory / "pg", settings={"fsync": "off"})
    try:
        dsn = server.start()
        server.stop()
        # what an older version left: trust everywhere, no password file
        hba = server.data_dir / "pg_hba.conf"
        hba.write_text("host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n")
        server.password_file.unlink()
        dsn = server.start()
        assert "trust" not in hba.read_text()
        assert "password" in _login_fails(_without_password(dsn)).lower()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_the_verifier_is_postgresql_s_format() -> None:
    verifier = scram_sha256_verifier("secret", salt=b"0123456789abcdef", iterations=4096)
    head, keys = verifier.split("$", 1)[1].split("$")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and head.startswith("4096:") and ":" in keys
    assert verify_scram_sha256("secret", verifier) and not verify_scram_sha256("Secret", verifier)
