"""The production-shaped profile as session fixtures (each test module sets `pytestmark = pytest.mark.prod`):
SeaweedFS (S3 + Iceberg REST catalog) and Redis, each started here on 127.0.0.1 and stopped at the end of the
session. The product is pointed at them through environment variables only (`prod_env`), exactly the
variables a deployment sets (deploy/k8s/base/configmap-env.yaml and the Secret template).

Iceberg REST authentication: SeaweedFS accepts OAuth2 client credentials (`credential = access:secret`,
pyiceberg exchanges them at /v1/oauth/tokens) and SigV4 (`rest.sigv4-enabled`, `rest.signing-name=s3tables`,
with `client.access-key-id`/`client.secret-access-key`/`client.region`; without those pyiceberg's SigV4 finds
no credentials). The profile uses OAuth2; tests/prod/test_services.py proves both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import traversable_tmp_dir
from tests.prod.services import REGION, RedisServer, SeaweedCluster

TABLE_BUCKET = "fidc-lake"
ARCHIVE_BUCKET = "fidc-archive"
INBOX_BUCKET = "fidc-inbox"


@dataclass
class S3Profile:
    cluster: SeaweedCluster
    env: dict[str, str]

    def boto3_kwargs(self) -> dict[str, str]:
        return {
            "endpoint_url": self.cluster.s3_endpoint,
            "aws_access_key_id": self.cluster.access_key,
            "aws_secret_access_key": self.cluster.secret_key,
            "region_name": REGION,
        }


def profile_env(cluster: SeaweedCluster) -> dict[str, str]:
    """The deployment's variables for this cluster: REST catalog, table bucket, archive and inbox buckets."""
    return {
        "FIDC_ICEBERG_CATALOG_URI": cluster.iceberg_uri,
        "FIDC_WAREHOUSE": f"s3://{TABLE_BUCKET}",
        "FIDC_ARCHIVE": f"s3://{ARCHIVE_BUCKET}",
        "FIDC_INBOX": f"s3://{INBOX_BUCKET}/inbox",
        "PYICEBERG_CATALOG__FIDC__CREDENTIAL": f"{cluster.access_key}:{cluster.secret_key}",
        "PYICEBERG_CATALOG__FIDC__OAUTH2_SERVER_URI": f"{cluster.iceberg_uri}/v1/oauth/tokens",
        "PYICEBERG_CATALOG__FIDC__S3__ENDPOINT": cluster.s3_endpoint,
        "PYICEBERG_CATALOG__FIDC__S3__ACCESS_KEY_ID": cluster.access_key,
        "PYICEBERG_CATALOG__FIDC__S3__SECRET_ACCESS_KEY": cluster.secret_key,
        "PYICEBERG_CATALOG__FIDC__S3__REGION": REGION,
        "PYICEBERG_CATALOG__FIDC__S3__PATH_STYLE_ACCESS": "true",
        "AWS_ACCESS_KEY_ID": cluster.access_key,
        "AWS_SECRET_ACCESS_KEY": cluster.secret_key,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": cluster.s3_endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedCluster]:
    root = traversable_tmp_dir("fidc-prod-seaweed-")
    cluster = SeaweedCluster(root / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_profile(seaweed: SeaweedCluster) -> S3Profile:
    """The cluster with its buckets: the Iceberg table bucket (s3tables API) and plain archive/inbox buckets."""
    import boto3

    profile = S3Profile(seaweed, profile_env(seaweed))
    boto3.client("s3tables", **profile.boto3_kwargs()).create_table_bucket(name=TABLE_BUCKET)
    s3 = boto3.client("s3", **profile.boto3_kwargs())
    for bucket in (ARCHIVE_BUCKET, INBOX_BUCKET):
        s3.create_bucket(Bucket=bucket)
    return profile


@contextlib.contextmanager
def patched_environ(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """os.environ with `env` set, restored afterwards."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reload_pyiceberg_env()
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload_pyiceberg_env()


def _reload_pyiceberg_env() -> None:
    """pyiceberg reads PYICEBERG_CATALOG__* once, when pyiceberg.catalog is imported (a module-level Config()),
    not at load_catalog. A deployment sets them before the process starts; a test that sets them later must
    make pyiceberg read them again."""
    import pyiceberg.catalog
    from pyiceberg.utils.config import Config

    pyiceberg.catalog._ENV_CONFIG = Config()  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def prod_env(s3_profile: S3Profile, tmp_path: Path) -> Iterator[dict[str, str]]:
    """os.environ pointed at the profile (and a private FIDC_HOME) for one test."""
    with patched_environ({**s3_profile.env, "FIDC_HOME": str(tmp_path / "home")}) as env:
        yield env


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    root = traversable_tmp_dir("fidc-prod-redis-")
    server = RedisServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def prod_pg():
    """The profile's PostgreSQL (the project's embedded server, its own for the prod tests: a fault test
    restarts it): Dagster's storage, the hot marts and the Iceberg SQL catalog, one database each per case."""
    from fidc_assets.lib.hot.dsn import embedded_server
    from tests.prod.distributed import PgServer

    root = traversable_tmp_dir("fidc-prod-pg-")
    server = embedded_server(root / "pg")
    try:
        yield PgServer(server, server.start())
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
