"""The site under test: the FastAPI app with a worker on the dev server and a fresh database.

Shared by the HTTP-level page tests (test_web) and the browser tests (test_browser): people
are accounts of a role, cases are opened through the case service as the intake would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from runtime.app import create_app
from runtime.worker import build_worker
from schemas.accounts import Role
from schemas.events import StatusEvent
from schemas.local_time import BERLIN
from service.accounts import AccountService
from service.cases import CaseService

PASSWORD = "ein-langes-testpasswort"


def today() -> date:
    return datetime.now(BERLIN).date()


@dataclass
class Site:
    app: FastAPI
    pool: asyncpg.Pool

    @property
    def accounts(self) -> AccountService:
        service: AccountService = self.app.state.accounts
        return service

    @property
    def cases(self) -> CaseService:
        service: CaseService = self.app.state.cases
        return service

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://test",
            headers={"Origin": "http://test"},
            timeout=60,
        )

    async def person(self, role: Role, name: str | None = None) -> httpx.AsyncClient:
        """A new account of ``role``, logged in through the form."""
        username = name or f"{role.value}-{uuid.uuid4().hex[:8]}"
        await self.accounts.create_account(username, f"Test {username}", role, PASSWORD)
        async with self.client() as login:
            response = await login.post(
                "/login", data={"username": username, "password": PASSWORD, "next": "/"}
            )
            assert response.status_code == 303, response.text
        client = self.client()  # not yet opened: the tests use it with ``async with``
        client.cookies = response.cookies
        return client

    async def open_case(
        self,
        language: str = "ar",
        children: tuple[str, ...] = (),
        *,
        family_name: str = "Testnachname",
        given_name: str = "Testvorname",
        town: str = "Unna",
    ) -> str:
        """``children``: the household's, by date of birth (ISO)."""
        case_id = f"WEB-{uuid.uuid4().hex[:12]}"
        event = StatusEvent.model_validate(
            {
                "event_id": f"{case_id}-e1",
                "case_id": case_id,
                "status": "ausreisepflichtig",
                "effective_date": today().isoformat(),
                "departure_deadline": (today() + timedelta(days=90)).isoformat(),
                "person": {
                    "given_name": given_name,
                    "family_name": family_name,
                    "date_of_birth": "1990-04-01",
                    "nationality": "IRQ",
                    "language": language,
                    "phone": "+49 2303 123456",
                    "address": {
                        "street": "Bahnhofstraße 1",
                        "postal_code": "59423",
                        "town": town,
                    },
                },
                "household": {"children": [{"date_of_birth": born} for born in children]},
            }
        )
        await self.cases.submit_event(event)
        return case_id

    async def task_id(self, case_id: str, kind: str) -> str:
        """The open task of ``kind``; waits a little, as the workflow opens it after a step."""
        for _ in range(100):
            task_id: str | None = await self.pool.fetchval(
                "SELECT task_id::text FROM tasks"
                " WHERE case_id = $1 AND kind = $2 AND status = 'open'",
                case_id,
                kind,
            )
            if task_id:
                return task_id
            await asyncio.sleep(0.1)
        raise AssertionError(f"no open {kind} task in case {case_id}")


@pytest.fixture
async def site(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[Site]:
    task_queue = f"web-{uuid.uuid4().hex}"
    settings = Settings().model_copy(update={"task_queue": task_queue, "cookie_secure": False})
    app = create_app(settings, client=dev_env.client, pool=pool)
    async with (
        build_worker(dev_env.client, pool, settings, task_queue=task_queue),
        app.router.lifespan_context(app),
    ):
        yield Site(app, pool)
