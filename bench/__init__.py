"""Benchmarks: measured by hand or in CI, never as timed tests."""
