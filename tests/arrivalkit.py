"""Drive one arrival workflow (Neu zugewandert) in a test, and the events that start one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import date, datetime
from typing import Any

import asyncpg
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from protection import protect
from schemas.arrivals import ArrivalResult, ArrivalStart, ArrivalTimings
from schemas.events import IntakeResult, StatusEvent
from schemas.local_time import BERLIN
from service.temporal import update_method
from workflows.arrival import ArrivalWorkflow, arrival_workflow_id


def today() -> date:
    return datetime.now(BERLIN).date()


def new_reference() -> str:
    return f"NZ-{uuid.uuid4().hex[:12]}"


def arrival(
    reference: str,
    n: int = 1,
    *,
    email: str | None = "neu.zugang@example.org",
    town: str = "Unna",
    language: str = "uk",
    given_name: str = "Olena",
    family_name: str = "Beispiel",
    **changes: Any,
) -> dict[str, Any]:
    person: dict[str, Any] = {
        "given_name": given_name,
        "family_name": family_name,
        "date_of_birth": "1991-05-06",
        "nationality": "UKR",
        "language": language,
        "phone": "+49 2303 4711",
        "address": {"street": "Neue Straße 5", "postal_code": "59423", "town": town},
    }
    if email is not None:
        person["email"] = email
    body: dict[str, Any] = {
        "event_id": f"{reference}-a{n}",
        "case_id": reference,
        "status": "neu_zugewandert",
        "effective_date": today().isoformat(),
        "person": person,
    }
    return body | changes


async def wait_for(query: str, *args: object, pool: asyncpg.Pool, seconds: float = 60) -> Any:
    for _ in range(int(seconds * 10)):
        value = await pool.fetchval(query, *args)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {query}")


class ArrivalDriver:
    """One arrival workflow on the time-skipping server, started as the tests of the case
    workflow start theirs (start_workflow, then the update: update-with-start loses its result
    on that server once time is skipped)."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        pool: asyncpg.Pool,
        task_queue: str,
        *,
        encrypt: bool = True,
    ) -> None:
        self.env = env
        self.pool = pool
        # Encrypted like the service's client; not for recording the replay histories.
        self.client = protect(env.client, pool, Settings()) if encrypt else env.client
        self.task_queue = task_queue
        self.reference = new_reference()
        self.handle: WorkflowHandle[ArrivalWorkflow, ArrivalResult] | None = None

    async def start(self, **fields: Any) -> IntakeResult:
        self.handle = await self.client.start_workflow(
            ArrivalWorkflow.run,
            ArrivalStart(reference=self.reference, timings=ArrivalTimings()),
            id=arrival_workflow_id(self.reference),
            task_queue=self.task_queue,
        )
        return await self.send(**fields)

    async def send(self, n: int = 1, **fields: Any) -> IntakeResult:
        assert self.handle is not None
        event = StatusEvent.model_validate(arrival(self.reference, n, **fields))
        return await self.handle.execute_update(update_method(ArrivalWorkflow.arrival_event), event)

    async def task_id(self) -> str:
        task_id: str = await wait_for(
            "SELECT t.task_id::text FROM tasks t JOIN arrivals a USING (arrival_id)"
            " WHERE a.reference = $1 AND t.status = 'open'",
            self.reference,
            pool=self.pool,
        )
        return task_id

    async def result(self) -> ArrivalResult:
        assert self.handle is not None
        return await self.handle.result()

    async def terminate(self) -> None:
        if self.handle is None:
            return
        with contextlib.suppress(RPCError):  # finished already
            await self.handle.terminate("test finished")
