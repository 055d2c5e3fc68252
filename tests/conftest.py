"""Shared fixtures: real PostgreSQL and real Temporal servers, started only when a test asks.

PostgreSQL: one server per session (embedded, or ``TEST_DATABASE_URL``), the migrations applied
once into a template database, and a fresh copy of it per test (``CREATE DATABASE ... TEMPLATE``
copies files, so it costs milliseconds). Tests never share rows and never mock the database.

Temporal: the time-skipping test server for workflow timing, and the CLI's dev server where
the full server is needed (search attributes, visibility). Both come from wheels in the venv,
so nothing is downloaded at test time. Every fixture is lazy: a test that needs only
PostgreSQL never starts Temporal, and the reverse.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from argon2 import profiles
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from protection.master import KeyRingData
from runtime.embedded import embedded_postgres, venv_binary
from service import accounts
from service.temporal import ensure_search_attributes
from store.db import open_pool
from store.migrate import apply_migrations
from workflows.search_attributes import ALL

pytest_plugins = ["tests.api_clients", "tests.sitekit", "tests.browserkit"]


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    """Passwords hashed with argon2-cffi's cheapest profile in this process: with the service's
    RFC 9106 parameters each account a test makes costs a quarter of a second of CPU (a minute
    of the suite). The processes tests start (the production layout, the CLIs) hash as
    deployed; a stored hash names its parameters, so either verifies the other's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "HASH_PARAMETERS", profiles.CHEAPEST)
        yield


# Every Settings() in the tests encrypts payloads under one master key ring made for this run;
# without it the service's default would write a key file into the project's .data/.
os.environ.setdefault("CASE_MASTER_KEYS", KeyRingData.generate().to_json())
# Likewise the shredding log of the erasures the tests make: a file of this run's own.
os.environ.setdefault(
    "CASE_SHRED_LOG", str(Path(tempfile.mkdtemp(prefix="case-shred-log-")) / "shredded-keys.log")
)

ROOT = Path(__file__).resolve().parent.parent
TEST_PG_DIR = ROOT / ".data" / "test-postgres"
TEMPLATE_DB = "case_template"
# Two pytest runs may share the embedded server (a developer's and an agent's, say): the one
# rebuilding the template holds this advisory lock exclusively, copies hold it shared.
TEMPLATE_LOCK = 7_720_241


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database on the same server (socket or TCP alike)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server_dsn(worker_id: str) -> Iterator[str]:
    """DSN of a server we may create databases on: ``TEST_DATABASE_URL`` or an embedded one.

    Under pytest-xdist each worker process runs a server of its own (``gw0``, ``gw1``, … as
    folders), as it runs Temporal servers of its own: the workers share nothing but the disk.
    """
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    folder = TEST_PG_DIR if worker_id == "master" else TEST_PG_DIR / worker_id
    with embedded_postgres(folder) as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def pg_template(pg_server_dsn: str, worker_id: str) -> str:
    """Name of a database migrated to the current schema, rebuilt every session (one per
    xdist worker, should the workers share an external server).

    Rebuilding (not reusing) means an edited migration file is always picked up.
    """
    template = TEMPLATE_DB if worker_id == "master" else f"{TEMPLATE_DB}_{worker_id}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        await admin.execute(f"DROP DATABASE IF EXISTS {_quote(template)} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {_quote(template)}")
        async with open_pool(with_database(pg_server_dsn, template)) as pool:
            await apply_migrations(pool)
        # The pool is closed here: CREATE DATABASE ... TEMPLATE needs the template unused.
    finally:
        await admin.close()  # releases the lock
    return template


@pytest.fixture
async def dsn(pg_server_dsn: str, pg_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute("SELECT pg_advisory_lock_shared($1)", TEMPLATE_LOCK)
        await admin.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(pg_template)}")
    finally:
        await admin.close()  # releases the lock
    try:
        yield with_database(pg_server_dsn, name)
    finally:
        admin = await asyncpg.connect(pg_server_dsn)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        finally:
            await admin.close()


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """The asyncpg pool the service would use, on this test's own database."""
    async with open_pool(dsn) as pool:
        yield pool


# --- Temporal -----------------------------------------------------------------------------


# The SDK gives a server 5 s to start; on a loaded 2-core machine the dev server with its UI
# took longer once (a setup error in a fresh-clone run), so every test server gets a minute.
SERVER_STARTUP = timedelta(seconds=60)


# One per test module, not per session: once, on a machine under a load of 8, the test server
# stopped answering a time-skipping sleep (RPC "Timeout expired"), and every later test of that
# pytest worker failed with it (24 in one fresh-clone run). A module's own server contains that.
@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server (timers fire as soon as every workflow waits), with our
    search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=SERVER_STARTUP,
    )
    async with env:
        # It has no flag for them; workflows that upsert one would fail their task.
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def dev_metrics_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def dev_metrics_url(dev_env: WorkflowEnvironment, dev_metrics_port: int) -> str:
    """The dev server's Prometheus metrics (the canary test searches their labels)."""
    return f"http://127.0.0.1:{dev_metrics_port}/metrics"


@pytest.fixture(scope="session")
async def dev_env(dev_metrics_port: int) -> AsyncIterator[WorkflowEnvironment]:
    """The full dev server, in memory, with our search attributes registered. Its client has
    no codec: tests see through it what the server stores."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        search_attributes=ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=["--metrics-port", str(dev_metrics_port)],
        dev_server_startup_timeout=SERVER_STARTUP,
    )
    async with env:
        yield env
