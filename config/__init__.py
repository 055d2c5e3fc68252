"""Settings and logging: what every layer may read. It imports nothing of the project but
schemas."""
