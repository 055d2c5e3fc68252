"""The web inbox (Posteingang): claim, release, hand over, and the four views with counts.

Every change of assignment is kept in ``task_assignments`` (who, what, to whom, when, with
the comment of a hand-over). A task belongs to a group by its queue: the ABH's caseworkers
work the ``abh`` queue, the KI's staff the ``ki`` queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

import asyncpg
from pydantic import BaseModel

from schemas.accounts import Account, Role
from schemas.inputs import describe_de, forbidden_character
from schemas.local_time import BERLIN
from schemas.tasks import Queue, TaskKind
from store import inbox as store

COMMENT_MAX = 500


class View(StrEnum):
    MINE = "meine"
    GROUP = "gruppe"
    OVERDUE = "ueberfaellig"
    THIS_WEEK = "woche"


class InboxError(Exception):
    """A refused inbox action; ``status`` is the HTTP status, ``message`` German."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class InboxTask(BaseModel):
    task_id: str
    case_id: str | None
    arrival_reference: str | None = None  # a task of an arrival (Neu zugewandert) has no case
    kind: TaskKind
    queue: Queue
    due_at: datetime
    overdue: bool
    assigned_to: int | None


class InboxPage(BaseModel):
    view: View
    tasks: list[InboxTask]
    counts: dict[View, int]


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


class InboxService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    def _queue(account: Account) -> Queue:
        queue = queue_of(account.role)
        if queue is None:
            raise InboxError(403, "Ihre Rolle hat keinen Posteingang.")
        return queue

    async def page(self, account: Account, view: View) -> InboxPage:
        queue = self._queue(account)
        now = _now()
        end = week_end(now)
        async with self._pool.acquire() as con:
            rows = await store.view_tasks(
                con, view.value, queue.value, account.account_id, now, end
            )
            counts = await store.view_counts(con, queue.value, account.account_id, now, end)
        return InboxPage(
            view=view,
            tasks=[InboxTask.model_validate(dict(row)) for row in rows],
            counts={View(name): count for name, count in counts.items()},
        )

    async def claim(self, task_id: str, account: Account) -> None:
        await self._change(task_id, account, "claim", account.account_id, None)

    async def release(self, task_id: str, account: Account) -> None:
        await self._change(task_id, account, "release", None, None)

    async def hand_over(self, task_id: str, account: Account, to: Account, comment: str) -> None:
        # A textarea sends CR LF; the comment is kept with plain newlines.
        comment = comment.replace("\r\n", "\n").strip()
        if character := forbidden_character(comment, multiline=True):
            raise InboxError(422, f"Kommentar: {describe_de(character)}")
        if not comment:
            raise InboxError(422, "Bitte einen Kommentar zur Übergabe angeben.")
        if len(comment) > COMMENT_MAX:
            raise InboxError(422, f"Der Kommentar darf höchstens {COMMENT_MAX} Zeichen haben.")
        if not to.active or to.role is not account.role:
            raise InboxError(422, "Übergabe nur an aktive Kolleg*innen der eigenen Gruppe.")
        await self._change(task_id, account, "hand_over", to.account_id, comment)

    async def _change(
        self,
        task_id: str,
        account: Account,
        action: str,
        new_assignee: int | None,
        comment: str | None,
    ) -> None:
        queue = self._queue(account)
        async with self._pool.acquire() as con, con.transaction():
            task = await store.lock_task(con, task_id)
            if task is None or task["queue"] != queue.value:
                raise InboxError(404, "Diese Aufgabe gibt es in Ihrem Posteingang nicht.")
            if task["status"] != "open":
                raise InboxError(409, "Die Aufgabe ist bereits abgeschlossen.")
            current = task["assigned_to"]
            if action == "claim" and current not in (None, account.account_id):
                raise InboxError(409, "Die Aufgabe hat bereits jemand anderes übernommen.")
            if action in ("release", "hand_over") and current not in (None, account.account_id):
                raise InboxError(409, "Die Aufgabe ist einer anderen Person zugewiesen.")
            if action == "release" and current is None:
                raise InboxError(409, "Die Aufgabe ist niemandem zugewiesen.")
            if current == new_assignee:
                return
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

    async def history(self, task_id: str) -> list[Assignment]:
        async with self._pool.acquire() as con:
            rows = await store.assignments(con, task_id)
        return [Assignment.model_validate(dict(row)) for row in rows]
