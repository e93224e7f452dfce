"""What the PostgreSQL benchmarks share: a private embedded server and the code revision they measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"


def private_server(name: str):
    """An embedded PostgreSQL under `bench/out/<name>` (directories traversable by the unprivileged user the
    server runs as under root); returns the server, started, and its DSN."""
    from fidc_assets.lib.hot.embedded import EmbeddedPostgres

    root = OUT_DIR / name
    root.mkdir(parents=True, exist_ok=True)
    for d in (OUT_DIR, root):
        d.chmod(0o755)
    server = EmbeddedPostgres(root)
    return server, server.start()


def git_revision() -> str:
    """The short commit the benchmark ran on (empty outside a checkout)."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH_DIR)
    return out.stdout.strip()
