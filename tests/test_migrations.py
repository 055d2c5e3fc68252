"""Migrations under several processes (issue 16, point 2): the lock before anything else, a
checksum per applied file, a changed file refused before anything is applied. On an empty
database of a real PostgreSQL each."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from store import migrate
from store.db import open_pool
from store.migrate import MigrationChanged, MigrationFile, apply_migrations, migration_state
from tests.conftest import _quote, with_database


@pytest.fixture
async def empty_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    name = f"m_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"CREATE DATABASE {_quote(name)}")
        yield with_database(pg_server_dsn, name)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        await admin.close()


async def test_processes_starting_at_once_migrate_one_after_another(empty_dsn: str) -> None:
    everything = [file.version for file in migrate.migration_files()]
    async with (
        open_pool(empty_dsn) as one,
        open_pool(empty_dsn) as other,
        open_pool(empty_dsn) as third,
    ):
        assert not (await migration_state(one)).current
        results = await asyncio.gather(*(apply_migrations(p) for p in (one, other, third)))
        # One applied every file, the others waited for it and found nothing left to do.
        assert sorted(results, key=len) == [[], [], everything]
        state = await migration_state(one)
        assert state.current and state.unknown == []
        recorded = await one.fetch("SELECT version, checksum FROM schema_migrations")
        checksums = {file.version: file.checksum for file in migrate.migration_files()}
        assert {row["version"]: row["checksum"] for row in recorded} == checksums


async def test_a_changed_applied_file_is_refused_and_nothing_is_applied(
    empty_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = migrate.migration_files()
    async with open_pool(empty_dsn) as pool:
        monkeypatch.setattr(migrate, "migration_files", lambda: files[:-1])
        await apply_migrations(pool)
        # The first file edited after it was applied, and the last one new: neither runs.
        edited = [MigrationFile(files[0].version, files[0].sql + "\n-- edited\n"), *files[1:]]
        monkeypatch.setattr(migrate, "migration_files", lambda: edited)
        with pytest.raises(MigrationChanged) as refused:
            await apply_migrations(pool)
        assert refused.value.versions == [files[0].version]
        assert f"store/migrations/{files[0].version}.sql" in str(refused.value)
        state = await migration_state(pool)
        assert state.changed == [files[0].version] and state.pending == [files[-1].version]
        assert not state.current
        # Restored, it goes on with the new file.
        monkeypatch.setattr(migrate, "migration_files", lambda: files)
        assert await apply_migrations(pool) == [files[-1].version]


async def test_files_applied_before_checksums_get_theirs_at_the_next_start(
    empty_dsn: str,
) -> None:
    async with open_pool(empty_dsn) as pool:
        await apply_migrations(pool)
        # As a database migrated by the code before: no checksum column.
        await pool.execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
        assert await apply_migrations(pool) == []
        missing = await pool.fetchval(
            "SELECT count(*) FROM schema_migrations WHERE checksum IS NULL"
        )
        assert missing == 0 and (await migration_state(pool)).current


# ------------------------------------------------------- the process, started as deployed


def _process_env(dsn: str, **more: str) -> dict[str, str]:
    """The environment of a deployed process: external servers, no ring unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASE_MASTER_KEY")}
    # Nothing listens there: a process that got as far as Temporal would fail differently.
    return {**env, "DATABASE_URL": dsn, "TEMPORAL_ADDRESS": "127.0.0.1:9", **more}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_process_on_external_servers_without_a_key_ring_refuses_to_start(
    empty_dsn: str,
) -> None:
    for role in ("api", "worker", "all"):
        started = _run(["runtime.main", "--role", role], _process_env(empty_dsn))
        assert started.returncode == 1, started.stderr
        assert "CASE_MASTER_KEY_FILE" in started.stdout + started.stderr
        assert "master key ring generated" not in started.stdout + started.stderr


async def test_the_migrate_role_migrates_and_the_others_can_wait_for_it(
    empty_dsn: str, tmp_path: Path
) -> None:
    ring = tmp_path / "ring" / "master-keys.json"
    made = _run(["commands.keys", "new-ring", "--out", str(ring)], dict(os.environ))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600
    again = _run(["commands.keys", "new-ring", "--out", str(ring)], dict(os.environ))
    assert again.returncode == 1 and "never overwritten" in again.stdout
    env = _process_env(empty_dsn, CASE_MASTER_KEY_FILE=str(ring), CASE_MIGRATE_ON_START="false")
    behind = _run(["runtime.main", "--role", "api"], env)
    assert behind.returncode == 1 and "--role migrate" in behind.stdout + behind.stderr
    migrated = _run(["runtime.main", "--role", "migrate"], _process_env(empty_dsn))
    assert migrated.returncode == 0, migrated.stderr  # needs no ring, no Temporal
    async with open_pool(empty_dsn) as pool:
        assert (await migration_state(pool)).current
