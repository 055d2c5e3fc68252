"""The workflows' tasks (``tasks``) and the notices about them (``notices``).

One function per query; writers take a connection (the caller owns the transaction) and are
safe to repeat. The inbox's own reads and its assignment live in ``store.inbox``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.records import NewTask, Notice, TaskClosure
from schemas.tasks import OpenTaskRow, Queue, TaskTownRow
from store.db import Connection


async def insert_task(con: Connection, task: NewTask) -> None:
    """The task's row, assigned to whoever completed the case's last task of the same team
    (the one it was handed over to, if so), while their account is active: a case stays with
    its caseworker. The assignment is kept in ``task_assignments`` as 'inherit'."""
    inherited = await con.fetchval(
        "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at, detail,"
        " due_rule_version, assigned_to) "
        "SELECT $1, $2, $3, $4, 'open', $5, $6, $7, $8, ("
        "  SELECT t.assigned_to FROM tasks t JOIN accounts a ON a.account_id = t.assigned_to"
        "  WHERE t.case_id = $2 AND t.queue = $4 AND t.status = 'completed' AND a.active"
        "  ORDER BY t.closed_at DESC LIMIT 1) "
        "ON CONFLICT DO NOTHING RETURNING assigned_to",
        task.task_id,
        task.entry.case_id,
        task.kind.value,
        task.queue.value,
        task.due_at,
        task.entry.at,
        task.detail,
        task.rule_version,
    )
    if inherited is not None:
        await con.execute(
            "INSERT INTO task_assignments (task_id, action, by_account, to_account, at)"
            " VALUES ($1, 'inherit', $2, $2, $3)",
            task.task_id,
            inherited,
            task.entry.at,
        )


async def confirm_erasure(con: Connection, task_id: str, confirmed_on: date) -> None:
    """The erasure request the task is about (its ``detail``, the recipient) is confirmed."""
    await con.execute(
        "UPDATE erasure_requests e SET confirmed_on = $2 FROM tasks t"
        " WHERE t.task_id = $1 AND e.case_id = t.case_id AND e.recipient = t.detail",
        task_id,
        confirmed_on,
    )


async def open_erasure_confirmation(con: Connection, task_id: str) -> bool:
    """Whether the task is an erasure confirmation still open."""
    found = await con.fetchval(
        "SELECT true FROM tasks WHERE task_id = $1 AND kind = 'erasure_confirmation'"
        " AND status = 'open'",
        task_id,
    )
    return bool(found)


async def close_task(con: Connection, closure: TaskClosure) -> None:
    completion = closure.completion.model_dump(mode="json") if closure.completion else None
    await con.execute(
        "UPDATE tasks SET status = $2, closed_at = $3, completion = $4, decided_rule_version = $5"
        " WHERE task_id = $1 AND status = 'open'",
        closure.task_id,
        closure.status.value,
        closure.entry.at,
        completion,
        closure.rule_version,
    )


async def mark_overdue(con: Connection, task_id: str) -> None:
    await con.execute("UPDATE tasks SET overdue = true WHERE task_id = $1", task_id)


async def get_task(con: Connection, task_id: str) -> TaskTownRow | None:
    """A task of a case or (``arrival_reference``) of an arrival, with the person's town."""
    row = await con.fetchrow(
        "SELECT t.task_id::text, t.case_id, a.reference AS arrival_reference, t.kind, t.queue, "
        "t.status, t.due_at, t.overdue, COALESCE(c.town, a.town) AS town FROM tasks t "
        "LEFT JOIN cases c ON c.case_id = t.case_id "
        "LEFT JOIN arrivals a ON a.arrival_id = t.arrival_id WHERE t.task_id = $1",
        task_id,
    )
    return None if row is None else TaskTownRow.model_validate(dict(row))


async def task_completion(con: Connection, task_id: str) -> dict[str, Any] | None:
    """What a completed task was completed with (None: open, cancelled, or erased since)."""
    completion: dict[str, Any] | None = await con.fetchval(
        "SELECT completion FROM tasks WHERE task_id = $1", task_id
    )
    return completion


async def open_tasks(
    con: Connection, *, queue: Queue | None = None, case_id: str | None = None, limit: int = 500
) -> list[OpenTaskRow]:
    rows = await con.fetch(
        "SELECT t.task_id::text, t.case_id, a.reference AS arrival_reference, t.kind, t.queue, "
        "t.status, t.due_at, t.overdue, t.detail FROM tasks t "
        "LEFT JOIN arrivals a ON a.arrival_id = t.arrival_id "
        "WHERE t.status = 'open' AND ($1::text IS NULL OR t.queue = $1) "
        "AND ($2::text IS NULL OR t.case_id = $2) ORDER BY t.due_at, t.task_id LIMIT $3",
        queue.value if queue else None,
        case_id,
        limit,
    )
    return [OpenTaskRow.model_validate(dict(row)) for row in rows]


async def notice_sent(con: Connection, key: str) -> bool:
    return bool(await con.fetchval("SELECT true FROM notices WHERE key = $1", key))


async def insert_notice(con: Connection, notice: Notice) -> None:
    await con.execute(
        "INSERT INTO notices (key, case_id, queue, kind, task_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        notice.key,
        notice.entry.case_id,
        notice.queue.value,
        notice.kind.value,
        notice.task_id,
        notice.entry.at,
    )
