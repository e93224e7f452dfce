"""Great Expectations plumbing the project's suites share (the lake's canonical checks, the legacy recon, the
CVM recon): the file context, a suite replaced by a new version, a suite registered with its validation
definition and Data Docs checkpoint, and a run of either with each failed expectation on one line.
GX is imported inside the functions: importing this module costs nothing at definitions load."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WHOLE_DATAFRAME = "whole_dataframe"


def gx_context(root: Path):
    """The file-backed GX context at `root` (the repository's great_expectations/ or FIDC_GX_ROOT)."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx.get_context(mode="file", context_root_dir=str(root))


def replace_suite(context, suite):
    """Add `suite`, deleting a stored suite of the same name first; returns the stored suite."""
    if suite.name in [s.name for s in context.suites.all()]:
        context.suites.delete(suite.name)
    return context.suites.add(suite)


def register_checkpoint(context, datasource: str, asset: str, suite, validation: str, checkpoint: str) -> None:
    """(Re)create a pandas dataframe asset, `suite`, the validation definition of one with the other, and a
    checkpoint that runs it and updates Data Docs."""
    from great_expectations.checkpoint import UpdateDataDocsAction  # pyright: ignore[reportPrivateImportUsage]

    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas(datasource)
    batch_definition = source.add_dataframe_asset(asset).add_batch_definition_whole_dataframe(WHOLE_DATAFRAME)
    stored = replace_suite(context, suite)
    if validation in [v.name for v in context.validation_definitions.all()]:
        context.validation_definitions.delete(validation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=validation, data=batch_definition, suite=stored)
    )
    if checkpoint in [c.name for c in context.checkpoints.all()]:
        context.checkpoints.delete(checkpoint)
    context.checkpoints.add(
        gx.Checkpoint(
            name=checkpoint,
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format="SUMMARY",
        )
    )


@dataclass(frozen=True)
class CheckpointRun:
    success: bool
    failed: tuple[str, ...]  # "ExpectationType(column): unexpected count", one per failed expectation
    data_docs: str | None  # the Data Docs site, when the checkpoint ran


def run_checkpoint(context, checkpoint: str, validation: str, params: dict[str, Any], data_docs: bool) -> CheckpointRun:
    """Run the checkpoint (it stores the result and updates Data Docs) or, without Data Docs, its validation
    definition alone, with `params` (batch and expectation parameters)."""
    if data_docs:
        result = context.checkpoints.get(checkpoint).run(**params)
        results = [r for vr in result.run_results.values() for r in vr.results]
    else:
        result = context.validation_definitions.get(validation).run(**params)
        results = list(result.results)
    failed = []
    for r in results:
        if not r.success:
            cfg = r.expectation_config
            what = f"{cfg.type}({cfg.kwargs.get('column', '')})" if cfg is not None else "an expectation"
            failed.append(f"{what}: {(r.result or {}).get('unexpected_count')}")
    docs = None
    if data_docs:
        sites = context.get_docs_sites_urls()
        docs = sites[0]["site_url"] if sites else None
    return CheckpointRun(bool(result.success), tuple(failed), docs)
