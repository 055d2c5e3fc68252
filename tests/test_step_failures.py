"""A step the case file refuses is given up, shown to the ABH, and never blocks the case.

Real PostgreSQL refuses real data here (a NUL character: SQLSTATE 22021) inside a stand-in
for one activity; everything else is the service as it runs: the dev server, the worker's
other activities, the case service, the pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.failures import data_error
from config.settings import Settings
from runtime.app import create_app
from schemas.accounts import Role
from schemas.arrivals import NewArrival
from schemas.case import SupporterReport
from schemas.errors import ErrorType
from schemas.events import StatusEvent
from schemas.process import ProcessTimings
from schemas.records import ActivityName, CaseOpening, SupporterRecord
from service.errors import Invalid
from tests.arrivalkit import arrival, new_reference
from tests.casekit import CaseDriver, worker_replacing
from tests.sitekit import Site, today

NUL = "A\x00B"
# A stand-in that never finishes would hang the test; this bound makes it fail instead.
PROMPTLY = 30


async def refused_by_postgres(pool: asyncpg.Pool) -> None:
    """What an activity meets when the case file cannot hold a value: PostgreSQL's refusal."""
    await pool.execute("SELECT $1::text", NUL)


@asynccontextmanager
async def site_replacing(
    env: WorkflowEnvironment, pool: asyncpg.Pool, replacements: dict[str, Callable[..., Any]]
) -> AsyncIterator[Site]:
    """The site of test_web (API, pages, case service) on a worker with stand-ins."""
    async with worker_replacing(env, pool, replacements) as task_queue:
        settings = Settings().model_copy(update={"task_queue": task_queue, "cookie_secure": False})
        app = create_app(settings, client=env.client, pool=pool)
        async with app.router.lifespan_context(app):
            yield Site(app, pool)


@pytest.fixture
async def refusing_site(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[Site]:
    """The site of test_web, its worker refusing every supporter's data (counted)."""
    attempts: list[int] = []

    @activity.defn(name=ActivityName.REGISTER_SUPPORTER)
    async def register_supporter(record: SupporterRecord) -> None:
        attempts.append(activity.info().attempt)
        await refused_by_postgres(pool)

    async with site_replacing(dev_env, pool, {"register_supporter": register_supporter}) as site:
        site.attempts = attempts  # type: ignore[attr-defined]
        yield site


async def test_a_refused_step_becomes_an_abh_task_and_the_case_goes_on(
    refusing_site: Site,
) -> None:
    site = refusing_site
    case_id = await site.open_case()
    supporter = SupporterReport(
        name="Unterstützerin", contact="0170 000000", is_representative=False
    )

    reporter = await site.accounts.create_account(
        f"abh-{case_id.lower()}", "Sachbearbeitung", Role.ABH, "ein-langes-testpasswort"
    )
    # Before: retried for ever, and this call (and every later event of the case) hung.
    answer = await asyncio.wait_for(
        site.cases.register_supporter(case_id, supporter, reporter), PROMPTLY
    )
    assert answer.case_id == case_id
    assert site.attempts == [1]  # type: ignore[attr-defined]  # refused data: never retried

    review = await site.task_id(case_id, "step_failed")
    row = await site.pool.fetchrow(
        "SELECT queue, detail FROM tasks WHERE task_id = $1::uuid", review
    )
    assert row is not None and (row["queue"], row["detail"]) == ("abh", "supporter.register")
    kinds = [r["kind"] for r in await site.pool.fetch(
        "SELECT kind FROM timeline WHERE case_id = $1 ORDER BY seq", case_id
    )]  # fmt: skip
    assert "step_failed" in kinds

    # The case still takes events and works its stages.
    event = {
        "event_id": f"{case_id}-e2",
        "case_id": case_id,
        "status": "ausreisepflichtig",
        "effective_date": today().isoformat(),
        "departure_deadline": (today() + timedelta(days=60)).isoformat(),
    }
    taken = await asyncio.wait_for(
        site.cases.submit_event(StatusEvent.model_validate(event)), PROMPTLY
    )
    assert not taken.duplicate and taken.stage == "information_conversation"
    await site.task_id(case_id, "information_conversation")

    # Operations see how many steps are waiting for a look, by step, no personal data.
    async with await site.person(Role.OPS) as ops:
        before = await ops.get("/betrieb")
    assert "Unterstützer*in erfassen" in before.text

    # The ABH sees it in German, names the step, and closes it through the form.
    async with await site.person(Role.ABH) as abh:
        page = await abh.get(f"/aufgaben/{review}")
        assert page.status_code == 200
        assert "Fehler bei der Verarbeitung" in page.text
        assert "Unterstützer*in erfassen" in page.text
        assert NUL not in page.text and "Unterstützerin" not in page.text
        refused = await abh.post(f"/aufgaben/{review}", data={"checked_on": "", "action": ""})
        assert refused.status_code == 422
        done = await abh.post(
            f"/aufgaben/{review}",
            data={"checked_on": today().isoformat(), "action": "Von Hand in der Akte ergänzt"},
        )
        assert done.status_code == 303, done.text
    status = await site.pool.fetchval("SELECT status FROM tasks WHERE task_id = $1::uuid", review)
    assert status == "completed"
    async with await site.person(Role.OPS) as ops:
        after = await ops.get("/betrieb")
    assert "Unterstützer*in erfassen" not in after.text


async def test_an_opening_the_case_file_refuses_is_a_422_and_opens_nothing(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    @activity.defn(name=ActivityName.OPEN_CASE)
    async def open_case(opening: CaseOpening) -> None:
        await refused_by_postgres(pool)

    async with site_replacing(dev_env, pool, {"open_case": open_case}) as site:
        task_queue = site.app.state.settings.task_queue
        with pytest.raises(Invalid) as refused:
            await asyncio.wait_for(site.open_case(), PROMPTLY)
        assert [error.field for error in refused.value.fields] == ["event"]
        case_id = await pool.fetchval("SELECT count(*) FROM cases")
        assert case_id == 0
        listed = [
            execution
            async for execution in dev_env.client.list_workflows(f"TaskQueue = '{task_queue}'")
        ]
        assert [execution.status for execution in listed] == [WorkflowExecutionStatus.FAILED]


async def test_an_arrival_the_store_refuses_is_a_422_and_can_be_reported_again(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    @activity.defn(name=ActivityName.RECORD_ARRIVAL)
    async def record_arrival(new: NewArrival) -> None:
        await refused_by_postgres(pool)

    reference = new_reference()
    async with site_replacing(dev_env, pool, {"record_arrival": record_arrival}) as site:
        with pytest.raises(Invalid) as refused:
            await asyncio.wait_for(
                site.cases.submit_event(StatusEvent.model_validate(arrival(reference))), PROMPTLY
            )
        assert [error.field for error in refused.value.fields] == ["event"]
    assert await pool.fetchval("SELECT count(*) FROM arrivals") == 0
    # The id is free again: with a working store the same reference is taken in.
    async with site_replacing(dev_env, pool, {}) as site:
        taken = await site.cases.submit_event(StatusEvent.model_validate(arrival(reference, 2)))
        assert not taken.duplicate


async def test_a_step_failing_for_other_reasons_is_retried_then_given_up(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    """The database unreachable, say: retried with a growing pause, but not for ever."""
    attempts: list[int] = []

    @activity.defn(name=ActivityName.REGISTER_SUPPORTER)
    async def register_supporter(record: SupporterRecord) -> None:
        attempts.append(activity.info().attempt)
        raise ConnectionRefusedError("the database is not reachable")

    timings = ProcessTimings(step_retry_limit=timedelta(seconds=4))
    async with worker_replacing(
        dev_env, pool, {"register_supporter": register_supporter}
    ) as task_queue:
        case = CaseDriver(dev_env, pool, task_queue, timings)
        try:
            await case.open()
            await asyncio.wait_for(case.supporter(), PROMPTLY)
            assert len(attempts) >= 2  # it was retried ...
            assert "step_failed" in await case.open_kinds()
            assert await case.stage() == "information_conversation"  # ... and the case goes on
        finally:
            await case.terminate()


async def test_the_classifier_tells_refused_data_from_an_outage(pool: asyncpg.Pool) -> None:
    refusals: list[BaseException] = []
    for query, args in [
        ("SELECT $1::text", ("A\x00B",)),  # NUL: 22021
        ("SELECT $1::int4", (2**31,)),  # asyncpg cannot encode it
        ("SELECT 'nicht-datum'::date", ()),  # 22007
        ("INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at) "
         "VALUES (gen_random_uuid(), 'kein-fall', 'x', 'abh', 'open', now(), now())", ()),
    ]:  # fmt: skip
        with pytest.raises(Exception) as caught:
            await pool.execute(query, *args)
        refusals.append(caught.value)
    for exc in refusals:
        classified = data_error(exc)
        assert isinstance(classified, ApplicationError), type(exc)
        assert classified.type == ErrorType.DATA_ERROR and classified.non_retryable
        assert "A\x00B" not in classified.message and "kein-fall" not in classified.message
        assert classified.__cause__ is None
    assert data_error(ConnectionRefusedError()) is None
    assert data_error(TimeoutError()) is None
    assert data_error(ApplicationError("no consent", non_retryable=True)) is None
