"""The FastAPI application, built from the services handed in.

:func:`build_app` knows routes, middleware and error answers; which services there are and
what they stand on (the pool, the Temporal client) is the composition root's business
(:mod:`runtime.app`). ``services`` is entered by the app's lifespan and left on shutdown; each
of its fields becomes the attribute of ``app.state`` of its name, where :mod:`api.deps` (and
the pages) take them from. The pages come in as ``pages``: the API knows nothing of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from api import contract, errors, versioning, wire
from api.auth import SameOriginMiddleware
from api.counting import IntakeCounterMiddleware
from api.routes import (
    admin,
    attachments,
    cases,
    codec,
    flyers,
    health,
    intake,
    offers,
    operations,
    partners,
    reported,
    reports,
    retention,
    tasks,
)
from api.security import SecurityHeadersMiddleware, swagger_ui
from config.settings import Settings
from service.container import Services
from service.health import HealthService
from service.metrics import ServiceMetrics

API_PREFIX = "/api/v1"

ServicesFactory = Callable[[], AbstractAsyncContextManager[Services]]


def build_app(
    settings: Settings,
    services: ServicesFactory,
    *,
    pages: Callable[[FastAPI], None] | None = None,
    unavailable_page: errors.UnavailablePage | None = None,
) -> FastAPI:
    """The API (and, with ``pages``, the pages installed into it) over ``services``;
    ``unavailable_page`` answers a 503 on the pages."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with services() as found:
            for field in dataclasses.fields(found):
                setattr(app.state, field.name, getattr(found, field.name))
            app.state.settings = settings
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
        generate_unique_id_function=contract.operation_id,
    )
    servers = [{"url": settings.site_url(), "description": "this service"}]
    app.openapi = lambda: contract.document(  # type: ignore[method-assign]
        app, servers, versioning.DEPRECATIONS
    )
    docs_policy = swagger_ui(app)
    app.include_router(_api_router())
    app.include_router(codec.router)
    app.include_router(health.router)
    codec_origins = settings.allowed_codec_origins()
    app.add_middleware(SameOriginMiddleware, trusted={codec.PATH_PREFIX: codec_origins})
    app.add_middleware(codec.CodecCorsMiddleware, origins=codec_origins)
    # Its catch-all middleware goes outside the same-origin check; a 503 on a page is German.
    errors.install(app, unavailable_page=unavailable_page)
    wire.install(app)
    if pages is not None:
        pages(app)
    # Outside the error handlers: a 500 is counted as the caller saw it.
    app.add_middleware(IntakeCounterMiddleware, path=f"{API_PREFIX}/status-events")
    app.add_middleware(versioning.DeprecationMiddleware, deprecations=versioning.DEPRECATIONS)
    # Outermost, so that refusals, 500s and CORS preflights carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware, policies={"/docs": docs_policy})
    return app


@functools.cache
def _api_router() -> APIRouter:
    """The routes of ``/api/v1``, put together once: they depend on no setting, and each
    inclusion analyses every route's parameters again (a fifth of a second per app)."""
    api = APIRouter(prefix=API_PREFIX, responses=errors.REFUSED)
    for module in (
        intake,
        cases,
        attachments,
        tasks,
        partners,
        offers,
        flyers,
        admin,
        retention,
        operations,
        reports,
        reported,
    ):
        api.include_router(module.router)
    return api


@dataclasses.dataclass(frozen=True)
class Probes:
    """What a process without the API serves on its own listener (the worker)."""

    health: HealthService
    metrics: ServiceMetrics


def build_probe_app(
    settings: Settings, probes: Callable[[], AbstractAsyncContextManager[Probes]]
) -> FastAPI:
    """``/healthz``, ``/readyz`` and ``/metrics`` alone, for a worker's own listener."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with probes() as found:
            app.state.health = found.health
            app.state.metrics = found.metrics
            app.state.settings = settings
            yield

    app = FastAPI(
        title="Kreis Unna - Ausreisefälle (worker)",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(health.router)
    return app
