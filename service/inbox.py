"""The web inbox (Posteingang): claim, release, hand over, a team lead's reassignment in bulk,
and the views with counts.

Every change of assignment is kept in ``task_assignments`` (who, what, to whom, when, with
the comment of a hand-over). A task belongs to a group by its queue: the ABH's caseworkers
work the ``abh`` queue, the KI's staff the ``ki`` queue. Refusals are members of
:mod:`service.errors` with German messages: only the pages show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from schemas.accounts import Account, Role
from schemas.audit import AuditAction, AuditDraft
from schemas.case import Stage
from schemas.case_documents import CaseDocument
from schemas.errors import FieldError
from schemas.inputs import describe_de, forbidden_character
from schemas.local_time import BERLIN
from schemas.operations import (
    ARRIVAL_STAGE,
    BusinessFigures,
    OldestOpenTask,
    OutboxBacklog,
    TaskFigure,
)
from schemas.paging import decode_cursor, encode_cursor
from schemas.reassignment import ReassignmentResult, TaskAssignment, TaskReassignment
from schemas.tasks import InboxViewRow, Queue, TaskCursor, TaskKind, TaskView
from service.errors import Conflict, Forbidden, Invalid, NotFound
from store import accounts as account_store
from store import audit
from store import documents as document_store
from store import inbox as store
from store import notices as notice_store
from store import outbox as outbox_store

COMMENT_MAX = 500
# A notice waits minutes for its mail, a day at most in digest-only mode: longer is a fault.
NOTICE_PATIENCE = timedelta(days=1)


class View(StrEnum):
    MINE = "meine"
    GROUP = "gruppe"
    OVERDUE = "ueberfaellig"
    THIS_WEEK = "woche"
    TEAM = "alle"  # every open task of the team: the team lead's view

    def open_to(self, account: Account) -> bool:
        """Whether the account's inbox offers the view (the team's whole list: leads)."""
        return self is not View.TEAM or account.team_lead


class InboxTask(BaseModel):
    task_id: str
    case_id: str | None
    arrival_reference: str | None = None  # a task of an arrival (Neu zugewandert) has no case
    kind: TaskKind
    queue: Queue
    due_at: datetime
    overdue: bool
    assigned_to: int | None
    # Whom it is about, as the team may know it (None: not known to this team, or erased).
    given_name: str | None = None
    family_name: str | None = None
    town: str | None = None
    departure_deadline: date | None = None


class InboxPage(BaseModel):
    view: View
    tasks: list[InboxTask]
    counts: dict[View, int]
    next_cursor: str | None = None  # more tasks in this view: the next page starts there


class TaskPage(BaseModel):
    """A page of a team's open tasks (the API's list)."""

    tasks: list[TaskView]
    next_cursor: str | None


class TaskDetail(BaseModel):
    """A task as its form shows it, with the person's town (of the case or the arrival)."""

    task_id: str
    case_id: str | None
    arrival_reference: str | None
    kind: str
    queue: str
    status: str
    due_at: datetime
    overdue: bool
    assigned_to: int | None
    detail: str | None
    town: str | None


class StageCount(BaseModel):
    stage: str
    cases: int


class QueueCount(BaseModel):
    queue: str
    open: int
    overdue: int
    unclaimed: int


class StepFailures(BaseModel):
    step: str | None
    open: int


class Overview(BaseModel):
    """The operations page: cases per stage, open tasks per queue, steps given up."""

    stages: list[StageCount]
    queues: list[QueueCount]
    failures: list[StepFailures]
    # Notices without a mail yet, and those waiting longer than a day (no address, or the
    # dispatcher not running: activities/notices.py).
    notices_waiting: int = 0
    notices_waiting_long: int = 0


class Assignment(BaseModel):
    action: str
    by_account: int
    from_account: int | None
    to_account: int | None
    comment: str | None
    at: datetime


def queue_of(role: Role) -> Queue | None:
    """The task queue a role works on; operations and admins have none."""
    return {Role.ABH: Queue.ABH, Role.KI: Queue.KI}.get(role)


def week_end(now: datetime) -> datetime:
    """The end of the current week (Sunday 24:00, Europe/Berlin)."""
    local = now.astimezone(BERLIN)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday + timedelta(days=7), time(), BERLIN)


def _now() -> datetime:
    return datetime.now(UTC)


# A page of the inbox: a screenful a caseworker reads, and cheap to render.
PAGE_SIZE = 50


def _after(cursor: str | None) -> TaskCursor | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, TaskCursor)
    except ValueError:
        raise Invalid.field("cursor", "not a cursor of this list") from None


def _next(rows: Sequence[InboxViewRow], limit: int) -> str | None:
    """The cursor after the page's last row, when the query found one more."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(TaskCursor(due_at=last.due_at, task_id=last.task_id))


class InboxService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    def _queue(account: Account) -> Queue:
        queue = queue_of(account.role)
        if queue is None:
            raise Forbidden("Ihre Rolle hat keinen Posteingang.")
        return queue

    async def page(
        self, account: Account, view: View, *, cursor: str | None = None, limit: int = PAGE_SIZE
    ) -> InboxPage:
        """One page of a view of the account's inbox, with every view's count. ``cursor``: a
        page's ``next_cursor`` (one that does not read as such is refused, ``Invalid``)."""
        queue = self._queue(account)
        now = _now()
        end = week_end(now)
        after = _after(cursor)
        async with self._pool.acquire() as con:
            rows = await store.view_tasks_with_person(
                con,
                view.value,
                queue.value,
                account.account_id,
                now,
                end,
                limit=limit + 1,
                after=after,
            )
            counts = await store.view_counts(con, queue.value, account.account_id, now, end)
        return InboxPage(
            view=view,
            tasks=[InboxTask.model_validate(row.model_dump()) for row in rows[:limit]],
            counts={View(name): count for name, count in counts.items()},
            next_cursor=_next(rows, limit),
        )

    async def open_tasks(
        self, account: Account, *, case_id: str | None, limit: int, cursor: str | None
    ) -> TaskPage:
        """The open tasks of the account's team, of one case or all, earliest due first."""
        queue = self._queue(account)
        now = _now()
        async with self._pool.acquire() as con:
            rows = await store.view_tasks(
                con,
                None,
                queue.value,
                account.account_id,
                now,
                week_end(now),
                limit=limit + 1,
                after=_after(cursor),
                case_id=case_id,
            )
        return TaskPage(
            tasks=[TaskView.model_validate(row.model_dump()) for row in rows[:limit]],
            next_cursor=_next(rows, limit),
        )

    async def task(self, account: Account, task_id: str) -> TaskDetail:
        """A task of the account's own inbox (another group's is refused)."""
        async with self._pool.acquire() as con:
            task = await store.task(con, task_id)
        if task is None:
            raise NotFound("Diese Aufgabe gibt es nicht.")
        queue = queue_of(account.role)
        if queue is None or task.queue != queue.value:
            raise Forbidden("Diese Aufgabe gehört nicht zum Posteingang Ihrer Gruppe.")
        return TaskDetail.model_validate(task.model_dump())

    async def consent_form(self, case_id: str) -> CaseDocument | None:
        """The latest consent form made for the case, to print for the consent task."""
        async with self._pool.acquire() as con:
            made = await document_store.documents_of_case(con, case_id)
        return next((d for d in reversed(made) if d.kind == "einwilligung"), None)

    async def overview(self) -> Overview:
        async with self._pool.acquire() as con:
            stages = await store.cases_per_stage(con)
            queues = await store.open_tasks_per_queue(con, _now())
            failures = await store.open_step_failures(con)
            waiting, waiting_long = await notice_store.waiting(con, _now() - NOTICE_PATIENCE)
        return Overview(
            stages=[StageCount.model_validate(row.model_dump()) for row in stages],
            queues=[QueueCount.model_validate(row.model_dump()) for row in queues],
            failures=[StepFailures.model_validate(row.model_dump()) for row in failures],
            notices_waiting=waiting,
            notices_waiting_long=waiting_long,
        )

    async def figures(self) -> BusinessFigures:
        """Open and overdue tasks per queue and stage (every combination, zeros included),
        the oldest open task of each queue and the outbox's backlog: numbers only."""
        now = _now()
        async with self._pool.acquire() as con:
            counted = await store.open_tasks_per_queue_and_stage(con, now)
            oldest = {row.queue: row for row in await store.oldest_open_tasks(con)}
            outbox = await outbox_store.backlog(con, now)
        found = {(row.queue, row.stage): row for row in counted}
        stages = [stage.value for stage in Stage if stage is not Stage.CLOSED] + [ARRIVAL_STAGE]
        # A closed case has no open task, unless something is wrong: then it is shown.
        stages += sorted({stage for _, stage in found} - set(stages))

        def hours(since: datetime | None) -> float | None:
            return None if since is None else round((now - since).total_seconds() / 3600, 1)

        return BusinessFigures(
            measured_at=now,
            tasks=[
                TaskFigure(
                    queue=queue,
                    stage=stage,
                    open=row.open if (row := found.get((queue.value, stage))) else 0,
                    overdue=row.overdue if row else 0,
                )
                for queue in Queue
                for stage in stages
            ],
            oldest_open=[
                OldestOpenTask(
                    queue=queue,
                    created_at=first.created_at if (first := oldest.get(queue.value)) else None,
                    age_hours=hours(first.created_at if first else None),
                )
                for queue in Queue
            ],
            outbox=OutboxBacklog(
                queued=outbox.queued,
                queued_due=outbox.queued_due,
                failed=outbox.failed,
                oldest_queued_at=outbox.oldest_queued_at,
                oldest_queued_age_hours=hours(outbox.oldest_queued_at),
            ),
        )

    async def claim(self, task_id: str, account: Account) -> TaskAssignment:
        return await self._change(task_id, account, "claim", account.account_id, None)

    async def release(self, task_id: str, account: Account) -> TaskAssignment:
        return await self._change(task_id, account, "release", None, None)

    async def hand_over(
        self, task_id: str, account: Account, to_account: int, comment: str
    ) -> TaskAssignment:
        """The task to an active colleague of the same role (``to_account``), with a comment
        (the API's :class:`HandOver` has checked it already; the page's form not)."""
        # A textarea sends CR LF; the comment is kept with plain newlines.
        comment = comment.replace("\r\n", "\n").strip()
        if character := forbidden_character(comment, multiline=True):
            raise Invalid(f"Kommentar: {describe_de(character)}")
        if not comment:
            raise Invalid("Bitte einen Kommentar zur Übergabe angeben.")
        if len(comment) > COMMENT_MAX:
            raise Invalid(f"Der Kommentar darf höchstens {COMMENT_MAX} Zeichen haben.")
        async with self._pool.acquire() as con:
            to = await account_store.account_by_id(con, to_account)
        if to is None or not to.active or to.role is not account.role:
            raise Invalid(
                "Übergabe nur an aktive Kolleg*innen der eigenen Gruppe.",
                [FieldError(field="assignee", reason="not an active account of your team")],
            )
        return await self._change(task_id, account, "hand_over", to.account_id, comment)

    async def deputise(self, task_id: str, account: Account, reason: str) -> TaskAssignment:
        """A colleague of the same group takes the task of an absent one, saying why."""
        reason = reason.strip()
        if character := forbidden_character(reason):
            raise Invalid(f"Grund: {describe_de(character)}")
        if not reason:
            raise Invalid("Bitte den Grund der Vertretung angeben.")
        if len(reason) > COMMENT_MAX:
            raise Invalid(f"Der Grund darf höchstens {COMMENT_MAX} Zeichen haben.")
        return await self._change(task_id, account, "deputy", account.account_id, reason)

    async def reassign(self, lead: Account, request: TaskReassignment) -> ReassignmentResult:
        """A team lead gives open tasks of the team to a colleague of the same role, or back
        to the team's queue (``assignee`` None), in one transaction: all of them or none.

        Refused, nothing changed: a caller who leads no team (:class:`Forbidden`); an
        unknown task (``task_ids.N``) or an assignee who is no active colleague of the
        lead's role (``assignee``), :class:`Invalid`; a task in another team's queue
        (:class:`Forbidden`); a task no longer open (:class:`Conflict`). Each change is a
        'reassign' row of ``task_assignments`` and an audit entry (task, from, to: ids);
        a task already with the assignee stays as it is (``unchanged``).
        """
        queue = queue_of(lead.role)
        if queue is None or not lead.team_lead:
            raise Forbidden("only a team lead reassigns tasks in bulk")
        wanted = list(dict.fromkeys(request.task_ids))  # each once, in the order given
        async with self._pool.acquire() as con, con.transaction():
            if request.assignee is not None:
                to = await account_store.account_by_id(con, request.assignee)
                if to is None or not to.active or to.role is not lead.role:
                    raise Invalid.field(
                        "assignee", f"not an active account of the {lead.role.value} team"
                    )
            found = {UUID(task.task_id): task for task in await store.lock_tasks(con, wanted)}
            unknown = [
                FieldError(field=f"task_ids.{position}", reason="unknown task")
                for position, task_id in enumerate(request.task_ids)
                if task_id not in found
            ]
            if unknown:
                raise Invalid("; ".join(f"{e.field}: {e.reason}" for e in unknown), unknown)
            tasks = [found[task_id] for task_id in wanted]
            foreign = [task.task_id for task in tasks if task.queue != queue.value]
            if foreign:
                raise Forbidden(
                    f"not in the {queue.value} team's inbox: task " + ", ".join(foreign)
                )
            closed = [task.task_id for task in tasks if task.status != "open"]
            if closed:
                raise Conflict("no longer open: task " + ", ".join(closed))
            changes = [
                (task.task_id, task.assigned_to)
                for task in tasks
                if task.assigned_to != request.assignee
            ]
            if changes:
                await store.reassign_tasks(
                    con,
                    changes,
                    by_account=lead.account_id,
                    to_account=request.assignee,
                    comment=request.comment,
                    at=_now(),
                )
            # Last in the transaction: the audit log's append lock is held until commit.
            for task in tasks:
                if task.assigned_to == request.assignee:
                    continue
                await audit.append(
                    con,
                    AuditDraft.by(
                        lead,
                        AuditAction.TASK_REASSIGNED,
                        case_id=task.case_id,
                        detail={
                            "task_id": task.task_id,
                            "from_account": task.assigned_to,
                            "to_account": request.assignee,
                        },
                    ),
                )
        moved = {task_id for task_id, _ in changes}
        return ReassignmentResult(
            assignee=request.assignee,
            reassigned=[task.task_id for task in tasks if task.task_id in moved],
            unchanged=[task.task_id for task in tasks if task.task_id not in moved],
        )

    async def colleagues(self, account: Account) -> list[Account]:
        """The active accounts of the account's role, by name: whom a task can go to."""
        async with self._pool.acquire() as con:
            everyone = await account_store.list_accounts(con)
        mates = [a for a in everyone if a.active and a.role is account.role]
        return sorted(mates, key=lambda a: (a.display_name.casefold(), a.account_id))

    async def _change(
        self,
        task_id: str,
        account: Account,
        action: str,
        new_assignee: int | None,
        comment: str | None,
    ) -> TaskAssignment:
        queue = self._queue(account)
        async with self._pool.acquire() as con, con.transaction():
            task = await store.lock_task(con, task_id)
            if task is None or task.queue != queue.value:
                raise NotFound("Diese Aufgabe gibt es in Ihrem Posteingang nicht.")
            if task.status != "open":
                raise Conflict("Die Aufgabe ist bereits abgeschlossen.")
            current = task.assigned_to
            if action == "claim" and current not in (None, account.account_id):
                raise Conflict("Die Aufgabe hat bereits jemand anderes übernommen.")
            if action in ("release", "hand_over") and current not in (None, account.account_id):
                raise Conflict("Die Aufgabe ist einer anderen Person zugewiesen.")
            if action == "deputy" and current in (None, account.account_id):
                raise Conflict("Vertretung nur für eine Aufgabe, die jemand anderem gehört.")
            if action == "release" and current is None:
                raise Conflict("Die Aufgabe ist niemandem zugewiesen.")
            if current == new_assignee:
                return TaskAssignment(task_id=task_id, assigned_to=current)
            await store.set_assignee(con, task_id, new_assignee)
            await store.insert_assignment(
                con,
                task_id=task_id,
                action=action,
                by_account=account.account_id,
                from_account=current,
                to_account=new_assignee,
                comment=comment,
                at=_now(),
            )
        return TaskAssignment(task_id=task_id, assigned_to=new_assignee)

    async def history(self, task_id: str) -> list[Assignment]:
        async with self._pool.acquire() as con:
            rows = await store.assignments(con, task_id)
        return [Assignment.model_validate(row.model_dump()) for row in rows]
