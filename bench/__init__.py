"""Benchmarks that print their figures: ``python -m bench.lifecycle`` and ``python -m bench.intake``."""
