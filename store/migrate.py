"""Apply the SQL files in ``store/migrations`` in order, each once, each in a transaction."""

from __future__ import annotations

from pathlib import Path

import asyncpg

_LOCK_KEY = 7_720_240  # advisory lock: two processes starting at once migrate one after another


def migration_files() -> list[tuple[str, str]]:
    folder = Path(__file__).parent / "migrations"
    return [(path.stem, path.read_text("utf-8")) for path in sorted(folder.glob("*.sql"))]


async def apply_migrations(pool: asyncpg.Pool) -> list[str]:
    """Bring the schema up to date; returns the versions applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as connection:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            done = {
                row["version"]
                for row in await connection.fetch("SELECT version FROM schema_migrations")
            }
            for version, sql in migration_files():
                if version in done:
                    continue
                async with connection.transaction():
                    await connection.execute(sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied_now.append(version)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
