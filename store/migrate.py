"""Apply the SQL files in ``store/migrations`` in order, each once, each in a transaction.

Several processes may start at once (any number of API and worker processes, or the
``migrate`` role of a deployment): the advisory lock is taken before anything else, the
bookkeeping table included, so one migrates and the others wait and then find nothing to do.
Each applied file's sha256 is recorded; a file that changed after it was applied is refused
(:class:`MigrationChanged`) before anything is applied, since the database holds what the old
text did and the new text would never run. Files applied before checksums were recorded get
the checksum of the text found at their next start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from store.db import Connection

_LOCK_KEY = 7_720_240  # advisory lock: two processes starting at once migrate one after another


class MigrationChanged(RuntimeError):
    """An applied migration file is not the text that was applied: restore it, and put the
    change into a new file."""

    def __init__(self, versions: list[str]) -> None:
        super().__init__(
            "changed after they were applied: "
            + ", ".join(f"store/migrations/{version}.sql" for version in versions)
            + " (restore them; a change to the schema goes into a new file)"
        )
        self.versions = versions


@dataclass(frozen=True)
class MigrationFile:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    """Where the database stands against this code's migration files."""

    pending: list[str]  # files not applied yet
    changed: list[str]  # applied, but the file differs now
    unknown: list[str]  # applied, but this code has no such file (a newer release migrated)

    @property
    def current(self) -> bool:
        return not self.pending and not self.changed


def migration_files() -> list[MigrationFile]:
    folder = Path(__file__).parent / "migrations"
    return [
        MigrationFile(path.stem, path.read_text("utf-8")) for path in sorted(folder.glob("*.sql"))
    ]


_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"
)


async def _bookkeeping_current(connection: Connection) -> bool:
    found: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'schema_migrations' AND column_name = 'checksum'"
        " AND table_schema = current_schema())"
    )
    return found


async def _recorded(connection: Connection) -> dict[str, str | None]:
    rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


def _compare(recorded: dict[str, str | None], files: list[MigrationFile]) -> MigrationState:
    known = {file.version for file in files}
    return MigrationState(
        pending=[file.version for file in files if file.version not in recorded],
        changed=[
            file.version
            for file in files
            if (applied := recorded.get(file.version)) is not None and applied != file.checksum
        ],
        unknown=sorted(set(recorded) - known),
    )


async def apply_migrations(pool: asyncpg.Pool) -> list[str]:
    """Bring the schema up to date; returns the versions applied now. Refuses, applying
    nothing, when an applied file has changed (:class:`MigrationChanged`)."""
    files = migration_files()
    applied_now: list[str] = []
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            # Only when needed: a role that owns nothing (the application's, in production)
            # may then still find all applied without a refusal for DDL it did not need.
            if not await _bookkeeping_current(connection):
                await connection.execute(_BOOKKEEPING)
            recorded = await _recorded(connection)
            state = _compare(recorded, files)
            if state.changed:
                raise MigrationChanged(state.changed)
            for file in files:
                if file.version in recorded:
                    if recorded[file.version] is None:
                        await connection.execute(
                            "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                            file.version,
                            file.checksum,
                        )
                    continue
                async with connection.transaction():
                    await connection.execute(file.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                        file.version,
                        file.checksum,
                    )
                applied_now.append(file.version)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migration_state(pool: asyncpg.Pool) -> MigrationState:
    """Pending and changed files, without applying anything (readiness asks this)."""
    async with pool.acquire() as connection:
        exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not exists:
            return MigrationState([f.version for f in migration_files()], [], [])
        return _compare(await _recorded(connection), migration_files())
