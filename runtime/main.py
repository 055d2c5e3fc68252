"""The composition root: ``python -m runtime.main [--role all|worker|api]``.

This is the only place where servers, pool, client, worker and API are built and wired. For
development (``python3 manage.py run``) it starts embedded PostgreSQL and the Temporal dev
server unless ``DATABASE_URL`` / ``TEMPORAL_ADDRESS`` point at real ones; in production each
container runs one role against real servers (docker-compose.yml).

One signal handler stops everything: SIGINT or SIGTERM ends the API and shuts the worker down
gracefully, then the pool, the dev server and PostgreSQL close in reverse order of start, all
within ``CASE_SHUTDOWN_GRACE``: requests in flight get their answer (each ends within the
update deadline), what still runs after its share of the grace is cancelled.

A service that starts embedded servers holds its data folder (``data_folder_lock``): a second
one on the same folder refuses to start and names the process that holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from enum import StrEnum
from typing import Protocol

import asyncpg
import uvicorn
from fastapi import FastAPI
from temporalio.worker import Worker

from api.app import build_probe_app
from config.logging import configure_logging, get_logger, temporal_runtime
from config.settings import Settings
from mail.delivery import DeliveryPolicy, MailDelivery
from mail.transport import transport_from_settings
from protection import protect, require_configured_ring
from protection.codec import keyring_of
from protection.master import MasterKeyError
from runtime.app import create_app, worker_probes
from runtime.embedded import (
    DataFolderInUse,
    EmbeddedServerError,
    data_folder_lock,
    embedded_postgres,
    temporal_dev_server,
)
from runtime.worker import build_worker
from service.notices import ensure_schedules as ensure_notice_schedules
from service.retention import ensure_schedule
from service.temporal import connect, ensure_search_attributes
from service.webhooks import WebhookDelivery
from store.db import open_pool
from store.migrate import MigrationChanged, apply_migrations, migration_state

log = get_logger("runtime.main")


class Role(StrEnum):
    """What this process serves. ``all`` is the development default: one process, both.
    ``migrate`` brings the database schema up to date and ends (a deployment's own step)."""

    ALL = "all"
    WORKER = "worker"
    API = "api"
    MIGRATE = "migrate"

    @property
    def runs_worker(self) -> bool:
        return self in (Role.ALL, Role.WORKER)

    @property
    def runs_api(self) -> bool:
        return self in (Role.ALL, Role.API)


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handlers: ours stop the API and the worker together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# Of the shutdown grace, what is left for the worker and the servers once the API has stopped:
# stopping the dev server and PostgreSQL takes a second or two, more on a loaded machine.
_SERVERS_SHARE = 0.4


def _request_grace(settings: Settings) -> int:
    """How long open requests may take to finish after a stop signal, in whole seconds.

    Each of them ends within the update deadline (then 503), so that is what they need; but
    never more than the API's share of the whole grace.
    """
    grace = settings.shutdown_grace.total_seconds()
    wanted = settings.update_timeout.total_seconds() + 1
    return max(1, int(min(wanted, grace * (1 - _SERVERS_SHARE))))


def _api_server(
    app: FastAPI, settings: Settings, *, host: str | None = None, port: int | None = None
) -> _ApiServer:
    config = uvicorn.Config(
        app,
        host=host or settings.api_host,
        port=settings.api_port if port is None else port,
        log_config=None,  # keep our logging pipeline (config.logging)
        server_header=False,
        # uvicorn would believe X-Forwarded-* from loopback by default; only named proxies.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        timeout_graceful_shutdown=_request_grace(settings),
    )
    return _ApiServer(config)


def _banner(settings: Settings, role: Role) -> str:
    lines = []
    if role.runs_api:
        base = f"http://{settings.api_host}:{settings.api_port}"
        lines += [f"API:          {base}/api/v1", f"OpenAPI docs: {base}/docs"]
        lines.append(f"Health:       {base}/readyz, {base}/metrics")
    if settings.temporal_address is None:
        lines.append(f"Temporal UI:  http://127.0.0.1:{settings.temporal_ui_port}")
    else:
        lines.append(f"Temporal UI:  external server ({settings.temporal_address})")
    if role.runs_worker:
        lines.append(f"Worker:       task queue {settings.task_queue}")
        if role is Role.WORKER and settings.worker_http_port is not None:
            probes = f"http://{settings.worker_http_host}:{settings.worker_http_port}"
            lines.append(f"Health:       {probes}/readyz, {probes}/metrics")
        if settings.temporal_metrics_port is not None:
            sdk = f"http://{settings.worker_http_host}:{settings.temporal_metrics_port}"
            lines.append(f"SDK metrics:  {sdk}/metrics")
        if settings.smtp_host is None:
            lines.append(f"Mailbox:      {settings.mailbox_dir.resolve()} (no CASE_SMTP_HOST)")
        else:
            lines.append(f"Mail:         SMTP {settings.smtp_host}:{settings.smtp_port_or_default}")
    return "\n".join(lines)


async def _stop_after(work: Awaitable[None], stop: asyncio.Event) -> None:
    """If the worker or the API ends on its own (failure or not), stop the other one too."""
    try:
        await work
    finally:
        stop.set()


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StoppedWhileStarting(Exception):
    """A stop signal came before the service was serving; what had started was stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signals(handler: Callable[[int], object]) -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, handler, sig)


class _Loop(Protocol):
    """A delivery loop beside the worker (mails, webhooks)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


async def _serve(
    worker: Worker | None,
    api: _ApiServer | None,
    loops: Sequence[_Loop] = (),
    *,
    grace: float = 30.0,
    banner: str = "",
) -> None:
    """Run worker and API until a signal (or until either of them ends), then stop both.

    The delivery loops (mails, webhooks) run beside the worker; on shutdown each finishes the
    send in progress and ends (one cut off mid-send is claimed again later: nothing is lost).
    Whatever has not stopped ``grace`` seconds after the signal is cancelled, so the servers
    behind it can still be stopped in time. ``banner`` is printed once a signal would be
    handled here: whoever waits for it may stop the service right away."""
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set() and api is not None:
            api.force_exit = True  # second Ctrl-C: stop waiting for open connections
        stop.set()

    _on_signals(on_signal)
    if banner:
        print(banner, flush=True)
    running: list[asyncio.Task[None]] = []
    try:
        if worker is not None:
            running.append(asyncio.create_task(_stop_after(worker.run(), stop)))
        if api is not None:
            running.append(asyncio.create_task(_stop_after(api.serve(), stop)))
        for loop in loops:
            running.append(asyncio.create_task(_stop_after(loop.run(), stop)))
        await stop.wait()
        log.info("shutting down", grace_seconds=grace)
        if api is not None:
            api.should_exit = True
        for loop in loops:
            loop.stop()
        if worker is not None:
            running.append(asyncio.create_task(worker.shutdown()))
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning("cancelled what did not stop within the grace period", tasks=len(late))
            await asyncio.wait(late, timeout=5)
        failures = [t.exception() for t in running if t.done() and not t.cancelled()]
        for failure in failures:
            if failure is not None:
                raise failure
    finally:
        for task in running:
            task.cancel()
        # Stopping already: a further signal must not cut the servers' shutdown short.
        _on_signals(lambda signum: log.info("stopping already", signal=signum))


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _development_cookies(settings: Settings) -> Settings:
    """Serving plain http on loopback (the development run): no Secure flag on the session
    cookie, or browsers would never send it back. ``CASE_COOKIE_SECURE`` set explicitly wins;
    anywhere else the cookie stays Secure (TLS is terminated by a proxy in production)."""
    if "CASE_COOKIE_SECURE" in os.environ or settings.api_host not in _LOOPBACK:
        return settings
    return settings.model_copy(update={"cookie_secure": False})


async def run(settings: Settings | None = None, role: Role | str = Role.ALL) -> None:
    """Start what ``settings`` does not point at, wire everything, serve until stopped.

    Without ``settings`` they are read from the environment. Logging is not configured here:
    :func:`main` does that, once per process.
    """
    settings = _development_cookies(settings or Settings())
    role = Role(role)
    # A stop signal while starting unwinds what has started (servers included) at once.
    starting = asyncio.current_task()
    assert starting is not None
    signalled: list[int] = []

    def stop_starting(signum: int) -> None:
        signalled.append(signum)
        starting.cancel()

    _on_signals(stop_starting)
    try:
        await _start_and_serve(settings, role)
    except asyncio.CancelledError:
        if not signalled:
            raise
        raise StoppedWhileStarting(signalled[0]) from None
    finally:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)


def _running(worker: Worker) -> Callable[[], bool]:
    return lambda: worker.is_running and not worker.is_shutdown


class MetricsUnavailable(Exception):
    """The Temporal SDK's metrics cannot be served where ``CASE_TEMPORAL_METRICS_PORT`` says."""


class SchemaNotCurrent(Exception):
    """``CASE_MIGRATE_ON_START=false`` and the schema is behind (or a file changed)."""


async def _migrate(pool: asyncpg.Pool, settings: Settings, role: Role) -> None:
    """Migrate (every role, unless ``CASE_MIGRATE_ON_START=false``: then only ``migrate``,
    and the others refuse to start on a schema that is not current)."""
    if role is Role.MIGRATE or settings.migrate_on_start:
        applied = await apply_migrations(pool)
        log.info("schema current", applied=len(applied), last=applied[-1] if applied else None)
        return
    state = await migration_state(pool)
    if not state.current:
        raise SchemaNotCurrent(
            f"{len(state.pending)} migrations pending, {len(state.changed)} changed: run "
            "`python -m runtime.main --role migrate` first (CASE_MIGRATE_ON_START=false)"
        )


async def _start_and_serve(settings: Settings, role: Role) -> None:
    if role is not Role.MIGRATE:
        require_configured_ring(settings)  # before anything starts
    async with contextlib.AsyncExitStack() as stack:
        if role is Role.MIGRATE and settings.database_url is not None:
            async with open_pool(settings.database_url) as pool:
                await _migrate(pool, settings, role)
            return
        if settings.database_url is None or settings.temporal_address is None:
            # Before any server starts: a second service on this folder must touch nothing.
            stack.enter_context(data_folder_lock(settings.data_dir))
        dsn = settings.database_url
        if dsn is None:
            dsn = stack.enter_context(embedded_postgres(settings.data_dir))
            log.info("embedded PostgreSQL started", data_dir=str(settings.data_dir))
        if role is Role.MIGRATE:
            async with open_pool(dsn) as pool:
                await _migrate(pool, settings, role)
            return
        address = settings.temporal_address
        if address is None:
            address = await stack.enter_async_context(
                temporal_dev_server(
                    settings.data_dir,
                    settings.temporal_port,
                    settings.temporal_ui_port,
                    namespace=settings.temporal_namespace,
                    # The UI asks our API to decode payloads, with the caseworker's login.
                    codec_endpoint=f"http://{settings.api_host}:{settings.api_port}/codec",
                )
            )
            log.info("Temporal dev server started", address=address)

        pool = await stack.enter_async_context(open_pool(dsn))
        await _migrate(pool, settings, role)
        runtime = None
        if role.runs_worker and settings.temporal_metrics_port is not None:
            # The SDK's metrics: its core serves them on a port of their own.
            bind = f"{settings.worker_http_host}:{settings.temporal_metrics_port}"
            try:
                runtime = temporal_runtime(bind)
            except ValueError as err:  # the port is taken (the core says so in its message)
                raise MetricsUnavailable(f"CASE_TEMPORAL_METRICS_PORT {bind}: {err}") from None
        client = await connect(address, settings.temporal_namespace, runtime)
        await ensure_search_attributes(client, settings.temporal_namespace)
        # One key ring for worker and API: every payload leaves this process encrypted.
        client = protect(client, pool, settings)

        worker = None
        loops: list[_Loop] = []
        if role.runs_worker:
            if settings.database_url is not None and settings.shred_log is None:
                # Each machine would keep its own log in its data folder, and a restore needs
                # every line of it (docs/backup.md).
                log.warning("CASE_SHRED_LOG is not set: erasures are logged only in this "
                            "process's data folder", path=str(settings.shred_log_file))  # fmt: skip
            worker = build_worker(client, pool, settings)
            await ensure_schedule(client, settings.task_queue)
            await ensure_notice_schedules(client, settings.task_queue, settings.notice_delivery())
            loops.append(
                MailDelivery(
                    pool,
                    transport_from_settings(settings),
                    interval=settings.mail_poll_seconds,
                    sender=settings.mail_from,
                    policy=DeliveryPolicy(max_attempts=settings.mail_max_attempts),
                )
            )
            # The back office's webhooks, through the same outbox (service/webhooks.py).
            loops.append(
                WebhookDelivery(
                    pool,
                    keyring_of(client),
                    interval=settings.mail_poll_seconds,
                    policy=DeliveryPolicy(max_attempts=settings.mail_max_attempts),
                )
            )
        api = None
        if role.runs_api:
            running = None if worker is None else _running(worker)
            app = create_app(settings, client=client, pool=pool, worker_running=running)
            api = _api_server(app, settings)
        elif worker is not None and settings.worker_http_port is not None:
            # A worker alone answers its probes and scrapes on a listener of its own.
            probes = worker_probes(client, pool, settings, _running(worker))
            api = _api_server(
                build_probe_app(settings, lambda: contextlib.nullcontext(probes)),
                settings,
                host=settings.worker_http_host,
                port=settings.worker_http_port,
            )
        grace = settings.shutdown_grace.total_seconds()
        await _serve(
            worker, api, loops, grace=grace * (1 - _SERVERS_SHARE), banner=_banner(settings, role)
        )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.main",
        description="Run the case service: the Temporal worker and the HTTP API. Without "
        "DATABASE_URL / TEMPORAL_ADDRESS it starts embedded PostgreSQL and a Temporal dev "
        "server with their data under CASE_DATA_DIR (default .data).",
    )
    parser.add_argument(
        "--role",
        type=Role,
        choices=list(Role),
        default=Role.ALL,
        help="what this process serves (default: all)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default: INFO",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    configure_logging(args.log_level)
    settings = Settings()
    try:
        asyncio.run(run(settings, args.role))
    except DataFolderInUse as err:
        log.error("data folder in use", holder=err.pid, error=str(err))
        sys.exit(1)
    except EmbeddedServerError as err:
        log.error("could not start an embedded server", error=str(err))
        sys.exit(1)
    except MasterKeyError as err:
        log.error("no usable master key ring", error=str(err))
        sys.exit(1)
    except MigrationChanged as err:
        log.error("migrations refused", error=str(err))
        sys.exit(1)
    except SchemaNotCurrent as err:
        log.error("schema not current", error=str(err))
        sys.exit(1)
    except MetricsUnavailable as err:
        log.error("SDK metrics cannot be served", error=str(err))
        sys.exit(1)
    except StoppedWhileStarting as stopped:  # what had started was stopped again
        log.info("stopped while starting", signal=stopped.signum)
        sys.exit(128 + stopped.signum)
    except KeyboardInterrupt:  # Ctrl-C before serving began; cleanup already ran
        sys.exit(130)


if __name__ == "__main__":
    main()
