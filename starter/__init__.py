"""Command-line client of the HTTP API (``python -m starter``): send status events, keep the
partner directory. It speaks HTTP only, so it works against any deployment and never sees
more than the API shows."""
