"""Throughput scripts; their figures are recorded in BENCHMARKS.md."""
