"""Measure how the service answers when a server is gone, and how it stops: issue 10, 3 and 4.

    .venv/bin/python scripts/probe_outages.py                 # every probe
    .venv/bin/python scripts/probe_outages.py temporal sigterm  # some of them

Each probe starts its own servers on loopback (embedded PostgreSQL, a Temporal dev server) in a
throw-away folder, stops one of them, and prints one line: what was asked, the status, the
``Retry-After`` header and how long the answer took. Every wait is bounded (``--limit``); a call
that did not answer within it prints ``no answer``.

Probes:
  healthy    intake and a task completion with everything up (median of 5; what a deadline allows)
  temporal   intake (POST /api/v1/status-events) with the Temporal server gone
  postgres   intake with PostgreSQL gone
  noworker   intake with no worker polling the task queue
  task       a task completion with no worker polling
  sigterm    SIGTERM to ``python -m runtime.main --role api`` with an intake in flight
  sigtermall the same with the worker running beside the API (``--role all``)
  second     a second ``python -m runtime.main`` on the data folder of a running one
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402  (after the path: run as a plain script)
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from protection.master import KeyRingData  # noqa: E402
from scripts.service_process import ServiceProcess as Service  # noqa: E402
from scripts.service_process import alive  # noqa: E402

os.environ.setdefault("CASE_MASTER_KEYS", KeyRingData.generate().to_json())

from api.auth import SESSION_COOKIE  # noqa: E402
from config.settings import Settings  # noqa: E402
from runtime.app import create_app  # noqa: E402
from runtime.embedded import embedded_postgres, venv_binary  # noqa: E402
from runtime.worker import build_worker  # noqa: E402
from schemas.accounts import Role  # noqa: E402
from schemas.local_time import BERLIN  # noqa: E402
from service.accounts import AccountService  # noqa: E402
from store.db import open_pool  # noqa: E402
from store.migrate import apply_migrations  # noqa: E402
from workflows.search_attributes import ALL  # noqa: E402

V1 = "/api/v1"
ORIGIN = "http://probe"
# How the conversation was held, as every new record says it (schemas/conversation.py).
HELD: dict[str, Any] = {
    "language": "ar",
    "interpreter": {"language": "ar", "mode": "present"},
    "participants": ["person"],
    "record_copy": "handed_over",
    "departure_letter": "handed_over",
}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def report(probe: str, what: str, outcome: str, seconds: float) -> None:
    print(f"{probe:<9} {what:<52} {outcome:<40} {seconds:7.2f} s", flush=True)


def opening(case_id: str) -> dict[str, Any]:
    today = datetime.now(BERLIN).date()
    return {
        "event_id": f"{case_id}-e1",
        "case_id": case_id,
        "status": "ausreisepflichtig",
        "effective_date": today.isoformat(),
        "departure_deadline": (today + timedelta(days=90)).isoformat(),
        "person": {
            "given_name": "Probevorname",
            "family_name": "Probenachname",
            "date_of_birth": "1990-04-01",
            "nationality": "IRQ",
            "language": "ar",
            "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": "Unna"},
        },
    }


def outcome_of(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer (limit)"
    retry_after = response.headers.get("retry-after")
    return f"{response.status_code}, Retry-After: {retry_after or '-'}"


async def timed(
    call: Awaitable[httpx.Response], limit: float
) -> tuple[httpx.Response | None, float]:
    started = time.monotonic()
    try:
        response: httpx.Response | None = await asyncio.wait_for(call, limit)
    except TimeoutError:
        response = None
    except httpx.HTTPError:
        response = None
    seconds = time.monotonic() - started
    if seconds >= limit:
        # Cancelled by our limit: whatever the app made of the cancellation is no answer.
        response = None
    return response, seconds


# ------------------------------------------------------------------ in-process probes


class Stack:
    """The app on real servers in this process; each piece can be stopped on its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.exits = contextlib.AsyncExitStack()
        self.pg: contextlib.ExitStack | None = None
        self.env: WorkflowEnvironment | None = None
        self.worker: contextlib.AsyncExitStack | None = None

    async def start(self, *, worker: bool = True) -> httpx.AsyncClient:
        self.pg = contextlib.ExitStack()
        dsn = self.pg.enter_context(embedded_postgres(self.folder))
        self.pool = await self.exits.enter_async_context(open_pool(dsn))
        await apply_migrations(self.pool)
        self.env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(venv_binary("temporal")),
            search_attributes=ALL,
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
            dev_server_startup_timeout=timedelta(seconds=60),
        )
        self.settings = Settings().model_copy(
            update={"task_queue": f"probe-{uuid.uuid4().hex[:8]}", "data_dir": self.folder}
        )
        self.app = create_app(self.settings, client=self.env.client, pool=self.pool)
        await self.exits.enter_async_context(self.app.router.lifespan_context(self.app))
        if worker:
            await self.start_worker()
        accounts = AccountService(self.pool, self.settings)
        token = await accounts.create_api_token("probe")
        account = await accounts.create_account(
            f"abh-{uuid.uuid4().hex[:6]}", "Probe ABH", Role.ABH, "ein langes Probepasswort"
        )
        session = await accounts.open_session(account)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=ORIGIN,
            timeout=None,
            headers={
                "origin": ORIGIN,
                "authorization": f"Bearer {token}",
                "cookie": f"{SESSION_COOKIE}={session}",
            },
        )

    async def start_worker(self) -> None:
        assert self.env is not None
        self.worker = contextlib.AsyncExitStack()
        await self.worker.enter_async_context(
            build_worker(self.env.client, self.pool, self.settings)
        )

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.worker.aclose()
            self.worker = None

    async def stop_temporal(self) -> None:
        if self.env is not None:
            await self.env.shutdown()
            self.env = None

    def stop_postgres(self) -> None:
        if self.pg is not None:
            self.pg.close()
            self.pg = None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop_worker()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(30):
                await self.exits.aclose()
        with contextlib.suppress(Exception):
            await self.stop_temporal()
        with contextlib.suppress(Exception):
            self.stop_postgres()


@contextlib.asynccontextmanager
async def stack(worker: bool = True) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    folder = Path(tempfile.mkdtemp(prefix="probe-", dir=ROOT / ".data"))
    running = Stack(folder)
    try:
        http = await running.start(worker=worker)
        async with http:
            yield running, http
    finally:
        await running.close()
        shutil.rmtree(folder, ignore_errors=True)


async def probe_temporal(limit: float) -> None:
    async with stack() as (running, http):
        first = await http.post(f"{V1}/status-events", json=opening(f"P-{uuid.uuid4().hex[:8]}"))
        assert first.status_code == 202, first.text
        await running.stop_worker()
        await running.stop_temporal()
        case_id = f"P-{uuid.uuid4().hex[:8]}"
        response, seconds = await timed(
            http.post(f"{V1}/status-events", json=opening(case_id)), limit
        )
        report("temporal", "intake, Temporal server gone", outcome_of(response), seconds)
        rows = await running.pool.fetchval("SELECT count(*) FROM cases WHERE case_id=$1", case_id)
        say(f"temporal: case rows written for the refused event: {rows}")
        page, seconds = await timed(http.get("/posteingang"), limit)
        report("temporal", "inbox page, Temporal server gone", outcome_of(page), seconds)


async def probe_postgres(limit: float) -> None:
    async with stack() as (running, http):
        first = await http.post(f"{V1}/status-events", json=opening(f"P-{uuid.uuid4().hex[:8]}"))
        assert first.status_code == 202, first.text
        running.stop_postgres()
        response, seconds = await timed(
            http.post(f"{V1}/status-events", json=opening(f"P-{uuid.uuid4().hex[:8]}")), limit
        )
        report("postgres", "intake, PostgreSQL gone", outcome_of(response), seconds)
        page, seconds = await timed(http.get("/posteingang"), limit)
        report("postgres", "inbox page, PostgreSQL gone", outcome_of(page), seconds)
        await running.stop_worker()


async def probe_noworker(limit: float) -> None:
    async with stack(worker=False) as (_running, http):
        response, seconds = await timed(
            http.post(f"{V1}/status-events", json=opening(f"P-{uuid.uuid4().hex[:8]}")), limit
        )
        report("noworker", "intake, no worker polling", outcome_of(response), seconds)


async def probe_task(limit: float) -> None:
    async with stack() as (running, http):
        case_id = f"P-{uuid.uuid4().hex[:8]}"
        first = await http.post(f"{V1}/status-events", json=opening(case_id))
        assert first.status_code == 202, first.text
        tasks = (await http.get(f"{V1}/tasks", params={"case_id": case_id})).json()
        task_id = tasks[0]["task_id"]
        await running.stop_worker()
        body = {
            "kind": "information_conversation",
            "held_on": datetime.now(BERLIN).date().isoformat(),
            "routes_discussed": ["§25b AufenthG"],
            "perspective": "none_evident",
            **HELD,
        }
        response, seconds = await timed(
            http.post(f"{V1}/tasks/{task_id}/complete", json=body), limit
        )
        report("task", "task completion, no worker polling", outcome_of(response), seconds)


async def probe_healthy(limit: float) -> None:
    """The same calls with everything up: what the update deadline has to allow for."""
    async with stack() as (_running, http):
        intakes, completions = [], []
        for _ in range(5):
            case_id = f"P-{uuid.uuid4().hex[:8]}"
            response, seconds = await timed(
                http.post(f"{V1}/status-events", json=opening(case_id)), limit
            )
            assert response is not None and response.status_code == 202, outcome_of(response)
            intakes.append(seconds)
            tasks = (await http.get(f"{V1}/tasks", params={"case_id": case_id})).json()
            body = {
                "kind": "information_conversation",
                "held_on": datetime.now(BERLIN).date().isoformat(),
                "routes_discussed": ["§25b AufenthG"],
                "perspective": "none_evident",
                **HELD,
            }
            response, seconds = await timed(
                http.post(f"{V1}/tasks/{tasks[0]['task_id']}/complete", json=body), limit
            )
            assert response is not None and response.status_code == 200, outcome_of(response)
            completions.append(seconds)
        for what, times in (("intake", intakes), ("conversation completion (2 PDFs)", completions)):
            spread = f"min {min(times):.2f} s, max {max(times):.2f} s"
            report("healthy", f"{what}, everything up (5 in a row)", spread, sorted(times)[2])


# ------------------------------------------------------------------ process probes


@contextlib.contextmanager
def folder() -> Any:
    path = Path(tempfile.mkdtemp(prefix="probe-", dir=ROOT / ".data"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def probe_sigterm(limit: float, *args: str) -> None:
    with folder() as path:
        service = Service(path, *(args or ("--role", "api")))
        service.start()
        try:
            service.wait_ready(180)
            token = service.api_token("probe")
            children = service.servers()
            url = f"http://127.0.0.1:{service.api_port}{V1}/status-events"
            async with httpx.AsyncClient(timeout=None) as http:
                call = asyncio.ensure_future(
                    http.post(
                        url,
                        json=opening(f"P-{uuid.uuid4().hex[:8]}"),
                        headers={"authorization": f"Bearer {token}", "origin": ORIGIN},
                    )
                )
                await asyncio.sleep(2)
                in_flight = not call.done()
                started = time.monotonic()
                assert service.process is not None
                service.process.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(service.wait, limit)
                seconds = time.monotonic() - started
                call.cancel()
                with contextlib.suppress(BaseException):
                    await call
            left = [name for name, pid in children.items() if alive(pid)]
            outcome = "no exit" if code is None else f"exit {code}"
            outcome += f", left behind: {', '.join(left) or 'nothing'}"
            role = "--role api" if not args else "worker and API"
            report(
                "sigterm",
                f"SIGTERM, intake {'in flight' if in_flight else 'done'} ({role})",
                outcome,
                seconds,
            )
        finally:
            service.kill()


async def probe_sigterm_all(limit: float) -> None:
    await probe_sigterm(limit, "--role", "all")


async def probe_second(limit: float) -> None:
    with folder() as path:
        first = Service(path)
        first.start()
        second: Service | None = None
        try:
            first.wait_ready(180)
            before = first.servers()
            second = first.same_folder()
            started = time.monotonic()
            second.start()
            code = await asyncio.to_thread(second.wait, limit)
            seconds = time.monotonic() - started
            assert second.process is not None and second.process.stderr is not None
            said = ""
            if code is not None:
                lines = [line for line in second.process.stderr.read().splitlines() if line]
                said = lines[-1][:160] if lines else ""
            temporal = before.get("temporal")
            kept = temporal is not None and alive(temporal)
            outcome = ("no exit" if code is None else f"exit {code}") + (
                ", first's Temporal " + ("running" if kept else "STOPPED")
            )
            report("second", "second runtime.main on the same data folder", outcome, seconds)
            if said:
                say(f"second said: {said}")
        finally:
            if second is not None:
                second.kill()
            if first.process is not None and first.process.poll() is None:
                first.process.send_signal(signal.SIGTERM)
                first.wait(60)
            first.kill()


PROBES: dict[str, Callable[[float], Awaitable[None]]] = {
    "healthy": probe_healthy,
    "temporal": probe_temporal,
    "postgres": probe_postgres,
    "noworker": probe_noworker,
    "task": probe_task,
    "sigterm": probe_sigterm,
    "sigtermall": probe_sigterm_all,
    "second": probe_second,
}


async def main(names: list[str], limit: float) -> None:
    for name in names:
        say(f"probe {name}")
        try:
            await PROBES[name](limit)
        except Exception as error:  # one failed probe should not hide the others
            report(name, "probe failed", f"{type(error).__name__}: {error}"[:40], 0.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probes", nargs="*", help="any of: " + ", ".join(PROBES))
    parser.add_argument(
        "--limit", type=float, default=75.0, help="seconds to wait for one answer (default 75)"
    )
    args = parser.parse_args()
    unknown = set(args.probes) - set(PROBES)
    if unknown:
        parser.error(f"unknown probe(s): {', '.join(sorted(unknown))}")
    (ROOT / ".data").mkdir(exist_ok=True)
    asyncio.run(main(args.probes or list(PROBES), args.limit))
