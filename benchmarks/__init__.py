"""Benchmark suites (each module exposes ``run(quick=False) -> dict``)."""
