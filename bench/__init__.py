"""Benchmarks that print their figures.

``python -m bench.lifecycle``: full case lifecycles through the case service, against a
trivial workflow of the same Temporal shape on the same server (the ratio is the figure).
``python -m bench.intake``: many new-case events through the HTTP API, with re-sent
duplicates; counts cases opened, lost, duplicated and errors.
"""
