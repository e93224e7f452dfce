"""The ingestion engine against a bare-pyarrow baseline (being split by concern: this commit only moves it)."""

from bench.ingest.inputs import _engine, _engine_setup, main

__all__ = ["_engine", "_engine_setup", "main"]
