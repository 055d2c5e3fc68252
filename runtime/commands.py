"""The database for the operator commands (``commands/``): the service's, however it is run.

``DATABASE_URL`` when set; else the embedded PostgreSQL under ``CASE_DATA_DIR``, attached to
when ``manage.py run`` has it running and started for the command otherwise. Migrations are
applied first, so a command works on a fresh data folder too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import asyncpg

from config.settings import Settings
from runtime.embedded import EmbeddedServerError, embedded_postgres
from store.db import open_pool
from store.migrate import apply_migrations

EXIT_UNUSABLE = 2


@contextlib.asynccontextmanager
async def command_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    with contextlib.ExitStack() as stack:
        dsn = settings.database_url
        if dsn is None:
            dsn = stack.enter_context(embedded_postgres(settings.data_dir))
        async with open_pool(dsn, max_size=2) as pool:
            await apply_migrations(pool)
            yield pool


def run_command(
    command: Coroutine[Any, Any, int], *, also: tuple[type[Exception], ...] = ()
) -> int:
    """Run a command; an unusable database (or one of ``also``) is exit 2 with one clear line."""
    try:
        return asyncio.run(command)
    except Exception as error:
        if not isinstance(error, (EmbeddedServerError, OSError, *also)):
            raise
        print(f"error: cannot be used: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
