"""Deterministic workflow code: no I/O, no clients, no wall clock."""
