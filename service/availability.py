"""When a server the service needs does not answer in time: :class:`ServiceUnavailable`.

A request that finds PostgreSQL or Temporal unreachable, or whose Temporal update brings no
outcome within ``CASE_UPDATE_TIMEOUT``, ends as ``ServiceUnavailable``; the API answers it with
503 and ``Retry-After`` (JSON in ``api.errors``, the German page in ``web.pages``). It carries
no HTTP number: how it looks on the wire is the edge's business. It is a member of the one
error tree (:mod:`service.errors`), defined there.

Retrying is safe: every update the service sends has an id derived from its business key
(the event id, the task, ...), so a repeat attaches to an update that is still running or
answers with the outcome of one that finished, and nothing is done twice.

Database failures are raised deep inside store functions, by asyncpg, for any caller; they are
recognised here (:func:`database_unavailable`) rather than caught at every query.
"""

from __future__ import annotations

import asyncpg

from service.errors import Backend, ServiceUnavailable
from store.db import DatabaseUnreachable

__all__ = ["DATABASE_ERRORS", "Backend", "ServiceUnavailable", "database_unavailable"]


# The server went away under an open connection (stopped, crashed, restarting), refused a new
# one, or has no connection slot left: all of them pass, none is about the request itself.
_DATABASE_GONE: tuple[type[Exception], ...] = (
    DatabaseUnreachable,
    asyncpg.PostgresConnectionError,  # 08xxx, and a connection closed mid-operation
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
)


def database_unavailable(error: BaseException) -> ServiceUnavailable | None:
    """``error`` as ServiceUnavailable when it means PostgreSQL cannot be reached, else None."""
    if isinstance(error, _DATABASE_GONE):
        return ServiceUnavailable(Backend.DATABASE, "the database is not reachable")
    return None


DATABASE_ERRORS = _DATABASE_GONE
"""The exception classes :func:`database_unavailable` recognises (for exception handlers)."""
