"""The process owns one asyncpg pool; JSONB columns come back as Python objects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

# asyncpg waits 60 s for a new connection by default. A server that does not answer within a
# few seconds is treated as gone: the API says so (503, Retry-After) instead of holding the
# caller, and an activity's retry policy tries again later.
CONNECT_TIMEOUT_SECONDS = 5.0

# What every store function takes: a connection of its own or one lent by the pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class DatabaseUnreachable(ConnectionError):
    """No new connection to PostgreSQL: refused, no socket, timed out, or not accepting yet.

    A ConnectionError (an OSError), as asyncpg's own failure was, so callers that treat
    OSError as "the database cannot be used" still do.
    """


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (OSError, asyncpg.CannotConnectNowError) as error:
        # Only the type: the message of a failed connect may carry host names or paths.
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL ({type(error).__name__})"
        ) from error


async def _release(connection: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool: asyncpg itself rolls back a
    transaction left open. Its default reset (``RESET ALL``, ``UNLISTEN *``, ``CLOSE ALL``,
    advisory unlock) is one more round trip on every release, for session state this project
    never leaves behind: no session settings, advisory locks are transaction locks, and
    the migration's session lock is released where it is taken (store/migrate.py)."""


@asynccontextmanager
async def open_pool(dsn: str, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        connect=_connect,
        reset=_release,
        timeout=CONNECT_TIMEOUT_SECONDS,
    ) as pool:
        yield pool
