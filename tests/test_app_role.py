"""The application's database role (store/migrations/033_application_role.sql).

In a deployment the API and the worker connect as a login role in ``case_app``, which owns
nothing: it may read and write rows, but neither alter the audit log nor switch off its
append-only trigger, and it may only append to it. Every test here connects as such a role on
a real, migrated PostgreSQL database; the module's ``pool`` fixture is that role's, so the
service fixtures (``http``, ``ki``: the API and a worker) run as it too.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from store.db import open_pool
from store.migrate import apply_migrations, migration_state
from tests.test_api import V1, to_follow_up
from tests.test_audit import append, draft, verify

APP_ROLE = "case_app"


def _as(dsn: str, user: str, password: str) -> str:
    """``dsn`` with another user (socket or TCP alike; the password for servers that ask)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password)}@{host}"))


@pytest.fixture
async def app_dsn(dsn: str) -> AsyncIterator[str]:
    """A login role of this test's own, member of ``case_app`` and of nothing else."""
    role = f"t_app_{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(16)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE {APP_ROLE}")
    finally:
        await admin.close()
    try:
        yield _as(dsn, role, password)
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            # The test's connections are closed by now; its database is dropped after this.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
            )
            await admin.execute(f"DROP ROLE {role}")
        finally:
            await admin.close()


@pytest.fixture
async def pool(app_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """The service's pool, as the application role (overrides tests/conftest.py's)."""
    async with open_pool(app_dsn) as pool:
        yield pool


async def test_the_application_role_can_neither_alter_nor_switch_off_the_audit_log(
    pool: asyncpg.Pool,
) -> None:
    assert await pool.fetchval("SELECT current_user") != "postgres"
    await append(pool, draft(1))
    refused = [
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "ALTER TABLE audit_log ADD COLUMN note text",
        "DROP TABLE audit_log",
        "UPDATE audit_log SET actor = 'jemand'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE report_facts SET town = 'Unna'",
        "DELETE FROM report_facts",
        "CREATE TABLE schattenlog (x int)",
        "SET session_replication_role = replica",  # would skip every trigger
        "INSERT INTO schema_migrations (version) VALUES ('999_eigenes')",
    ]
    for statement in refused:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(statement)
    # The entry is still there, the chain still whole.
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 1
    assert (await verify(pool)).ok


async def test_every_table_but_the_append_only_ones_is_fully_usable_by_the_application(
    pool: asyncpg.Pool,
) -> None:
    """Also the tables later migrations add: the default privileges grant them."""
    rows = await pool.fetch(
        "SELECT tablename,"
        " has_table_privilege(current_user, tablename::regclass, 'SELECT') AS s,"
        " has_table_privilege(current_user, tablename::regclass, 'INSERT') AS i,"
        " has_table_privilege(current_user, tablename::regclass, 'UPDATE') AS u,"
        " has_table_privilege(current_user, tablename::regclass, 'DELETE') AS d,"
        " has_table_privilege(current_user, tablename::regclass, 'TRUNCATE') AS t,"
        " has_table_privilege(current_user, tablename::regclass, 'TRIGGER') AS tr"
        " FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    rights = {row["tablename"]: (row["s"], row["i"], row["u"], row["d"]) for row in rows}
    assert len(rights) > 30
    assert rights.pop("audit_log") == (True, True, False, False)
    assert rights.pop("report_facts") == (True, True, False, False)
    assert rights.pop("schema_migrations") == (True, False, False, False)
    assert {table: r for table, r in rights.items() if r != (True, True, True, True)} == {}
    assert not any(row["t"] or row["tr"] for row in rows)


async def test_the_application_role_finds_the_schema_current_and_migrates_nothing(
    pool: asyncpg.Pool,
) -> None:
    assert (await migration_state(pool)).current
    assert await apply_migrations(pool) == []  # every role migrates at start by default


async def test_a_case_goes_its_way_with_the_application_role(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Intake, tasks, consent, disclosures, documents, keys, audit: API and worker as the
    application role (the fixtures' pool is this module's)."""
    case_id = await to_follow_up(http, ki)
    case = (await http.get(f"{V1}/cases/{case_id}")).json()
    assert case["stage"] == "follow_up"
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE case_id = $1", case_id) > 0
    assert (await verify(pool)).ok
