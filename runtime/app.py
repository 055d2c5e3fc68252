"""The application's composition: the services over the pool and the Temporal client, and the
FastAPI app (:func:`api.app.build_app`) with the pages over them.

``create_app`` takes its collaborators instead of reading globals: the composition root
(:mod:`runtime.main`) and the tests hand in the Temporal client and the pool they already
own; a bare ``create_app(settings)`` connects to both itself and closes them on shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
from fastapi import FastAPI
from temporalio.client import Client

import web
from api.app import API_PREFIX, Probes, build_app
from config.settings import Settings
from protection import protect
from protection.codec import keyring_of
from service.access import AccessService
from service.accounts import AccountService
from service.attachments import AttachmentService
from service.cases import CaseService
from service.codec import CodecService
from service.container import Services
from service.directory import DirectoryService
from service.flyers import FlyerService
from service.health import HealthService
from service.inbox import InboxService
from service.metrics import ServiceMetrics
from service.notes import NoteService
from service.records import RecordsService
from service.report import ReportService
from service.retention import RetentionService
from service.rules import RuleService
from service.temporal import connect, for_requests
from service.webhooks import WebhookService
from store.db import open_pool

__all__ = ["API_PREFIX", "compose", "create_app", "worker_probes"]


def compose(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    worker_running: Callable[[], bool] | None = None,
) -> Services:
    """Every service of the API and the pages, on ``client`` (protected) and ``pool``;
    ``worker_running`` joins the readiness checks where a worker runs in the same process."""
    keys = keyring_of(client)
    access = AccessService(pool, settings.timings())
    rules = RuleService(pool, settings)
    inbox = InboxService(pool)
    health = HealthService(
        pool,
        client,
        keys,
        deadline=settings.probe_timeout,
        worker_running=worker_running,
        task_queue=settings.task_queue,
    )
    return Services(
        cases=CaseService(client, pool, settings, rules),
        rules=rules,
        accounts=AccountService(pool, settings),
        access=access,
        directory=DirectoryService(pool),
        inbox=inbox,
        notes=NoteService(pool),
        attachments=AttachmentService(pool, keys, settings.attachment_max_bytes),
        records=RecordsService(pool),
        reports=ReportService(pool, rules),
        flyers=FlyerService(pool),
        codec=CodecService(keys, access),
        retention=RetentionService(pool),
        webhooks=WebhookService(pool, keys),
        keys=keys,
        residence_routes=settings.residence_routes(),
        health=health,
        metrics=ServiceMetrics(
            figures=inbox.figures,
            readiness=health.readiness,
            deadline=settings.probe_timeout,
            intake=True,
        ),
    )


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    pool: asyncpg.Pool | None = None,
    worker_running: Callable[[], bool] | None = None,
) -> FastAPI:
    """The API and the pages; the lifespan puts every service of :func:`compose` and
    ``settings`` on ``app.state``."""

    @contextlib.asynccontextmanager
    async def services() -> AsyncIterator[Services]:
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
            yield compose(own_client, own_pool, settings, worker_running=worker_running)

    return build_app(settings, services, pages=web.install, unavailable_page=web.unavailable_page)


def worker_probes(
    client: Client, pool: asyncpg.Pool, settings: Settings, worker_running: Callable[[], bool]
) -> Probes:
    """The readiness checks and metrics of a worker-only process (its own listener): no
    business figures there, the API processes serve those."""
    health = HealthService(
        pool,
        client,
        keyring_of(client),
        deadline=settings.probe_timeout,
        worker_running=worker_running,
    )
    return Probes(
        health=health,
        metrics=ServiceMetrics(readiness=health.readiness, deadline=settings.probe_timeout),
    )
