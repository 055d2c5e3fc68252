"""An erasure owed to a withdrawal outlives its case (issue 13, point 11): a case closing
while the KI has still to confirm a partner's erasure leaves that task open; unconfirmed at
its due date, it turns overdue and the data protection contact is told; the KI confirms it
after the close as before. Real API, worker, dev server and PostgreSQL, with a due time of
seconds."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from tests.test_api import V1, complete, event, logged_in, serving, to_follow_up, today
from tests.test_canary import task_of, wait_for

DUE_SECONDS = 3


@pytest.fixture
def quick_erasure_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_ERASURE_CONFIRMATION_DUE", f"PT{DUE_SECONDS}S")
    monkeypatch.setenv("CASE_REMINDER_LEAD", "PT1S")


async def withdrawn_then_departed(abh: httpx.AsyncClient, ki: httpx.AsyncClient) -> str:
    """A case whose partner received data; the consent withdrawn; the person departed."""
    case_id = await to_follow_up(abh, ki)
    withdrawn = await abh.post(
        f"{V1}/cases/{case_id}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await task_of(ki, case_id, "ki", "erasure_confirmation")
    departed = event(case_id, 2, status="ausgereist", departure_deadline=None)
    assert (await abh.post(f"{V1}/status-events", json=departed)).status_code == 202

    async def closed() -> bool:
        case = await abh.get(f"{V1}/cases/{case_id}")
        return bool(case.json()["stage"] == "closed")

    await wait_for(closed, "the case to close")
    return case_id


def confirmation() -> dict[str, str]:
    """The KI's confirmation that the partner erased what it received."""
    return {"kind": "erasure_confirmation", "confirmed_on": str(today()), "how": "per E-Mail"}


async def timeline_details(pool: asyncpg.Pool, case_id: str) -> list[str]:
    rows = await pool.fetch("SELECT detail FROM timeline WHERE case_id = $1 ORDER BY seq", case_id)
    return [row["detail"] for row in rows]


async def test_an_erasure_unconfirmed_after_the_close_is_reported_and_can_be_confirmed(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, quick_erasure_confirmation: None
) -> None:
    async with (
        serving(dev_env, pool) as app,
        logged_in(app, Role.ABH, token=True) as abh,
        logged_in(app, Role.KI) as ki,
    ):
        case_id = await withdrawn_then_departed(abh, ki)
        # Closed, and the KI's task is still in its inbox.
        task = await task_of(ki, case_id, "ki", "erasure_confirmation")

        async def reported() -> bool:
            details = await timeline_details(pool, case_id)
            return any("an den Datenschutz gemeldet" in d for d in details)

        await wait_for(reported, "the unconfirmed erasure to be reported", seconds=30)
        # By the watch that outlived the case: after the case closed.
        kinds = [
            row["kind"]
            for row in await pool.fetch(
                "SELECT kind FROM timeline WHERE case_id = $1 ORDER BY seq", case_id
            )
        ]
        closed_at = len(kinds) - 1 - kinds[::-1].index("stage")  # the last stage: closed
        assert kinds.index("erasure_unconfirmed") > closed_at, kinds
        row = await pool.fetchrow(
            "SELECT status, overdue FROM tasks WHERE task_id = $1::uuid", task
        )
        assert row is not None and (row["status"], row["overdue"]) == ("open", True)
        overdue = await pool.fetchval(
            "SELECT count(*) FROM notices WHERE task_id = $1::uuid AND kind = 'overdue'", task
        )
        assert overdue == 1

        body = confirmation()
        done = await complete(ki, task, body)
        assert done.status_code == 200, done.text
        assert done.json()["stage"] == "closed"
        confirmed = await pool.fetchval(
            "SELECT confirmed_on FROM erasure_requests WHERE case_id = $1 AND recipient LIKE"
            " 'partner:%'",
            case_id,
        )
        assert confirmed == today()
        # Sent again, the same confirmation answers the same; another one is a conflict.
        again = await complete(ki, task, body)
        assert again.status_code == 200, again.text
        other = await complete(ki, task, body | {"how": "telefonisch"})
        assert other.status_code == 409, other.text


async def test_an_erasure_confirmed_after_the_close_before_its_due_date_is_not_reported(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, quick_erasure_confirmation: None
) -> None:
    async with (
        serving(dev_env, pool) as app,
        logged_in(app, Role.ABH, token=True) as abh,
        logged_in(app, Role.KI) as ki,
    ):
        case_id = await withdrawn_then_departed(abh, ki)
        task = await task_of(ki, case_id, "ki", "erasure_confirmation")
        body = confirmation()
        assert (await complete(ki, task, body)).status_code == 200
        await asyncio.sleep(DUE_SECONDS + 2)  # past the due date the watch was waiting for
        details = await timeline_details(pool, case_id)
        assert not any("an den Datenschutz gemeldet" in d for d in details), details
        assert details[-1] == "erasure_confirmation"  # the KI's confirmation, the last entry
