"""Each service of the production-shaped profile works, and survives the faults a deployment sees: pyiceberg
creates and reads a table through SeaweedFS's Iceberg REST catalog with its data on S3 (OAuth2 and SigV4);
a killed volume server loses nothing (replication 001); a restarted S3 gateway is used again by the same
clients; Redis answers."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog, load_catalog

from tests.prod.conftest import ARCHIVE_BUCKET, TABLE_BUCKET, S3Profile
from tests.prod.services import REGION, RedisServer, SeaweedCluster

pytestmark = pytest.mark.prod


def _catalog(profile: S3Profile, auth: str) -> Catalog:
    c = profile.cluster
    props: dict[str, Any] = {
        "type": "rest",
        "uri": c.iceberg_uri,
        "warehouse": f"s3://{TABLE_BUCKET}",
        "s3.endpoint": c.s3_endpoint,
        "s3.access-key-id": c.access_key,
        "s3.secret-access-key": c.secret_key,
        "s3.region": REGION,
        "s3.path-style-access": "true",
    }
    if auth == "oauth2":
        props["credential"] = f"{c.access_key}:{c.secret_key}"
        props["oauth2-server-uri"] = f"{c.iceberg_uri}/v1/oauth/tokens"
    else:
        props |= {
            "rest.sigv4-enabled": "true",
            "rest.signing-name": "s3tables",
            "rest.signing-region": REGION,
            "client.access-key-id": c.access_key,
            "client.secret-access-key": c.secret_key,
            "client.region": REGION,
        }
    # A private catalog name, so PYICEBERG_CATALOG__FIDC__* in the environment cannot leak in.
    return load_catalog(f"probe_{auth}", **props)


def _rows(n: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + n), pa.int64()), "v": [f"row-{i}" for i in range(n)]})


@pytest.mark.parametrize("auth", ["oauth2", "sigv4"])
def test_rest_catalog_creates_a_table_with_its_data_on_s3_and_reads_it_back(s3_profile, auth):
    catalog = _catalog(s3_profile, auth)
    ns = f"probe_{auth}"
    catalog.create_namespace_if_not_exists(ns)
    table = catalog.create_table(f"{ns}.t_{uuid.uuid4().hex[:8]}", schema=_rows(1).schema)
    table.append(_rows(500))
    table.append(_rows(250, start=500))

    again = _catalog(s3_profile, auth).load_table(table.name())
    got = again.scan().to_arrow()
    assert got.num_rows == 750
    assert got.sort_by("id")["id"].to_pylist() == list(range(750))
    files = again.inspect.files().to_pylist()
    assert len(files) == 2
    assert all(f["file_path"].startswith(f"s3://{TABLE_BUCKET}/") for f in files)
    assert table.metadata_location.startswith(f"s3://{TABLE_BUCKET}/")


def _put_objects(profile: S3Profile, prefix: str, n: int) -> dict[str, str]:
    import boto3

    s3 = boto3.client("s3", **profile.boto3_kwargs())
    digests = {}
    for i in range(n):
        body = os.urandom(20_000 + i * 3_000)  # 20 KB .. ~170 KB, spread over volumes
        key = f"{prefix}/obj-{i:03d}.bin"
        s3.put_object(Bucket=ARCHIVE_BUCKET, Key=key, Body=body)
        digests[key] = hashlib.sha256(body).hexdigest()
    return digests


def _read_objects(profile: S3Profile, keys: list[str]) -> dict[str, str]:
    import boto3

    s3 = boto3.client("s3", **profile.boto3_kwargs())
    return {k: hashlib.sha256(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=k)["Body"].read()).hexdigest() for k in keys}


def test_a_killed_volume_server_loses_nothing_with_replication_001(s3_profile, seaweed: SeaweedCluster):
    digests = _put_objects(s3_profile, f"fault/{uuid.uuid4().hex[:8]}", 40)
    catalog = _catalog(s3_profile, "oauth2")
    catalog.create_namespace_if_not_exists("probe_fault")
    table = catalog.create_table(f"probe_fault.t_{uuid.uuid4().hex[:8]}", schema=_rows(1).schema)
    table.append(_rows(1000))

    # Replication 001: every volume has its second copy on the other server (of the same rack).
    layout = seaweed.volume_layout()
    assert len(layout) == 2
    first, second = layout.values()
    assert first == second and first and all(replicas == 1 for _, _, replicas in first)

    seaweed.stop_volume(0, kill=True)  # kill -9: no clean shutdown
    try:
        assert _read_objects(s3_profile, list(digests)) == digests
        assert _catalog(s3_profile, "oauth2").load_table(table.name()).scan().to_arrow().num_rows == 1000
    finally:
        seaweed.start_volume(0)
        seaweed.wait_writable()
    # Writable again with both copies once the server is back.
    more = _put_objects(s3_profile, f"fault-after/{uuid.uuid4().hex[:8]}", 5)
    assert _read_objects(s3_profile, list(more)) == more


def test_the_s3_gateway_restarted_midway_is_used_again_by_the_same_clients(s3_profile, seaweed: SeaweedCluster):
    import boto3

    s3 = boto3.client("s3", **s3_profile.boto3_kwargs())
    catalog = _catalog(s3_profile, "oauth2")
    catalog.create_namespace_if_not_exists("probe_restart")
    table = catalog.create_table(f"probe_restart.t_{uuid.uuid4().hex[:8]}", schema=_rows(1).schema)
    table.append(_rows(100))
    before = _put_objects(s3_profile, f"restart/{uuid.uuid4().hex[:8]}", 10)

    seaweed.restart_s3()

    # The clients made before the restart go on: boto3 reconnects, pyiceberg's token is still accepted.
    s3.put_object(Bucket=ARCHIVE_BUCKET, Key="restart/after.bin", Body=b"after")
    assert s3.get_object(Bucket=ARCHIVE_BUCKET, Key="restart/after.bin")["Body"].read() == b"after"
    table.append(_rows(50, start=100))
    assert _read_objects(s3_profile, list(before)) == before
    got = catalog.load_table(table.name()).scan().to_arrow()
    assert got.num_rows == 150
    assert len(catalog.load_table(table.name()).snapshots()) == 2


def test_redis_answers_and_keeps_a_value(redis_server: RedisServer):
    assert redis_server.ping()
    assert redis_server.command("SET", "fidc:probe", "42").startswith(b"+OK")
    assert redis_server.command("GET", "fidc:probe") == b"$2\r\n42\r\n"
