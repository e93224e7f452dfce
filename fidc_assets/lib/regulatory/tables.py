"""The lake tables of the CVM report: one Iceberg table per tab (`lake.cvm_tab_<tab>`), partitioned by month
of DT_COMPTC, derived from the tab's spec the way the canonical tables derive from `canonical.Entity`; and
`lake.cvm_publications`, one row per zip landed (its sha256, name, months, archive URI, when)."""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.types import DateType, DecimalType, IntegerType, LongType, StringType, TimestamptzType

from fidc_assets.lib.core.canonical import Entity, Field, arrow_schema
from fidc_assets.lib.regulatory.spec import DECIMAL_TYPES, CvmSpec

IDENTITY_FIELDS = (
    Field("tp_fundo_classe", StringType(), True, "Fundo | Classe (TP_FUNDO_CLASSE; Fundo before the tab's switch)"),
    Field("cnpj_fundo_classe", StringType(), True, "CNPJ_FUNDO_CLASSE (or CNPJ_FUNDO), 14 digits"),
    Field("denom_social", StringType(), False, "DENOM_SOCIAL"),
    Field("dt_comptc", DateType(), True, "DT_COMPTC: the last day of the month reported (partition key)"),
)
LINEAGE_FIELDS = (
    Field("identity_layout", StringType(), True, "current (TP_FUNDO_CLASSE;...) | previous (CNPJ_FUNDO;...)"),
    Field("source_zip_sha256", StringType(), True, "sha256 of the published zip the row came from"),
    Field("source_member", StringType(), True, "the tab file inside the zip"),
    Field("source_line", LongType(), True, "1-based physical line in that file"),
    Field("ingested_at", TimestamptzType(), True, "when the row was written to the lake"),
)

PUBLICATIONS = Entity(
    name="cvm_publications",
    doc="One row per CVM Informe Mensal zip landed: which bytes replaced which months, and when.",
    key=("sha256", "landed_at"),
    partition_date=None,
    fields=(
        Field("sha256", StringType(), True),
        Field("zip_name", StringType(), True),
        Field("first_month", DateType(), True),
        Field("last_month", DateType(), True),
        Field("months_landed", StringType(), True, "YYYY-MM, comma-separated"),
        Field("archive_uri", StringType(), True),
        Field("size_bytes", LongType(), True),
        Field("rows_landed", LongType(), True),
        Field("rows_rejected", LongType(), True),
        Field("landed_at", TimestamptzType(), True),
    ),
)


def _iceberg_type(kind: str):
    if kind in DECIMAL_TYPES:
        return DecimalType(*DECIMAL_TYPES[kind])
    if kind == "integer":
        return IntegerType()
    return StringType()


def tab_entity(spec: CvmSpec, tab: str) -> Entity:
    """The lake table of one tab: identity, the declared columns (lower-cased), lineage."""
    tab_spec = spec.tabs[tab]
    values = tuple(Field(c.lower(), _iceberg_type(k), False, c) for c, k in tab_spec.columns.items())
    return Entity(
        name=tab_spec.table,
        doc=f"CVM Informe Mensal de FIDC, tab {tab}, as published (one row per fund or class and month).",
        key=("cnpj_fundo_classe", "dt_comptc", *(k.lower() for k in tab_spec.key)),
        partition_date="dt_comptc",
        fields=(*IDENTITY_FIELDS, *values, *LINEAGE_FIELDS),
    )


def tab_schema(spec: CvmSpec, tab: str) -> pa.Schema:
    return arrow_schema(tab_entity(spec, tab)).remove_metadata()
