"""The retention schedule and legal holds.

``ensure_schedule`` keeps one Temporal Schedule, ``retention-erasure``, that starts the
:class:`workflows.retention.RetentionWorkflow` every night at 02:30 Europe/Berlin (overlapping
runs are skipped). Every worker calls it at start; it creates the schedule or brings an
existing one up to date, so it is safe to call from many processes.
"""

from __future__ import annotations

import asyncpg
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from schemas.accounts import Account
from schemas.audit import AuditAction, AuditDraft
from schemas.retention import RetentionRun
from service.errors import NotFound
from store import audit
from store import erasure as store
from workflows.retention import RetentionWorkflow

SCHEDULE_ID = "retention-erasure"
RUN_ID_PREFIX = "retention-erasure-run"


def schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionRun(),
            id=RUN_ID_PREFIX,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(2)], minute=[ScheduleRange(30)])],
            time_zone_name="Europe/Berlin",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, task_queue: str) -> None:
    wanted = schedule(task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await client.get_schedule_handle(SCHEDULE_ID).update(update)


async def run_now(client: Client) -> None:
    """Start a run at once (``python -m commands.retention run-now``)."""
    await client.get_schedule_handle(SCHEDULE_ID).trigger(overlap=ScheduleOverlapPolicy.SKIP)


async def set_legal_hold(
    pool: asyncpg.Pool, case_id: str, reason: str | None, *, actor: str, role: str
) -> None:
    """Stop (``reason`` given) or allow again (None) the erasure of a case.

    ``actor`` and ``role`` name who did it: the change and its audit entry commit together.
    The reason stays on the case, not in the audit log (it is free text).
    """
    action = AuditAction.LEGAL_HOLD_SET if reason else AuditAction.LEGAL_HOLD_LIFTED
    entry = AuditDraft(actor=actor, role=role, action=action, case_id=case_id)
    async with pool.acquire() as con, con.transaction():
        if not await store.set_legal_hold(con, case_id, reason):
            raise NotFound("unknown case")
        await audit.append(con, entry)


class RetentionService:
    """Legal holds for the API: who sets one is the logged-in admin."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def set_legal_hold(self, case_id: str, reason: str | None, *, by: Account) -> None:
        """Stop (``reason`` given) or allow again (None) the erasure of a case."""
        await set_legal_hold(self._pool, case_id, reason, actor=by.username, role=by.role.value)
