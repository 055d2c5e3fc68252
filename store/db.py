"""The process owns one asyncpg pool; JSONB columns come back as Python objects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


@asynccontextmanager
async def open_pool(dsn: str, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(
        dsn, min_size=1, max_size=max_size, init=_init_connection
    ) as pool:
        yield pool
