"""All I/O of the case workflow: thin, idempotent adapters around the case store.

Each activity writes its timeline entry in the same transaction as its effect; a retry finds
the entry and changes nothing, so no step happens twice.
"""
