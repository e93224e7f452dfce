"""Benchmarks (not tests: nothing here asserts timings). See bench/README.md."""
