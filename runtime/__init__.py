"""The composition root: process entry, worker wiring, the app factory, the embedded servers and
the Art. 30 generator. Nothing imports it but the entry points (worker.py, commands/), bench/
and tests/."""
