"""The FastAPI application factory.

``create_app`` takes its collaborators instead of reading globals: the composition root
(:mod:`runtime.main`) and the tests hand in the Temporal client and the pool they already
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
from api.security import SecurityHeadersMiddleware, swagger_ui
from config.settings import Settings
from protection import protect
from protection.codec import keyring_of
from service.accounts import AccountService
from service.cases import CaseService
from service.directory import DirectoryService
from service.temporal import connect, for_requests
from store.db import open_pool

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings, *, client: Client | None = None, pool: asyncpg.Pool | None = None
) -> FastAPI:
    """Build the API; its lifespan puts ``cases`` (CaseService), ``accounts``
    (AccountService), ``directory`` (DirectoryService), ``settings`` and ``pool`` on
    ``app.state``."""

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
            # Someone waits for every call: they fail within seconds, not the worker's patience.
            own_client = await for_requests(own_client)
            app.state.pool = own_pool
            app.state.keys = keyring_of(own_client)
            app.state.cases = CaseService(own_client, own_pool, settings)
            app.state.accounts = AccountService(own_pool, settings)
            app.state.directory = DirectoryService(own_pool)
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
            "the access report (GDPR Art. 15), whose purpose is to show it, and the KI's view "
            "of a case disclosed to it: the three categories it received on the consent. "
            "People log in (session cookie, roles abh, ki, ops, admin); back-office systems "
            "send an API token (Authorization: Bearer) that opens the status intake only."
        ),
        lifespan=lifespan,
        # /docs is served by api.security with a policy of its own; ReDoc would need fonts,
        # scripts and workers from elsewhere, and Swagger UI shows the same document.
        docs_url=None,
        redoc_url=None,
    )
    docs_policy = swagger_ui(app)
    api = APIRouter(prefix=API_PREFIX, responses=errors.REFUSED)
    for module in (intake, cases, tasks, partners, offers, flyers, admin, retention):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(codec.router)
    codec_origins = settings.allowed_codec_origins()
    app.add_middleware(SameOriginMiddleware, trusted={codec.PATH_PREFIX: codec_origins})
    app.add_middleware(codec.CodecCorsMiddleware, origins=codec_origins)
    # Its catch-all middleware goes outside the same-origin check; a 503 on a page is German.
    errors.install(app, unavailable_page=web.unavailable_page)
    wire.install(app)
    web.install(app)
    # Outermost, so that refusals, 500s and CORS preflights carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware, policies={"/docs": docs_policy})
    return app
