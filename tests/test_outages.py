"""Outages and deadlines (issue 10): every request answers in time; a repeat is done once.

Each test starts the servers it stops itself (a Temporal dev server, an embedded PostgreSQL,
or the whole service as a process), never the session's shared ones. Bounds on time are
generous (a loaded 2-core machine): they tell "answers within seconds" from "hangs".
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from runtime.app import create_app
from runtime.embedded import embedded_postgres, temporal_dev_server
from runtime.worker import build_worker
from schemas.accounts import Role
from scripts.service_process import ServiceProcess as Service
from scripts.service_process import alive, free_port, gone_within
from service.temporal import connect
from store.db import open_pool
from store.migrate import apply_migrations
from tests.casekit import HELD_FORM
from tests.test_api import V1, conversation, http_client, login_session, new_case_id, opening

DEADLINE = timedelta(seconds=3)


def settings_for(task_queue: str) -> Settings:
    return Settings().model_copy(update={"task_queue": task_queue, "update_timeout": DEADLINE})


@contextlib.asynccontextmanager
async def app_on(env_client: Any, pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings, client=env_client, pool=pool)
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def back_office(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The back office's API token and an ABH caseworker's session, on one client."""
    session = await login_session(app, Role.ABH)
    token = await app.state.accounts.create_api_token("backoffice")
    async with http_client(app, session=session, token=token) as client:
        yield client


async def timed(call: Any, limit: float = 60) -> tuple[httpx.Response, float]:
    """The answer and how long it took; a call still open after ``limit`` fails the test."""
    began = time.monotonic()
    async with asyncio.timeout(limit):
        response: httpx.Response = await call
    return response, time.monotonic() - began


async def repeated(send: Any, limit: float = 120) -> tuple[httpx.Response, int]:
    """Send until the answer is no 503, waiting Retry-After in between, as a client would.

    A worker that just started may need longer than the deadline for its first workflow task
    (the old worker's sticky queue times out first, its renderer process starts).
    """
    attempts = 0
    async with asyncio.timeout(limit):
        while True:
            attempts += 1
            response: httpx.Response = await send()
            if response.status_code != 503:
                return response, attempts
            await asyncio.sleep(int(response.headers["retry-after"]))


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    value: int = await pool.fetchval(sql, *args)
    return value


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1


# ------------------------------------------------------------------ Temporal gone


async def test_intake_answers_503_within_seconds_while_temporal_is_gone_then_opens_once(
    tmp_path: Path, pool: asyncpg.Pool
) -> None:
    port = free_port()
    settings = settings_for(f"outage-{uuid.uuid4().hex[:8]}")
    case_id = new_case_id()
    async with contextlib.AsyncExitStack() as stack:
        temporal = contextlib.AsyncExitStack()
        address = await temporal.enter_async_context(temporal_dev_server(tmp_path, port, None))
        client = await connect(address, "default")
        app = await stack.enter_async_context(app_on(client, pool, settings))
        http = await stack.enter_async_context(back_office(app))
        await temporal.aclose()  # the server is gone

        response, seconds = await timed(http.post(f"{V1}/status-events", json=opening(case_id)))
        assert_unavailable(response)
        assert seconds < 10, f"answered after {seconds:.1f} s"
        # Nothing half-written: no case row without its workflow.
        assert await count(pool, "SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0
        # The pages need no Temporal: they still answer.
        assert (await http.get("/posteingang")).status_code == 200

        # Back again (same data, same port): the same event opens the case, once.
        await stack.enter_async_context(temporal_dev_server(tmp_path, port, None))
        await stack.enter_async_context(build_worker(client, pool, settings))
        again, _ = await timed(http.post(f"{V1}/status-events", json=opening(case_id)))
        assert again.status_code == 202, again.text
        assert again.json()["duplicate"] is False
        third, _ = await timed(http.post(f"{V1}/status-events", json=opening(case_id)))
        assert third.json()["duplicate"] is True
        assert await count(pool, "SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 1
        opened = "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'opened'"
        assert await count(pool, opened, case_id) == 1


# ------------------------------------------------------------------ PostgreSQL gone


async def test_the_api_and_the_pages_answer_503_while_postgres_is_gone(
    tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    settings = settings_for(f"outage-{uuid.uuid4().hex[:8]}")
    case_id = new_case_id()
    async with contextlib.AsyncExitStack() as stack:
        # Entered first, so the restarted server stops after everything that uses it.
        restarted = stack.enter_context(contextlib.ExitStack())
        postgres = contextlib.ExitStack()
        dsn = postgres.enter_context(embedded_postgres(tmp_path))
        pool = await stack.enter_async_context(open_pool(dsn))
        await apply_migrations(pool)
        app = await stack.enter_async_context(app_on(dev_env.client, pool, settings))
        await stack.enter_async_context(build_worker(dev_env.client, pool, settings))
        http = await stack.enter_async_context(back_office(app))
        postgres.close()  # the server is gone

        response, seconds = await timed(http.post(f"{V1}/status-events", json=opening(case_id)))
        assert_unavailable(response)
        assert seconds < 10, f"answered after {seconds:.1f} s"
        assert response.json()["detail"].startswith("the database is not reachable")

        page, seconds = await timed(http.get("/posteingang"))
        assert_unavailable(page)
        assert seconds < 10
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="de">' in page.text
        assert "Der Dienst ist gerade nicht erreichbar" in page.text

        # Back again: the same event opens the case, once.
        restarted.enter_context(embedded_postgres(tmp_path))
        again, _ = await timed(http.post(f"{V1}/status-events", json=opening(case_id)))
        assert again.status_code == 202, again.text
        assert again.json()["duplicate"] is False
        assert await count(pool, "SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 1


# ------------------------------------------------------------------ no worker: the deadline


async def test_an_event_no_worker_takes_is_a_503_after_the_deadline_and_its_repeat_attaches(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    """The update reached Temporal and waits there: repeated with the same event id, it is the
    same update, carried out once when a worker comes, and answers as the first would have."""
    settings = settings_for(f"outage-{uuid.uuid4().hex[:8]}")
    case_id = new_case_id()
    async with app_on(dev_env.client, pool, settings) as app, back_office(app) as http:
        response, seconds = await timed(http.post(f"{V1}/status-events", json=opening(case_id)))
        assert_unavailable(response)
        assert DEADLINE.total_seconds() - 0.5 <= seconds < 20, f"after {seconds:.1f} s"
        assert "may still be carried out" in response.json()["detail"]

        async with build_worker(dev_env.client, pool, settings):
            attempts = await asyncio.gather(
                *(
                    repeated(lambda: http.post(f"{V1}/status-events", json=opening(case_id)))
                    for _ in range(3)
                )
            )
            repeats = [answer for answer, _ in attempts]
            assert [r.status_code for r in repeats] == [202] * 3, [r.text for r in repeats]
            # Each either attached to the first delivery (duplicate: false, its answer) or came
            # after it was recorded (duplicate: true); either way the event went in once.
            assert {r.json()["stage"] for r in repeats} == {"information_conversation"}
            later = await http.post(f"{V1}/status-events", json=opening(case_id))
            assert later.json()["duplicate"] is True
        events = "SELECT count(*) FROM status_events WHERE case_id = $1"
        assert await count(pool, events, case_id) == 1
        opened = "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'opened'"
        assert await count(pool, opened, case_id) == 1


async def test_a_completion_no_worker_takes_is_a_503_and_the_repeat_completes_the_task_once(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    settings = settings_for(f"outage-{uuid.uuid4().hex[:8]}")
    case_id = new_case_id()
    async with app_on(dev_env.client, pool, settings) as app, back_office(app) as http:
        async with build_worker(dev_env.client, pool, settings):
            opened = await http.post(f"{V1}/status-events", json=opening(case_id))
            assert opened.status_code == 202, opened.text
            tasks = (await http.get(f"{V1}/tasks", params={"case_id": case_id})).json()
        task_id = tasks[0]["task_id"]

        url = f"{V1}/tasks/{task_id}/complete"
        response, seconds = await timed(http.post(url, json=conversation()))
        assert_unavailable(response)
        assert DEADLINE.total_seconds() - 0.5 <= seconds < 20, f"after {seconds:.1f} s"

        async with build_worker(dev_env.client, pool, settings):
            answer, _ = await repeated(lambda: http.post(url, json=conversation()))
            assert answer.status_code == 200, answer.text
            assert answer.json()["stage"] == "referral_offer"
            # Once more, now that the task is closed: the same answer from the store.
            closed = await http.post(url, json=conversation())
            assert closed.status_code == 200, closed.text
            assert closed.json() == answer.json()
        completed = "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'task_completed'"
        assert await count(pool, completed, case_id) == 1


async def test_a_repeated_completion_answers_once_the_case_has_moved_on(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    """A deadline shorter than the step: the repeats attach to the running update and answer
    when the next task is there, never earlier from the store (the caller looks for it)."""
    settings = settings_for(f"outage-{uuid.uuid4().hex[:8]}").model_copy(
        update={"update_timeout": timedelta(milliseconds=100)}
    )
    case_id = new_case_id()
    async with (
        app_on(dev_env.client, pool, settings) as app,
        back_office(app) as http,
        build_worker(dev_env.client, pool, settings),
    ):
        opened = await repeated(lambda: http.post(f"{V1}/status-events", json=opening(case_id)))
        assert opened[0].status_code == 202
        tasks = (await http.get(f"{V1}/tasks", params={"case_id": case_id})).json()
        url = f"{V1}/tasks/{tasks[0]['task_id']}/complete"
        unavailable = 0
        async with asyncio.timeout(120):
            while (answer := await http.post(url, json=conversation())).status_code == 503:
                unavailable += 1  # sent again at once: the densest a client could repeat
        assert answer.status_code == 200, answer.text
        assert unavailable >= 1  # the documents take longer than the deadline
        kinds = await pool.fetch(
            "SELECT kind FROM tasks WHERE case_id = $1 AND status = 'open'", case_id
        )
        assert [row["kind"] for row in kinds] == ["referral_consent"]


async def test_the_task_form_keeps_what_was_entered_when_the_completion_is_not_confirmed(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    settings = settings_for(f"outage-{uuid.uuid4().hex[:8]}")
    case_id = new_case_id()
    async with app_on(dev_env.client, pool, settings) as app, back_office(app) as http:
        async with build_worker(dev_env.client, pool, settings):
            opened = await http.post(f"{V1}/status-events", json=opening(case_id))
            assert opened.status_code == 202, opened.text
            tasks = (await http.get(f"{V1}/tasks", params={"case_id": case_id})).json()
        task_id = tasks[0]["task_id"]
        form = {
            "held_on": conversation()["held_on"],
            "routes_discussed": ["§25b AufenthG"],
            "perspective": "none_evident",
            "route_pursued": "",
            **HELD_FORM,
        }
        page, seconds = await timed(http.post(f"/aufgaben/{task_id}", data=form))
        assert_unavailable(page)
        assert seconds < 20
        assert "Der Dienst ist gerade nicht erreichbar" in page.text
        assert f'value="{form["held_on"]}"' in page.text  # still in the form

        async with build_worker(dev_env.client, pool, settings):
            sent, _ = await repeated(lambda: http.post(f"/aufgaben/{task_id}", data=form))
        assert sent.status_code == 303, sent.text
        assert "meldung=erledigt" in sent.headers["location"]


# ------------------------------------------------------------------ the service as a process


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        service.kill()


GRACE = 20


async def test_sigterm_stops_the_service_within_its_grace_with_a_request_in_flight(
    tmp_path: Path,
) -> None:
    # An API without a worker: an intake hangs in Temporal until the update deadline.
    service = Service(
        tmp_path,
        "--role",
        "api",
        CASE_UPDATE_TIMEOUT="PT5S",
        CASE_SHUTDOWN_GRACE=f"PT{GRACE}S",
    )
    with running(service):
        await asyncio.to_thread(service.wait_ready)
        token = await asyncio.to_thread(service.api_token)
        servers = service.servers()
        assert set(servers) == {"temporal", "postgres"}
        async with httpx.AsyncClient(timeout=120) as http:
            in_flight = asyncio.ensure_future(
                http.post(
                    service.url(f"{V1}/status-events"),
                    json=opening(new_case_id()),
                    headers={"authorization": f"Bearer {token}"},
                )
            )
            await asyncio.sleep(1.5)
            assert not in_flight.done()
            began = time.monotonic()
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(service.wait, GRACE + 30)
            seconds = time.monotonic() - began
            answer = await asyncio.wait_for(in_flight, 30)
        assert code == 0, f"exit {code} after {seconds:.1f} s: {service.stderr_tail()}"
        assert seconds < GRACE + 10, f"stopped after {seconds:.1f} s"
        # The request in flight got its answer before the service went.
        assert_unavailable(answer)
        assert gone_within(servers, 10) == []


async def test_a_second_service_on_one_data_folder_refuses_and_a_killed_ones_lock_does_not_block(
    tmp_path: Path,
) -> None:
    first = Service(tmp_path)
    with running(first):
        await asyncio.to_thread(first.wait_ready)
        servers = first.servers()
        assert first.process is not None

        second = first.same_folder()
        with running(second):
            code = await asyncio.to_thread(second.wait, 120)
            assert code is not None and code != 0, "the second service did not refuse"
            said = second.stderr_tail()
            assert f"in use by process {first.process.pid}" in said
        # The first one lost nothing: its Temporal runs, its API answers.
        assert set(gone_within(servers, 0)) == {"temporal", "postgres"}
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(first.url("/login"))).status_code == 200

        # Killed without a chance to clean up: its servers linger, its lock went with it.
        first.process.kill()
        first.process.wait()
        assert set(gone_within(servers, 0)) == {"temporal", "postgres"}
        third = first.same_folder()
        with running(third):
            await asyncio.to_thread(third.wait_ready)
            assert third.process is not None
            # The leftover dev server was stopped and replaced; PostgreSQL was taken over.
            assert not alive(servers["temporal"])
            now = third.servers()
            third.process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(third.wait, GRACE + 30) == 0
        assert gone_within({**now, "old temporal": servers["temporal"]}, 10) == []
