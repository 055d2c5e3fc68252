"""The embedded servers behind ``manage.py run``: they start, keep their data, and stop."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from runtime.embedded import (
    EmbeddedServerError,
    embedded_postgres,
    temporal_dev_server,
    venv_binary,
)
from service.temporal import connect, ensure_search_attributes
from tests.conftest import SERVER_STARTUP
from workflows.search_attributes import ALL


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def custom_search_attributes(client: Client, namespace: str = "default") -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


EXPECTED = {key.name: int(key.indexed_value_type) for key in ALL}


async def test_embedded_postgres_keeps_data_between_runs(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE kept (note text)")
            await conn.execute("INSERT INTO kept VALUES ('still here')")
        finally:
            await conn.close()
    assert not (tmp_path / "postgres" / "postmaster.pid").exists(), "server was not stopped"

    with embedded_postgres(tmp_path) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT note FROM kept") == "still here"
        finally:
            await conn.close()
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


async def test_temporal_dev_server_registers_search_attributes_in_wal_sqlite(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with temporal_dev_server(tmp_path, port, None) as address:
        assert address == f"127.0.0.1:{port}"
        client = await connect(address, "default")
        registered = await custom_search_attributes(client)
        assert {name: registered.get(name) for name in EXPECTED} == EXPECTED
        await ensure_search_attributes(client, "default")  # all there already: no error

    assert port_is_free(port), "dev server still listening after exit"
    database = tmp_path / "temporal" / "temporal.db"
    assert database.exists()
    assert not (tmp_path / "temporal" / "server.pid").exists()
    with sqlite3.connect(database) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    db.close()
    assert mode == "wal"


async def test_temporal_dev_server_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedServerError, match=rf"port 127\.0\.0\.1:{port} is taken"):
            async with temporal_dev_server(tmp_path, port, None):
                pytest.fail("started on a taken port")


async def test_temporal_dev_server_startup_failure_names_the_log(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match=r"server\.log"):
        async with temporal_dev_server(tmp_path, free_port(), None, log_level="no-such-level"):
            pytest.fail("started with a bad flag")


async def test_ensure_search_attributes_registers_missing_ones_idempotently() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        dev_server_log_level="error",
        dev_server_startup_timeout=SERVER_STARTUP,
    )
    async with env:
        assert not set(EXPECTED) & set(await custom_search_attributes(env.client))
        await ensure_search_attributes(env.client, "default")
        await ensure_search_attributes(env.client, "default")
        registered = await custom_search_attributes(env.client)
        assert {name: registered.get(name) for name in EXPECTED} == EXPECTED
