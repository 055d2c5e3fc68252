"""``/healthz``, ``/readyz`` and ``/metrics`` of the API, in process, on real servers.

What an orchestrator and Prometheus would notice: alive without asking anyone, ready only
when the database, Temporal, the schema and the key ring are fit (each check named, with the
reason it failed, 503 otherwise, in time even when Temporal does not answer), and figures that
move with the intake and the tasks, without a case id or a name in them.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from protection.master import KeyRingData
from runtime.app import create_app
from tests.test_api import V1, event, http_client, new_case_id, open_case, opening


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def checks(answer: httpx.Response) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in answer.json()["checks"]}


async def test_the_api_is_alive_and_ready_naming_each_check(app: FastAPI) -> None:
    async with http_client(app) as anonymous:
        alive = await anonymous.get("/healthz")
        assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
        # The worker beside the app polls its fresh task queue within moments of its start.
        give_up = time.monotonic() + 20
        while True:
            ready = await anonymous.get("/readyz")
            if checks(ready)["workers"]["ok"] or time.monotonic() > give_up:
                break
            await asyncio.sleep(0.2)
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True
    assert {name: check["ok"] for name, check in checks(ready).items()} == {
        "database": True,
        "temporal": True,
        "migrations": True,
        "key_ring": True,
        "workers": True,
    }
    assert checks(ready)["workers"]["required"] is False


async def test_without_a_worker_the_api_stays_ready_and_says_why(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    settings = Settings().model_copy(update={"task_queue": f"nobody-{new_case_id()}"})
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with app.router.lifespan_context(app), http_client(app) as anonymous:
        ready = await anonymous.get("/readyz")
        scraped = samples((await anonymous.get("/metrics")).text)
    assert ready.status_code == 200, ready.text
    workers = checks(ready)["workers"]
    assert (workers["ok"], workers["required"]) == (False, False)
    assert "no worker polls the task queue" in workers["reason"]
    assert scraped[("case_ready_check", (("check", "workers"),))] == 0
    assert scraped[("case_ready", ())] == 1


async def test_readiness_names_a_pending_migration_and_a_foreign_key_ring(
    app: FastAPI, pool: asyncpg.Pool, dev_env: WorkflowEnvironment
) -> None:
    await app.state.keys.key_for("system")  # a data key under this process's ring
    async with http_client(app) as anonymous:
        last = await pool.fetchval("SELECT max(version) FROM schema_migrations")
        await pool.execute("DELETE FROM schema_migrations WHERE version = $1", last)
        behind = await anonymous.get("/readyz")
    assert behind.status_code == 503
    assert behind.json()["ready"] is False
    assert checks(behind)["migrations"]["ok"] is False
    assert "1 migrations pending" in checks(behind)["migrations"]["reason"]
    assert checks(behind)["database"]["ok"] is True

    # Another process given another ring: every payload the first one wrote would be lost on it.
    other = KeyRingData.generate()
    settings = app.state.settings.model_copy(update={"master_keys": SecretStr(other.to_json())})
    stranger = create_app(settings, client=dev_env.client, pool=pool)
    async with stranger.router.lifespan_context(stranger), http_client(stranger) as anonymous:
        refused = await anonymous.get("/readyz")
    assert refused.status_code == 503
    ring = checks(refused)["key_ring"]
    assert ring["ok"] is False
    assert app.state.keys.masters.current_id in ring["reason"]
    assert other.current not in ring["reason"]


@pytest.mark.parametrize("server", ["gone", "silent"])
async def test_readiness_says_in_time_that_temporal_does_not_answer(
    pool: asyncpg.Pool, server: str
) -> None:
    with socket.socket() as silent:
        # "silent" takes the connection (the kernel does, into the backlog) and never speaks;
        # "gone": nothing listens. The client connects lazily, at its first call.
        silent.bind(("127.0.0.1", 0))
        if server == "silent":
            silent.listen(8)
        port = silent.getsockname()[1]
        nowhere = await Client.connect(
            f"127.0.0.1:{port}", data_converter=pydantic_data_converter, lazy=True
        )
        app = create_app(Settings(), client=nowhere, pool=pool)
        async with app.router.lifespan_context(app), http_client(app) as anonymous:
            started = time.monotonic()
            answer = await anonymous.get("/readyz")
            took = time.monotonic() - started
    assert answer.status_code == 503
    temporal = checks(answer)["temporal"]
    assert temporal["ok"] is False and temporal["reason"], temporal
    assert checks(answer)["database"]["ok"] is True
    assert took < Settings().probe_timeout.total_seconds() + 1.5


async def test_metrics_count_the_intake_and_show_open_tasks_without_ids(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    async with http_client(app) as anonymous:
        before = samples((await anonymous.get("/metrics")).text)
    accepted = ("case_intake_events_total", (("outcome", "accepted"),))
    invalid = ("case_intake_events_total", (("outcome", "invalid"),))
    unauthenticated = ("case_intake_events_total", (("outcome", "unauthenticated"),))
    open_abh = ("case_tasks_open", (("queue", "abh"), ("stage", "information_conversation")))
    assert before[accepted] == 0 and before[open_abh] == 0

    case_id = await open_case(http)
    assert (await http.post(f"{V1}/status-events", json=event(case_id, 2, status="x"))).is_error
    async with http_client(app) as anonymous:
        nobody = await anonymous.post(f"{V1}/status-events", json=opening(new_case_id()))
        assert nobody.status_code == 401
        scraped = await anonymous.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = samples(scraped.text)
    assert after[accepted] == 1
    assert after[invalid] == 1
    assert after[unauthenticated] == 1
    assert after[open_abh] == 1
    assert after[("case_figures_up", ())] == 1
    assert after[("case_ready", ())] == 1
    assert after[("case_outbox_failed", ())] == 0
    assert ("case_renderer_in_flight", ()) in after
    assert after[("case_codec_decoded_total", (("outcome", "decrypted"),))] > 0
    # Bounded labels only: no case id, no name, no town.
    assert case_id not in scraped.text
    assert "Testnachname" not in scraped.text
    labels = {name for key in after for name, _ in key[1]}
    assert labels <= {"outcome", "queue", "stage", "check"}


async def test_metrics_want_the_token_when_one_is_set(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    settings = Settings().model_copy(update={"metrics_token": SecretStr("geheim-123")})
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with app.router.lifespan_context(app), http_client(app) as anonymous:
        refused = await anonymous.get("/metrics")
        wrong = await anonymous.get("/metrics", headers={"authorization": "Bearer falsch"})
        taken = await anonymous.get("/metrics", headers={"authorization": "Bearer geheim-123"})
        # The probes stay open: an orchestrator sends no token.
        ready = await anonymous.get("/readyz")
    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert refused.headers["www-authenticate"] == "Bearer"
    assert taken.status_code == 200
    assert re.search(r"^case_intake_events_total\{outcome=\"accepted\"\} 0", taken.text, re.M)
    assert ready.status_code == 200


async def test_one_process_with_both_roles_is_not_ready_while_its_worker_is_stopped(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    running = [True]
    app = create_app(
        Settings(), client=dev_env.client, pool=pool, worker_running=lambda: running[0]
    )
    async with app.router.lifespan_context(app), http_client(app) as anonymous:
        ready = await anonymous.get("/readyz")
        running[0] = False  # stopping, or ended after a failure
        stopped = await anonymous.get("/readyz")
    assert ready.status_code == 200 and checks(ready)["worker"]["ok"] is True
    assert stopped.status_code == 503
    assert checks(stopped)["worker"] == {
        **checks(stopped)["worker"],
        "ok": False,
        "reason": "the Temporal worker is not running",
        "required": True,
    }
