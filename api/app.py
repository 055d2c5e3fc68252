"""The FastAPI application factory.

``create_app`` takes its collaborators instead of reading globals: the composition root
(:mod:`service.main`) and the tests hand in the Temporal client and the pool they already
own; a bare ``create_app(settings)`` connects to both itself and closes them on shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from fastapi import APIRouter, FastAPI
from temporalio.client import Client

import web
from api import errors, wire
from api.auth import SameOriginMiddleware
from api.routes import (
    admin,
    cases,
    codec,
    flyers,
    intake,
    offers,
    partners,
    retention,
    tasks,
)
from protection import protect
from protection.codec import keyring_of
from service.accounts import AccountService
from service.cases import CaseService
from service.settings import Settings
from service.temporal import connect
from store.db import open_pool

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings, *, client: Client | None = None, pool: asyncpg.Pool | None = None
) -> FastAPI:
    """Build the API; its lifespan puts ``cases`` (CaseService), ``accounts``
    (AccountService), ``settings`` and ``pool`` on ``app.state``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            own_pool = pool
            if own_pool is None:
                if settings.database_url is None:
                    raise RuntimeError("the API needs DATABASE_URL (or a pool handed in)")
                own_pool = await stack.enter_async_context(open_pool(settings.database_url))
            own_client = client
            if own_client is None:
                if settings.temporal_address is None:
                    raise RuntimeError("the API needs TEMPORAL_ADDRESS (or a client handed in)")
                # A Temporal client has no close(); its connection ends with the process.
                own_client = await connect(settings.temporal_address, settings.temporal_namespace)
            own_client = protect(own_client, own_pool, settings)
            app.state.pool = own_pool
            app.state.keys = keyring_of(own_client)
            app.state.cases = CaseService(own_client, own_pool, settings)
            app.state.accounts = AccountService(own_pool, settings)
            app.state.settings = settings
            app.state.residence_routes = settings.residence_routes()  # read once, not per page
            yield

    app = FastAPI(
        title="Kreis Unna - Ausreisefälle",
        version="1",
        description=(
            "Status events from the back office, case views, the ABH's and the KI's task "
            "inboxes, the partner and offer directory and the towns' flyers. Responses never "
            "contain personal data, except "
            "the access report (GDPR Art. 15), whose purpose is to show it. "
            "People log in (session cookie, roles abh, ki, ops, admin); back-office systems "
            "send an API token (Authorization: Bearer) that opens the status intake only."
        ),
        lifespan=lifespan,
    )
    api = APIRouter(prefix=API_PREFIX, responses=errors.REFUSED)
    for module in (intake, cases, tasks, partners, offers, flyers, admin, retention):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(codec.router)
    codec_origins = settings.allowed_codec_origins()
    app.add_middleware(SameOriginMiddleware, trusted={codec.PATH_PREFIX: codec_origins})
    app.add_middleware(codec.CodecCorsMiddleware, origins=codec_origins)
    errors.install(app)  # its catch-all middleware goes outside the same-origin check
    wire.install(app)
    web.install(app)
    return app
