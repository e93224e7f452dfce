"""The canonical model: one definition per entity, from which the Iceberg and Arrow schemas derive.

Every canonical table carries lineage columns (`source`, `source_file_sha256`, `source_line`,
`ingested_at`) so any row in the lake, or in a mart, can be traced back to the byte range it came from.
Money is decimal(18,2) with an ISO 4217 `currency` beside it; documents are digits only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyarrow as pa
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform, MonthTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

NAMESPACE = "lake"

MONEY = DecimalType(18, 2)
RATE = DecimalType(18, 6)


@dataclass(frozen=True)
class Field:
    name: str
    type: IcebergType
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Entity:
    """A canonical table: its fields, business key, and the date that partitions it."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    partition_date: str | None
    doc: str

    @property
    def table_name(self) -> str:
        return f"{NAMESPACE}.{self.name}"

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


LINEAGE = (
    Field("file_date", DateType(), True, "business date of the delivery (from the file name or header)"),
    Field("source", StringType(), True, "custodian_file | legacy"),
    Field("source_file_sha256", StringType(), True, "sha256 of the received file (or legacy batch id)"),
    Field("source_line", LongType(), True, "1-based physical line of the row in the source file"),
    Field("ingested_at", TimestamptzType(), True, "when this row was written to the lake"),
)

RECEIVABLE_POSITIONS = Entity(
    name="receivable_positions",
    doc="Daily stock snapshot: every receivable a fund holds at the end of a business day.",
    key=("fund_cnpj", "custodian_id", "reference_date", "cedente_doc", "receivable_id"),
    partition_date="reference_date",
    fields=(
        Field("fund_cnpj", StringType(), True, "fund CNPJ, 14 digits"),
        Field("custodian_id", StringType(), True, "custodian spec id"),
        Field("reference_date", DateType(), True, "business day of the snapshot"),
        Field("receivable_id", StringType(), True, "seu número: unique per cedente"),
        Field("document_number", StringType()),
        Field("asset_type", StringType(), True, "code from the asset type registry"),
        Field("originator_doc", StringType()),
        Field("originator_name", StringType()),
        Field("cedente_doc", StringType(), True, "CPF/CNPJ digits"),
        Field("cedente_name", StringType()),
        Field("sacado_doc", StringType(), False, "CPF/CNPJ digits"),
        Field("sacado_name", StringType()),
        Field("issue_date", DateType()),
        Field("acquisition_date", DateType()),
        Field("due_date", DateType(), True, "original due date"),
        Field("adjusted_due_date", DateType(), False, "due date moved to a business day"),
        Field("nominal_value", MONEY, True),
        Field("acquisition_value", MONEY),
        Field("present_value", MONEY, True),
        Field("pdd_value", MONEY),
        Field("currency", StringType(), True, "ISO 4217"),
        Field("risk_rating", StringType(), False, "CMN 2682 AA..H when the custodian sends it"),
        Field("custodian_pdd_bucket", StringType(), False, "the fund's own PDD bucket as sent"),
        Field("status", StringType()),
        Field("coobligation", BooleanType()),
        Field("cession_rate", RATE, False, "% per month"),
        Field("receivable_rate", RATE, False, "% per month"),
        Field("term_days", IntegerType(), False, "days to due date as sent"),
        *LINEAGE,
    ),
)

FILE_REGISTRY = Entity(
    name="file_registry",
    doc="One row per received file: what arrived, where its bytes are, and what became of it.",
    key=("sha256",),
    partition_date=None,
    fields=(
        Field("sha256", StringType(), True),
        Field("custodian_id", StringType()),
        Field("entity", StringType()),
        Field("fund_cnpj", StringType()),
        Field("reference_date", DateType()),
        Field("original_name", StringType(), True),
        Field("size_bytes", LongType(), True),
        Field("received_at", TimestamptzType(), True),
        Field("archive_uri", StringType(), True),
        Field("status", StringType(), True, "received | accepted | quarantined | superseded"),
        Field("rows_accepted", LongType()),
        Field("rows_rejected", LongType()),
        Field("control_totals", StringType(), False, "JSON: sums computed while parsing"),
        Field("error", StringType(), False, "why the whole file was quarantined"),
        Field("processed_at", TimestamptzType()),
    ),
)

QUARANTINE = Entity(
    name="quarantine",
    doc="Rejected rows (line set) and rejected files (line null), with a reason an analyst understands.",
    key=("source_file_sha256", "line_number"),
    partition_date=None,
    fields=(
        Field("source_file_sha256", StringType(), True),
        Field("custodian_id", StringType()),
        Field("entity", StringType()),
        Field("fund_cnpj", StringType()),
        Field("reference_date", DateType()),
        Field("file_name", StringType(), True),
        Field("line_number", LongType(), False, "null when the whole file is rejected"),
        Field("field", StringType()),
        Field("reason_code", StringType(), True),
        Field("message", StringType(), True),
        Field("raw_text", StringType()),
        Field("quarantined_at", TimestamptzType(), True),
    ),
)

ACQUISITIONS = Entity(
    name="acquisitions",
    doc="Cessões: receivables the fund bought, one row per receivable per acquisition.",
    key=("fund_cnpj", "custodian_id", "event_date", "cedente_doc", "receivable_id"),
    partition_date="event_date",
    fields=(
        Field("fund_cnpj", StringType(), True, "fund CNPJ, 14 digits"),
        Field("custodian_id", StringType(), True),
        Field("event_date", DateType(), True, "acquisition (cession) date"),
        Field("receivable_id", StringType(), True, "seu número / participant control number"),
        Field("document_number", StringType()),
        Field("asset_type", StringType(), True),
        Field("cedente_doc", StringType(), True),
        Field("cedente_name", StringType()),
        Field("sacado_doc", StringType()),
        Field("sacado_name", StringType()),
        Field("issue_date", DateType()),
        Field("due_date", DateType(), True),
        Field("nominal_value", MONEY, True, "face value"),
        Field("acquisition_value", MONEY, True, "price paid"),
        Field("currency", StringType(), True),
        Field("cession_rate", RATE, False, "% per month"),
        Field("coobligation", BooleanType()),
        Field("occurrence_code", StringType(), False, "CNAB occurrence as sent"),
        *LINEAGE,
    ),
)

SETTLEMENTS = Entity(
    name="settlements",
    doc="Liquidações, pagamentos parciais, recompras e baixas: money (or loss) closing a receivable.",
    key=("fund_cnpj", "custodian_id", "event_date", "cedente_doc", "receivable_id", "kind"),
    partition_date="event_date",
    fields=(
        Field("fund_cnpj", StringType(), True),
        Field("custodian_id", StringType(), True),
        Field("event_date", DateType(), True),
        Field("receivable_id", StringType(), True),
        Field("document_number", StringType()),
        Field("cedente_doc", StringType(), True),
        Field("sacado_doc", StringType()),
        Field("kind", StringType(), True, "liquidacao | liquidacao_parcial | recompra | baixa"),
        Field("amount_paid", MONEY, True),
        Field("adjustment", MONEY, False, "interest/discount on payment; may be negative"),
        Field("nominal_value", MONEY),
        Field("currency", StringType(), True),
        Field("status", StringType()),
        Field("occurrence_code", StringType()),
        *LINEAGE,
    ),
)

FUND_QUOTAS = Entity(
    name="fund_quotas",
    doc="Quotas and net assets (PL) per fund, day and class (senior, mezanino, subordinada).",
    key=("fund_cnpj", "custodian_id", "reference_date", "quota_class", "series"),
    partition_date="reference_date",
    fields=(
        Field("fund_cnpj", StringType(), True),
        Field("custodian_id", StringType(), True),
        Field("reference_date", DateType(), True),
        Field("quota_class", StringType(), True, "senior | mezanino | subordinada"),
        Field("series", StringType(), True),
        Field("quota_count", DecimalType(24, 8), True),
        Field("quota_value", DecimalType(24, 8), True),
        Field("net_assets", MONEY, True, "PL of the class"),
        Field("currency", StringType(), True),
        *LINEAGE,
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (RECEIVABLE_POSITIONS, ACQUISITIONS, SETTLEMENTS, FUND_QUOTAS, FILE_REGISTRY, QUARANTINE)
}
#: Entities a custodian file can be mapped to.
INGESTIBLE = ("receivable_positions", "acquisitions", "settlements", "fund_quotas")


@cache
def iceberg_schema(entity: Entity) -> Schema:
    return Schema(
        *(
            NestedField(field_id=i, name=f.name, field_type=f.type, required=f.required, doc=f.doc or None)
            for i, f in enumerate(entity.fields, start=1)
        )
    )


@cache
def arrow_schema(entity: Entity) -> pa.Schema:
    return iceberg_schema(entity).as_arrow()


#: The column every lake table is also partitioned by: one fund's writes never touch another fund's files.
PARTITION_FUND = "fund_cnpj"


def partition_spec(entity: Entity) -> PartitionSpec:
    """Month of the business date × fund.

    By month, a year of daily files lands in 12 partitions per fund, not 250 tiny ones. By fund, the landings
    of different fund-days of one month (concurrent runs) write disjoint data files, so Iceberg's conflict
    validation of one does not trip over the other's (see DESIGN.md, "Concurrency in the lake"). The registry
    and the quarantine have no business date and are partitioned by fund only."""
    fields = []
    if entity.partition_date is not None:
        source_id = entity.field_names.index(entity.partition_date) + 1
        fields.append(
            PartitionField(
                source_id=source_id, field_id=1000, transform=MonthTransform(), name=f"{entity.partition_date}_month"
            )
        )
    if PARTITION_FUND in entity.field_names:
        source_id = entity.field_names.index(PARTITION_FUND) + 1
        fields.append(
            PartitionField(
                source_id=source_id, field_id=1000 + len(fields), transform=IdentityTransform(), name=PARTITION_FUND
            )
        )
    return PartitionSpec(*fields) if fields else UNPARTITIONED_PARTITION_SPEC
