"""Other engines on the lake: DuckDB and Polars read the Iceberg tables pyiceberg writes, on local disk or S3.

Recipes, not a query layer: each engine reads the table's *current metadata file* as pyiceberg resolved it
through the catalog (SQL or REST), so the three engines see the same snapshot, and no engine needs its own
catalog configuration.

- DuckDB (`duckdb_connect`): the iceberg, httpfs and avro extensions are loaded BY PATH from the
  `duckdb-extension-*` wheels (the `engines` extra), with `autoinstall_known_extensions` and
  `autoload_known_extensions` off, so DuckDB never downloads an extension (a pod without internet works).
  S3 credentials go into a DuckDB secret built from the catalog's `s3.*` properties.
- Polars (`polars_scan`): `pl.scan_iceberg` on the pyiceberg table with explicit `storage_options` for S3
  (endpoint, keys, region, path style, plain http allowed for a local endpoint).

duckdb and polars are optional dependencies, imported inside the functions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow.compute as pc
from pyiceberg.table import Table

if TYPE_CHECKING:
    import duckdb
    import polars as pl

#: Loaded in this order: iceberg needs httpfs (S3) and avro (manifests).
DUCKDB_EXTENSIONS = ("httpfs", "avro", "iceberg")
#: Money columns compared across engines by the tests and by `totals`.
MONEY_COLUMNS = ("nominal_value", "present_value")


class EngineError(RuntimeError):
    """An engine cannot be set up (a missing extension wheel, a version mismatch); the message says which."""


@dataclass(frozen=True)
class S3Options:
    """Where and how to reach S3, taken from the catalog's pyiceberg `s3.*` properties."""

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    path_style: bool = False

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> S3Options:
        return cls(
            endpoint=props.get("s3.endpoint") or None,
            access_key_id=props.get("s3.access-key-id") or None,
            secret_access_key=props.get("s3.secret-access-key") or None,
            session_token=props.get("s3.session-token") or None,
            region=props.get("s3.region") or props.get("client.region") or None,
            path_style=str(props.get("s3.path-style-access", "false")).lower() == "true",
        )

    def polars_storage_options(self) -> dict[str, str]:
        """object_store's keys, as Polars' native Iceberg reader expects them."""
        opts: dict[str, str] = {}
        if self.endpoint:
            opts["aws_endpoint_url"] = self.endpoint
            if self.endpoint.startswith("http://"):
                opts["aws_allow_http"] = "true"
        if self.access_key_id:
            opts["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key:
            opts["aws_secret_access_key"] = self.secret_access_key
        if self.session_token:
            opts["aws_session_token"] = self.session_token
        if self.region:
            opts["aws_region"] = self.region
        if self.path_style:
            opts["aws_virtual_hosted_style_request"] = "false"
        return opts

    def duckdb_secret_sql(self, name: str = "fidc_s3") -> str:
        """CREATE SECRET for DuckDB's httpfs (values are quoted; nothing else is interpolated)."""
        parts = ["TYPE s3"]
        if self.access_key_id:
            parts.append(f"KEY_ID {_sql_str(self.access_key_id)}")
        if self.secret_access_key:
            parts.append(f"SECRET {_sql_str(self.secret_access_key)}")
        if self.session_token:
            parts.append(f"SESSION_TOKEN {_sql_str(self.session_token)}")
        if self.region:
            parts.append(f"REGION {_sql_str(self.region)}")
        if self.endpoint:
            url = urlparse(self.endpoint)
            parts.append(f"ENDPOINT {_sql_str(url.netloc or url.path)}")
            parts.append(f"USE_SSL {'false' if url.scheme == 'http' else 'true'}")
        if self.path_style:
            parts.append("URL_STYLE 'path'")
        return f"CREATE OR REPLACE SECRET {name} ({', '.join(parts)})"


@dataclass(frozen=True)
class Totals:
    rows: int
    sums: dict[str, Decimal]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_extension_paths() -> dict[str, Path]:
    """The .duckdb_extension file of each needed extension, from its pip wheel, for the installed DuckDB."""
    import duckdb

    version = f"v{duckdb.__version__}"
    paths: dict[str, Path] = {}
    for name in DUCKDB_EXTENSIONS:
        spec = importlib.util.find_spec(f"duckdb_extension_{name}")
        if spec is None or spec.origin is None:
            raise EngineError(f"DuckDB extension {name!r}: the duckdb-extension-{name} wheel is not installed")
        candidates = sorted(Path(spec.origin).parent.glob(f"extensions/*/{name}.duckdb_extension"))
        exact = [p for p in candidates if p.parent.name == version]
        if not exact:
            found = [p.parent.name for p in candidates]
            raise EngineError(f"DuckDB extension {name!r}: built for {found}, but DuckDB is {version}")
        paths[name] = exact[0]
    return paths


def duckdb_connect(s3: S3Options | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with iceberg/httpfs/avro loaded from the wheels; never downloads anything."""
    import duckdb

    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    for path in duckdb_extension_paths().values():
        con.execute(f"LOAD {_sql_str(str(path))}")
    if s3 is not None:
        con.execute(s3.duckdb_secret_sql())
    return con


def duckdb_relation(con: duckdb.DuckDBPyConnection, table: Table) -> duckdb.DuckDBPyRelation:
    """The table's current snapshot, by its metadata file (the one pyiceberg's catalog points at)."""
    return con.sql(f"SELECT * FROM iceberg_scan({_sql_str(table.metadata_location)})")


def polars_scan(table: Table, s3: S3Options | None = None) -> pl.LazyFrame:
    import polars as pl

    options = s3.polars_storage_options() if s3 is not None else None
    return pl.scan_iceberg(table, storage_options=options or None)


def s3_options_for(table: Table) -> S3Options | None:
    """S3 options for a table on S3 (from its FileIO properties: catalog config and PYICEBERG_* env), else None."""
    if not table.metadata_location.startswith(("s3://", "s3a://")):
        return None
    return S3Options.from_properties(table.io.properties)


def pyiceberg_totals(table: Table, columns: tuple[str, ...] = MONEY_COLUMNS) -> Totals:
    data = table.scan(selected_fields=columns).to_arrow()
    sums: dict[str, Decimal] = {}
    for c in columns:
        value: Any = pc.sum(data[c]).as_py()  # pyright: ignore[reportAttributeAccessIssue]  (pyarrow-stubs lack it)
        sums[c] = Decimal(value or 0)
    return Totals(data.num_rows, sums)


def duckdb_totals(table: Table, columns: tuple[str, ...] = MONEY_COLUMNS) -> Totals:
    con = duckdb_connect(s3_options_for(table))
    try:
        rel = duckdb_relation(con, table)
        select = ", ".join(["count(*)", *(f"coalesce(sum({c}), 0)" for c in columns)])
        row = rel.aggregate(select).fetchone()
        assert row is not None
        return Totals(int(row[0]), {c: Decimal(row[i + 1]) for i, c in enumerate(columns)})
    finally:
        con.close()


def polars_totals(table: Table, columns: tuple[str, ...] = MONEY_COLUMNS) -> Totals:
    import polars as pl

    frame = (
        polars_scan(table, s3_options_for(table))
        .select(pl.len().alias("rows"), *(pl.col(c).sum() for c in columns))
        .collect()
    )
    row = frame.row(0, named=True)
    return Totals(int(row["rows"]), {c: Decimal(row[c] or 0) for c in columns})
