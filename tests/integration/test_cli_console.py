"""`fidc-lake` on a real console: a state dir the embedded server cannot use is one line, and the demo's
output is its own progress and summary, without library warnings.

The demo runs as a child process (`python -m fidc_assets.cli`), as a person types it: in-process, pytest
would record the warnings instead of letting them reach the console, and the test could not fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fidc_assets.cli import main
from fidc_assets.lib.hot.embedded.server import EmbeddedPostgres
from tests.conftest import traversable_tmp_dir

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another OS user, who must traverse")
def test_a_fidc_home_the_server_user_cannot_traverse_is_one_line(monkeypatch, capsys):
    scratch = traversable_tmp_dir("fidc-cli-test-")
    private = scratch / "private"
    private.mkdir(mode=0o700)  # owned by root: the server's OS user cannot enter it
    try:
        monkeypatch.delenv("FIDC_PG_DSN", raising=False)
        monkeypatch.setenv("FIDC_HOME", str(private / "fidc"))
        assert main(["db", "start"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert re.fullmatch(
            rf"fidc-lake: error: directory {private} \(mode drwx------, owner uid 0\) is not traversable by OS "
            rf"user '[^']+' \(uid \d+\), which runs PostgreSQL because this process is root; it is needed to "
            rf"reach the PostgreSQL state dir {private}/fidc/pg\. Fix: set FIDC_HOME to a directory under a "
            rf"world-traversable path .*`chmod o\+x {private}`\n",
            err,
        ), err
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.slow
def test_the_demo_console_is_its_own_progress_and_summary():
    """`fidc-lake demo` on a small sample (2 funds × 2 days: the same two runs as `make demo`, dbt included)."""
    home = traversable_tmp_dir("fidc-demo-test-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIDC_", "DAGSTER_")) and k != "PYTHONWARNINGS"}
    env["FIDC_HOME"] = str(home)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fidc_assets.cli", "demo", "--funds", "2", "--days", "2"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=1200,
        )
    finally:
        EmbeddedPostgres(home / "pg").stop()
    try:
        console = proc.stdout
        lines = console.splitlines()
        assert proc.returncode == 0, console
        assert len(lines) < 60, console
        assert not [line for line in lines if "Warning" in line or "Traceback" in line], console
        for expected in (
            r"generating the sample \(seed 42, 2 funds, 2 business days\) …",
            r"ingest run [0-9a-f-]{36}: SUCCESS \(\d+ s\)",
            r"marts run [0-9a-f-]{36}: SUCCESS \(\d+ s\)",
            r"dbt build: Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=\d+",
            r"ground truth        4/4 fund-days equal to the centavo",
        ):
            assert re.search(rf"^{expected}$", console, re.MULTILINE), f"{expected!r} not in:\n{console}"
        assert "START sql" not in console  # dbt's per-model lines went to its log
        assert "START sql" in (home / "logs" / "demo-dbt.log").read_text(encoding="utf-8")
    finally:
        shutil.rmtree(home, ignore_errors=True)
