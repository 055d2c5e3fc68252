"""Drive one case workflow in a test: open it, look at its tasks, complete them, move time."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.failures import FailureClassifier
from config.settings import Settings
from protection import open_keyring, protect
from protection.codec import keyring_of
from runtime.worker import build_activities, build_worker
from schemas.case import CaseStart, CaseUpdateResult, ConsentWithdrawal, SupporterReport
from schemas.events import IntakeResult, StatusEvent
from schemas.local_time import BERLIN
from schemas.process import ProcessTimings
from schemas.residence_routes import load_residence_routes
from schemas.tasks import CompleteTask, TaskCompletion, TaskResult
from schemas.time_rules import default_time_rules
from service.temporal import update_method
from workflows.arrival import ArrivalWorkflow
from workflows.case import CHANGES, CaseWorkflow, opening_search_attributes, workflow_id
from workflows.erasure_watch import ErasureWatchWorkflow

ROUTES = load_residence_routes()
SETTLE_SECONDS = 20.0

PERSON: dict[str, Any] = {
    "given_name": "Testvorname",
    "family_name": "Testnachname",
    "date_of_birth": "1990-04-01",
    "nationality": "IRQ",
    "language": "ar",
    "phone": "+49 2303 123456",
    "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": "Unna"},
}

# How a conversation was held, as every new record says it (schemas/conversation.py): in the
# person's language with an interpreter present, the person there, both documents handed over.
# Without a departure deadline ahead no letter is issued: then NO_LETTER.
HELD: dict[str, Any] = {
    "language": "ar",
    "interpreter": {"language": "ar", "mode": "present"},
    "participants": ["person"],
    "record_copy": "handed_over",
    "departure_letter": "handed_over",
}
NO_LETTER: dict[str, Any] = {**HELD, "departure_letter": None}
# The same as the task form sends it (web/forms.py: the interpreter's language left empty).
HELD_FORM: dict[str, Any] = {
    "language": "ar",
    "interpreter_mode": "present",
    "participants": ["person"],
    "record_copy": "handed_over",
    "departure_letter": "handed_over",
}


class CaseDriver:
    def __init__(
        self,
        env: WorkflowEnvironment,
        pool: asyncpg.Pool,
        task_queue: str,
        timings: ProcessTimings,
        *,
        encrypt: bool = True,
    ) -> None:
        self.env = env
        # The starter's client encrypts like the service's (protection/), so tests see the
        # same payloads in history that production would; only the history recorder does not.
        self.client = protect(env.client, pool, Settings()) if encrypt else env.client
        self.pool = pool
        self.task_queue = task_queue
        self.timings = timings
        self.case_id = f"T-{uuid.uuid4().hex[:12]}"
        self.handle: WorkflowHandle[CaseWorkflow, Any] | None = None
        self._events = 0

    async def now(self) -> datetime:
        return (await self.env.get_current_time()).astimezone(BERLIN)

    async def today(self) -> date:
        return (await self.now()).date()

    async def open(
        self,
        *,
        children: tuple[date, ...] = (),
        deadline: date | None = None,
        status: str = "ausreisepflichtig",
        no_deadline: bool = False,
        born: date | None = None,
        changes: tuple[str, ...] = CHANGES,
    ) -> IntakeResult:
        """``changes``: the workflow changes in force at the start (fewer: a case started
        before the others, which asks ``workflow.patched`` for them)."""
        today = await self.today()
        person = PERSON if born is None else {**PERSON, "date_of_birth": born.isoformat()}
        opening = await self._event(
            status,
            person=person,
            departure_deadline=None
            if no_deadline
            else (deadline or today + timedelta(days=90)).isoformat(),
            household={"children": [{"date_of_birth": born.isoformat()} for born in children]},
        )
        # Time-skipping tests start with start_workflow + update: update-with-start on the
        # time-skipping server fails with "No completion event found" once time is skipped.
        # The start carries the search attributes the service gives a new case.
        self.handle = await self.client.start_workflow(
            CaseWorkflow.run,
            CaseStart(
                case_id=self.case_id,
                timings=self.timings,
                time_rules=default_time_rules(),
                residence_routes=ROUTES,
                changes=changes,
            ),
            id=workflow_id(self.case_id),
            task_queue=self.task_queue,
            search_attributes=opening_search_attributes(opening, today),
        )
        return await self.handle.execute_update(update_method(CaseWorkflow.status_event), opening)

    async def event(
        self, status: str, *, event_id: str | None = None, **fields: Any
    ) -> IntakeResult:
        event = await self._event(status, event_id=event_id, **fields)
        assert self.handle is not None
        return await self.handle.execute_update(update_method(CaseWorkflow.status_event), event)

    async def _event(
        self, status: str, *, event_id: str | None = None, **fields: Any
    ) -> StatusEvent:
        self._events += 1
        return StatusEvent.model_validate(
            {
                "event_id": event_id or f"{self.case_id}-e{self._events}",
                "case_id": self.case_id,
                "status": status,
                "effective_date": (await self.today()).isoformat(),
                **fields,
            }
        )

    async def tasks(self, status: str = "open") -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT task_id::text, kind, queue, status, overdue, due_at FROM tasks "
            "WHERE case_id = $1 AND status = $2 ORDER BY created_at",
            self.case_id,
            status,
        )

    async def open_kinds(self) -> list[str]:
        return [task["kind"] for task in await self.tasks()]

    async def task_id(self, kind: str) -> str:
        matching: list[str] = [t["task_id"] for t in await self.tasks() if t["kind"] == kind]
        assert len(matching) == 1, f"expected one open {kind} task, open: {await self.open_kinds()}"
        return matching[0]

    async def complete(
        self, kind: str, completion: TaskCompletion, *, household_born: Sequence[date] = ()
    ) -> TaskResult:
        """``household_born``: what the service would add of the household's other cases."""
        assert self.handle is not None
        return await self.handle.execute_update(
            update_method(CaseWorkflow.complete_task),
            CompleteTask(
                task_id=await self.task_id(kind),
                completion=completion,
                household_born=list(household_born),
            ),
        )

    async def withdraw(self) -> CaseUpdateResult:
        assert self.handle is not None
        return await self.handle.execute_update(
            update_method(CaseWorkflow.withdraw_consent),
            ConsentWithdrawal(withdrawn_on=await self.today()),
        )

    async def supporter(self, *, representative: bool = True) -> CaseUpdateResult:
        assert self.handle is not None
        return await self.handle.execute_update(
            update_method(CaseWorkflow.register_supporter),
            SupporterReport(
                name="Unterstützerin", contact="0170 000000", is_representative=representative
            ),
        )

    async def stage(self) -> str:
        assert self.handle is not None
        return await self.handle.query(CaseWorkflow.stage)

    async def case_row(self) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", self.case_id)
        assert row is not None
        return row

    async def timeline_kinds(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT kind FROM timeline WHERE case_id = $1 ORDER BY seq", self.case_id
        )
        return [row["kind"] for row in rows]

    async def notices(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT kind FROM notices WHERE case_id = $1 ORDER BY created_at", self.case_id
        )
        return [row["kind"] for row in rows]

    async def terminate(self) -> None:
        if self.handle is None:
            return
        with contextlib.suppress(RPCError):  # already closed
            await self.handle.terminate("test finished")

    async def skip(self, duration: timedelta) -> None:
        """Move time on, then wait until the case has done what that time brought.

        The time-skipping server can answer the sleep while the workflow is still at work on
        a timer that fired (a task row not written yet, seen on a loaded machine): so the
        case is settled only when it has no workflow task and no activity outstanding.
        """
        await self.env.sleep(duration)
        if self.handle is None:
            return
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SETTLE_SECONDS
        while loop.time() < give_up:
            described = (await self.handle.describe()).raw_description
            if described.workflow_execution_info.close_time.seconds:
                return
            if not described.pending_activities and not described.HasField("pending_workflow_task"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the case did not settle within {SETTLE_SECONDS} s of a skip")


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    *,
    task_queue: str | None = None,
    **worker_options: Any,
) -> AsyncIterator[str]:
    task_queue = task_queue or f"test-{uuid.uuid4().hex}"
    async with build_worker(env.client, pool, Settings(), task_queue=task_queue, **worker_options):
        yield task_queue


@asynccontextmanager
async def worker_replacing(
    env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    replacements: dict[str, Callable[..., Any]],
    *,
    encrypt: bool = True,
) -> AsyncIterator[str]:
    """The service's worker (every activity, the failure classifier), with the activities
    named in ``replacements`` (by their method name, e.g. ``register_supporter``) swapped
    for stand-ins registered under the same activity name."""
    task_queue = f"test-{uuid.uuid4().hex}"
    client = protect(env.client, pool, Settings()) if encrypt else env.client
    keys = keyring_of(client) if encrypt else open_keyring(pool, Settings())
    activities = [
        fn for fn in build_activities(pool, keys) if getattr(fn, "__name__", "") not in replacements
    ]
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflow, ArrivalWorkflow, ErasureWatchWorkflow],
        activities=[*activities, *replacements.values()],
        interceptors=[FailureClassifier()],
    ):
        yield task_queue
