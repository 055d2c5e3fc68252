"""Case store, task inbox and notices: what the workflow records about a case."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from schemas.case import Stage
from schemas.erasure import erasure_unconfirmed
from schemas.local_time import BERLIN
from schemas.records import (
    ActivityName,
    CaseOpening,
    EventRecord,
    IncidentRecord,
    NewTask,
    Notice,
    NoticeKind,
    StageRecord,
    SupporterRecord,
    TaskClosure,
    UnconfirmedErasure,
)
from schemas.retention import RetentionRules, default_retention_rules
from schemas.tasks import ErasureConfirmation, Queue
from store import cases, erasure, incidents, rule_sets, tasks, timeline


class CaseStore:
    """Activities that write the case file (Ausländerakte), its tasks and its timeline."""

    def __init__(self, pool: asyncpg.Pool, retention: RetentionRules | None = None) -> None:
        self._pool = pool
        self._retention = retention or default_retention_rules()

    @activity.defn(name=ActivityName.OPEN_CASE)
    async def open_case(self, opening: CaseOpening) -> None:
        event = opening.event
        assert event.person is not None
        async with self._pool.acquire() as con, con.transaction():
            await cases.insert_case(con, event, opening.entry.at)
            if not await timeline.add_entry(con, opening.entry):
                return
            if opening.reopened:
                await cases.reopen_case(con, event, opening.entry.at)
            await cases.upsert_person(con, event.case_id, event.person)
            await cases.replace_household(con, event.case_id, event)
            await cases.insert_status_event(con, event, opening.entry.at)

    @activity.defn(name=ActivityName.RECORD_EVENT)
    async def record_event(self, record: EventRecord) -> None:
        event = record.event
        async with self._pool.acquire() as con, con.transaction():
            if not await timeline.add_entry(con, record.entry):
                return
            await cases.insert_status_event(con, event, record.entry.at)
            await cases.update_case_status(con, event)
            if event.person is not None:
                await cases.upsert_person(con, event.case_id, event.person)
            await cases.replace_household(con, event.case_id, event)

    @activity.defn(name=ActivityName.RECORD_STAGE)
    async def record_stage(self, record: StageRecord) -> None:
        async with self._pool.acquire() as con, con.transaction():
            if await timeline.add_entry(con, record.entry):
                await cases.update_case(con, record)
                if record.stage is Stage.CLOSED and record.outcome is not None:
                    # The erasure date is fixed when the case closes (schemas/retention.py).
                    closed_on = record.entry.at.astimezone(BERLIN).date()
                    # The rules of the version in force that day; the configured ones before.
                    rules = await rule_sets.retention_in_force(con, closed_on) or self._retention
                    rule = rules.for_outcome(record.outcome)
                    await erasure.set_erase_after(
                        con, record.entry.case_id, rule.erase_after(closed_on)
                    )

    @activity.defn(name=ActivityName.CREATE_TASK)
    async def create_task(self, task: NewTask) -> None:
        async with self._pool.acquire() as con, con.transaction():
            if await timeline.add_entry(con, task.entry):
                await tasks.insert_task(con, task)

    @activity.defn(name=ActivityName.CLOSE_TASK)
    async def close_task(self, closure: TaskClosure) -> None:
        async with self._pool.acquire() as con, con.transaction():
            if await timeline.add_entry(con, closure.entry):
                await tasks.close_task(con, closure)
                if isinstance(closure.completion, ErasureConfirmation):
                    await tasks.confirm_erasure(
                        con, closure.task_id, closure.completion.confirmed_on
                    )

    @activity.defn(name=ActivityName.RECORD_INCIDENT)
    async def record_incident(self, incident: IncidentRecord) -> None:
        """A time rule broken as the enforcement was carried out: documented, in one
        transaction with its timeline entry."""
        async with self._pool.acquire() as con, con.transaction():
            if await timeline.add_entry(con, incident.entry):
                await incidents.insert_incident(con, incident)

    @activity.defn(name=ActivityName.NOTIFY)
    async def notify(self, notice: Notice) -> None:
        """Queue a message to the team's inbox (the outbox is delivered separately)."""
        async with self._pool.acquire() as con, con.transaction():
            if not await timeline.add_entry(con, notice.entry):
                return
            await tasks.insert_notice(con, notice)
            if notice.kind is NoticeKind.OVERDUE and notice.task_id is not None:
                await tasks.mark_overdue(con, notice.task_id)

    @activity.defn(name=ActivityName.REPORT_UNCONFIRMED_ERASURE)
    async def report_unconfirmed_erasure(self, report: UnconfirmedErasure) -> None:
        """After its case closed: an erasure confirmation still open at its due date turns
        overdue and is reported to the data protection contact, as a running case does; once
        (the overdue notice's key is the one the case would have used)."""
        key = f"{report.task_id}:{NoticeKind.OVERDUE.value}"
        async with self._pool.acquire() as con, con.transaction():
            await cases.lock_case(con, report.case_id)
            if not await tasks.open_erasure_confirmation(con, report.task_id):
                return  # confirmed meanwhile
            if await tasks.notice_sent(con, key):
                return
            entry = await timeline.append(
                con,
                report.case_id,
                report.at,
                "erasure_unconfirmed",
                erasure_unconfirmed(report.recipient),
            )
            notice = Notice(
                entry=entry,
                key=key,
                queue=Queue.KI,
                kind=NoticeKind.OVERDUE,
                task_id=report.task_id,
            )
            await tasks.insert_notice(con, notice)
            await tasks.mark_overdue(con, report.task_id)

    @activity.defn(name=ActivityName.REGISTER_SUPPORTER)
    async def register_supporter(self, record: SupporterRecord) -> None:
        """Store the supporter and tell the ABH at once, in one transaction."""
        async with self._pool.acquire() as con, con.transaction():
            if not await timeline.add_entry(con, record.entry):
                return
            await cases.insert_supporter(
                con, record.supporter_id, record.entry.case_id, record.report, record.entry.at
            )
            await tasks.insert_notice(
                con,
                Notice(
                    entry=record.entry,
                    key=f"{record.supporter_id}:supporter_reported",
                    queue=Queue.ABH,
                    kind=NoticeKind.SUPPORTER_REPORTED,
                ),
            )
