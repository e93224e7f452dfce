"""Great Expectations 1.x on the canonical rows, called directly (dagster-ge only supports GX < 1.0).

The context root is a parameter (the settings' FIDC_GX_ROOT, by default the repository's `great_expectations/`
folder): the suite and the pandas data source are committed there, so a validation reads configuration and
writes nothing to the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from fidc_assets.lib.lake.gx_runs import WHOLE_DATAFRAME, gx_context, replace_suite

DATASOURCE = "fidc_lake"
SUITE_RECEIVABLE_POSITIONS = "receivable_positions_canonical"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None


@dataclass(frozen=True)
class ValidationSummary:
    suite: str
    success: bool
    rows: int
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)


def _batch_definition(context, asset_name: str):
    source = context.data_sources.get(DATASOURCE)
    asset = source.get_asset(asset_name)
    return asset.get_batch_definition(WHOLE_DATAFRAME)


def _to_pandas(rows: pa.Table):
    # GX compares numbers: decimals become floats here (sanity checks, not money arithmetic).
    cast = rows
    for i, field in enumerate(rows.schema):
        if pa.types.is_decimal(field.type):
            cast = cast.set_column(i, field.name, rows[field.name].cast(pa.float64()))
    return cast.to_pandas()


def validate_receivable_positions(rows: pa.Table, root: Path) -> ValidationSummary:
    """Run suite `receivable_positions_canonical` of the GX context at `root` on the rows."""
    context = gx_context(root)
    suite = context.suites.get(SUITE_RECEIVABLE_POSITIONS)
    batch = _batch_definition(context, "receivable_positions").get_batch(
        batch_parameters={"dataframe": _to_pandas(rows)}
    )
    result = batch.validate(suite, result_format="SUMMARY")
    outcomes = tuple(
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=(r.result or {}).get("unexpected_count"),
        )
        for r in result.results
    )
    return ValidationSummary(SUITE_RECEIVABLE_POSITIONS, bool(result.success), rows.num_rows, outcomes)


def build_context_config(root: Path) -> None:
    """(Re)create the committed data source and suite. Run by a developer when the suite changes."""
    import great_expectations as gx

    # GX's documented names, re-exported without __all__: pyright reads them as private imports
    from great_expectations.expectations import (
        ExpectColumnPairValuesAToBeGreaterThanB,  # pyright: ignore[reportPrivateImportUsage]
        ExpectColumnValuesToBeBetween,  # pyright: ignore[reportPrivateImportUsage]
        ExpectColumnValuesToMatchRegex,  # pyright: ignore[reportPrivateImportUsage]
        ExpectColumnValuesToNotBeNull,  # pyright: ignore[reportPrivateImportUsage]
        ExpectCompoundColumnsToBeUnique,  # pyright: ignore[reportPrivateImportUsage]
    )

    context = gx_context(root)
    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    if "receivable_positions" not in [a.name for a in source.assets]:
        source.add_dataframe_asset("receivable_positions").add_batch_definition_whole_dataframe(WHOLE_DATAFRAME)
    suite = gx.ExpectationSuite(name=SUITE_RECEIVABLE_POSITIONS)
    for column in (
        "fund_cnpj",
        "custodian_id",
        "reference_date",
        "receivable_id",
        "cedente_doc",
        "asset_type",
        "due_date",
        "nominal_value",
        "present_value",
        "currency",
        "source_file_sha256",
        "source_line",
    ):
        suite.add_expectation(ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(ExpectColumnValuesToMatchRegex(column="fund_cnpj", regex=r"^\d{14}$"))
    suite.add_expectation(ExpectColumnValuesToMatchRegex(column="cedente_doc", regex=r"^(?:\d{11}|\d{14})$"))
    suite.add_expectation(ExpectColumnValuesToMatchRegex(column="currency", regex=r"^[A-Z]{3}$"))
    for column in ("nominal_value", "present_value", "acquisition_value", "pdd_value"):
        suite.add_expectation(ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add_expectation(
        ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="present_value", column_B="pdd_value", or_equal=True, ignore_row_if="either_value_is_missing"
        )
    )
    # the key is unique per source: in the shadow period the legacy's migrated rows and the custodian files'
    # hold the same receivables side by side (docs/legacy.md, cutover and shadow mode)
    suite.add_expectation(
        ExpectCompoundColumnsToBeUnique(
            column_list=["fund_cnpj", "custodian_id", "reference_date", "cedente_doc", "receivable_id", "source"]
        )
    )
    replace_suite(context, suite)
