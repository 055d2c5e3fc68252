"""Developer scripts run from the repository root (``.venv/bin/python -m scripts.<name>``)."""
