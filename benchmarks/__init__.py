"""Benchmarks: measured, never asserted; each writes JSON under benchmarks/results/."""
