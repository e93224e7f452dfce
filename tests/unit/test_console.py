"""The CLI's quiet console: the libraries' known chatter is filtered by name, nothing else is."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from fidc_assets.cli.console import dbt_outcome, quiet_known_chatter, stdout_to

REPO = Path(__file__).resolve().parents[2]


def _shown(message: str, module: str) -> bool:
    """Whether a warning with this message, raised from `module`, would reach the console."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_known_chatter()
        warnings.warn_explicit(message, UserWarning, "x.py", 1, module=module)
    return bool(seen)


def test_known_warnings_are_filtered_by_message_and_emitting_module():
    beta = "Parameter `backfill_policy` of function `asset` is currently in beta, and may have breaking changes"
    preview = "Specifying a partitions_def on an AssetCheckSpec is currently in preview, and may change"
    assert not _shown(beta, "dagster._core.decorator_utils")
    assert not _shown(preview, "dagster._core.definitions.decorators.asset_check_decorator")
    assert not _shown("Delete operation did not match any records", "pyiceberg.table")
    # the same words from anyone else, or another message from those libraries, still show
    assert _shown(beta, "fidc_assets.defs.ingest.assets")
    assert _shown("Delete operation did not match any records", "fidc_assets.lib.lake.catalog")
    assert _shown("Found asset job named ingest_files", "dagster._core.definitions.definitions_class")
    assert _shown("something new", "pyiceberg.table")


@pytest.mark.slow
def test_building_the_definitions_prints_no_warning_once_filtered():
    """The real warnings of the pinned Dagster, with Python's default filters plus the CLI's: none is left.

    A child process, because Dagster warns while the definition modules are first imported."""
    script = textwrap.dedent(
        """
        import warnings
        from fidc_assets.cli.console import quiet_known_chatter
        quiet_known_chatter()
        with warnings.catch_warnings(record=True) as seen:  # keeps the filters: records what would be shown
            from fidc_assets.definitions import defs
            definitions = defs()
            for job in ("ingest_files", "hot_and_marts"):
                definitions.resolve_job_def(job)
        for w in seen:
            print(f"{w.category.__name__}: {w.message}")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_dagster_dbts_known_observation_notice_is_dropped_and_other_logs_kept():
    quiet_known_chatter()
    quiet_known_chatter()  # idempotent: one filter
    logger = logging.getLogger("dagster.builtin")
    assert len([f for f in logger.filters if type(f).__name__ == "_KnownRecords"]) == 1
    records = _Records()
    logger.addHandler(records)
    try:
        logger.warning(
            "Logging an `AssetObservation` instead of an `AssetCheckResult` for dbt test `x`.\n\nThis test was not "
            "included in Dagster's asset check selection, and was likely executed due to dbt indirect selection."
        )
        logger.warning("dbt test `y` failed")
    finally:
        logger.removeHandler(records)
    assert records.messages == ["dbt test `y` failed"]


def test_dbt_output_goes_to_its_log_and_its_outcome_is_read_back(tmp_path: Path, capsys):
    log = tmp_path / "logs" / "demo-dbt.log"
    with stdout_to(log):
        print("1 of 2 START sql view model staging.stg_x ........ [RUN]")
        print("\x1b[32mCompleted successfully\x1b[0m")
        print("Done. PASS=2 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=2")
    assert capsys.readouterr().out == ""
    assert "staging.stg_x" in log.read_text(encoding="utf-8")
    assert dbt_outcome(log) == "Done. PASS=2 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=2"
    assert dbt_outcome(tmp_path / "missing.log") is None
