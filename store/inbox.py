"""Queries of the web inbox and the case pages: assignment, views with counts, case details.

One function per query; writers take a connection (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from schemas.case import (
    KiCaseView,
    KiContactData,
    KiPersonalData,
    KiReferralRow,
    KiTask,
    StageCountRow,
)
from schemas.operations import OldestTaskRow, TaskFigureRow
from schemas.retention import RetentionRow
from schemas.tasks import (
    AssignmentRow,
    CaseTaskRow,
    CheckInRow,
    InboxTaskRow,
    InboxTaskTownRow,
    InboxViewPersonRow,
    InboxViewRow,
    QueueCountRow,
    StepFailureCountRow,
    TaskCursor,
    TaskStatus,
)
from store.db import Connection

_TASK_COLUMNS = (
    "t.task_id::text, t.case_id, t.kind, t.queue, t.status, t.due_at, t.overdue, t.assigned_to, "
    "t.detail"
)
# Tasks of an arrival (Neu zugewandert) have no case: they name the arrival's reference.
_ARRIVAL_JOIN = "LEFT JOIN arrivals a ON a.arrival_id = t.arrival_id "
_ARRIVAL_COLUMNS = ", a.reference AS arrival_reference"

# The inbox views, over the parameters ``p`` (queue, account, now, end of this week).
VIEWS: dict[str, str] = {
    "meine": "t.assigned_to = p.me",
    "gruppe": "t.queue = p.queue AND t.assigned_to IS NULL",
    "ueberfaellig": "t.queue = p.queue AND (t.overdue OR t.due_at < p.now)",
    "woche": "t.queue = p.queue AND NOT t.overdue AND t.due_at >= p.now AND t.due_at < p.week_end",
    # Every open task of the team, whoever holds it: the team lead's view (reassignment).
    "alle": "t.queue = p.queue",
}
# Who the task is about, for the inbox's rows: the ABH reads the case file, the KI only what it
# received on a consent that stands (``ki_readable``, no departure deadline), an arrival's task
# its arrival. Listing opens no case (as the case list): opening the task is logged.
_PERSON_JOIN = {
    "abh": "LEFT JOIN cases c ON c.case_id = t.case_id "
    "LEFT JOIN persons pe ON pe.case_id = t.case_id ",
    "ki": "LEFT JOIN cases c ON c.case_id = t.case_id "
    "LEFT JOIN ki_readable k ON k.case_id = t.case_id ",
}
_PERSON_COLUMNS = {
    "abh": ", coalesce(pe.given_name, a.given_name) AS given_name, "
    "coalesce(pe.family_name, a.family_name) AS family_name, "
    "coalesce(c.town, a.town) AS town, c.departure_deadline",
    "ki": ", coalesce(k.personal_data->>'given_name', a.given_name) AS given_name, "
    "coalesce(k.personal_data->>'family_name', a.family_name) AS family_name, "
    "coalesce(c.town, a.town) AS town, NULL::date AS departure_deadline",
}
_PARAMS = (
    "WITH p AS (SELECT $1::text AS queue, $2::integer AS me, $3::timestamptz AS now, "
    "$4::timestamptz AS week_end) "
)


# -------------------------------------------------------------- assignment


async def lock_task(con: Connection, task_id: str) -> InboxTaskRow | None:
    row = await con.fetchrow(
        f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.task_id = $1 FOR UPDATE", task_id
    )
    return None if row is None else InboxTaskRow.model_validate(dict(row))


async def set_assignee(con: Connection, task_id: str, account_id: int | None) -> None:
    await con.execute("UPDATE tasks SET assigned_to = $2 WHERE task_id = $1", task_id, account_id)


async def insert_assignment(
    con: Connection,
    *,
    task_id: str,
    action: str,
    by_account: int,
    from_account: int | None,
    to_account: int | None,
    comment: str | None,
    at: datetime,
) -> None:
    await con.execute(
        "INSERT INTO task_assignments (task_id, action, by_account, from_account, to_account, "
        "comment, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        task_id,
        action,
        by_account,
        from_account,
        to_account,
        comment,
        at,
    )


async def lock_tasks(con: Connection, task_ids: Sequence[UUID]) -> list[InboxTaskRow]:
    """The tasks of ``task_ids`` that exist, held until the transaction ends; locked in id
    order, so two reassignments of overlapping tasks never wait for each other in a cycle."""
    rows = await con.fetch(
        f"SELECT {_TASK_COLUMNS} FROM tasks t WHERE t.task_id = ANY($1::uuid[])"
        " ORDER BY t.task_id FOR UPDATE",
        list(task_ids),
    )
    return [InboxTaskRow.model_validate(dict(row)) for row in rows]


async def reassign_tasks(
    con: Connection,
    changes: Sequence[tuple[str, int | None]],
    *,
    by_account: int,
    to_account: int | None,
    comment: str | None,
    at: datetime,
) -> None:
    """``changes``: each task and whom it was assigned to; all go to ``to_account``, each
    change kept in ``task_assignments`` as 'reassign'."""
    task_ids = [task_id for task_id, _ in changes]
    await con.execute(
        "UPDATE tasks SET assigned_to = $2 WHERE task_id = ANY($1::uuid[])", task_ids, to_account
    )
    await con.executemany(
        "INSERT INTO task_assignments (task_id, action, by_account, from_account, to_account, "
        "comment, at) VALUES ($1, 'reassign', $2, $3, $4, $5, $6)",
        [(task_id, by_account, before, to_account, comment, at) for task_id, before in changes],
    )


async def assignments(con: Connection, task_id: str) -> list[AssignmentRow]:
    rows = await con.fetch(
        "SELECT action, by_account, from_account, to_account, comment, at "
        "FROM task_assignments WHERE task_id = $1 ORDER BY assignment_id",
        task_id,
    )
    return [AssignmentRow.model_validate(dict(row)) for row in rows]


# ------------------------------------------------------------------- views


async def view_tasks(
    con: Connection,
    view: str | None,
    queue: str,
    account_id: int,
    now: datetime,
    week_end: datetime,
    *,
    limit: int,
    after: TaskCursor | None = None,
    case_id: str | None = None,
) -> list[InboxViewRow]:
    """Open tasks of ``queue``, in one of the inbox's views (None: all of them), of one case
    or all, earliest due first, at most ``limit`` after ``after``: the one list of tasks of the
    pages and the API."""
    query, args = _view_query(view, queue, account_id, now, week_end, limit, after, case_id)
    rows = await con.fetch(query.format(columns="", join=""), *args)
    return [InboxViewRow.model_validate(dict(row)) for row in rows]


async def view_tasks_with_person(
    con: Connection,
    view: str,
    queue: str,
    account_id: int,
    now: datetime,
    week_end: datetime,
    *,
    limit: int,
    after: TaskCursor | None = None,
) -> list[InboxViewPersonRow]:
    """The rows of :func:`view_tasks` with whom each task is about (name, town, departure
    deadline) as the reading team may see it: the inbox page's rows."""
    query, args = _view_query(view, queue, account_id, now, week_end, limit, after, None)
    team = "ki" if queue == "ki" else "abh"
    rows = await con.fetch(
        query.format(columns=_PERSON_COLUMNS[team], join=_PERSON_JOIN[team]), *args
    )
    return [InboxViewPersonRow.model_validate(dict(row)) for row in rows]


def _view_query(
    view: str | None,
    queue: str,
    account_id: int,
    now: datetime,
    week_end: datetime,
    limit: int,
    after: TaskCursor | None,
    case_id: str | None,
) -> tuple[str, list[Any]]:
    """The one statement of both, with ``{columns}`` and ``{join}`` left to fill in."""
    conditions = ["t.status = 'open'", "t.queue = p.queue"]
    if view is not None:
        conditions.append(VIEWS[view])
    args: list[Any] = [queue, account_id, now, week_end, limit]
    if case_id is not None:
        args.append(case_id)
        conditions.append(f"t.case_id = ${len(args)}")
    if after is not None:
        args += [after.due_at, after.task_id]
        conditions.append(f"(t.due_at, t.task_id) > (${len(args) - 1}, ${len(args)}::uuid)")
    query = (
        f"{_PARAMS}SELECT {_TASK_COLUMNS}{_ARRIVAL_COLUMNS}{{columns}} FROM p, tasks t "
        f"{_ARRIVAL_JOIN}{{join}}"
        f"WHERE {' AND '.join(conditions)} ORDER BY t.due_at, t.task_id LIMIT $5"
    )
    return query, args


async def view_counts(
    con: Connection, queue: str, account_id: int, now: datetime, week_end: datetime
) -> dict[str, int]:
    filters = ", ".join(
        f"count(*) FILTER (WHERE {condition}) AS {name}" for name, condition in VIEWS.items()
    )
    row = await con.fetchrow(
        f"{_PARAMS}SELECT {filters} FROM tasks t, p WHERE t.status = 'open'",
        queue,
        account_id,
        now,
        week_end,
    )
    assert row is not None
    return {name: int(row[name]) for name in VIEWS}


async def task(con: Connection, task_id: str) -> InboxTaskTownRow | None:
    """A task of a case or of an arrival (``arrival_reference``), with the person's town."""
    row = await con.fetchrow(
        f"SELECT {_TASK_COLUMNS}{_ARRIVAL_COLUMNS}, COALESCE(c.town, a.town) AS town "
        f"FROM tasks t LEFT JOIN cases c ON c.case_id = t.case_id {_ARRIVAL_JOIN}"
        "WHERE t.task_id = $1",
        task_id,
    )
    return None if row is None else InboxTaskTownRow.model_validate(dict(row))


async def tasks_of_case(
    con: Connection, case_id: str, queue: str | None = None
) -> list[CaseTaskRow]:
    rows = await con.fetch(
        f"SELECT {_TASK_COLUMNS}, t.closed_at FROM tasks t "
        "WHERE t.case_id = $1 AND ($2::text IS NULL OR t.queue = $2) "
        "ORDER BY t.created_at, t.task_id",
        case_id,
        queue,
    )
    return [CaseTaskRow.model_validate(dict(row)) for row in rows]


# -------------------------------------------------------------- case pages


async def representative(con: Connection, case_id: str) -> dict[str, Any] | None:
    """The completion of the latest completed representative task."""
    completion: dict[str, Any] | None = await con.fetchval(
        "SELECT completion FROM tasks WHERE case_id = $1 AND kind = 'representative' "
        "AND status = 'completed' ORDER BY closed_at DESC LIMIT 1",
        case_id,
    )
    return completion


async def ki_case(con: Connection, case_id: str) -> KiCaseView | None:
    """What the KI sees of a case (its page and its API view alike): the three categories it
    received and its own tasks; None when it holds no unwithdrawn, unerased referral."""
    referral = await ki_referral(con, case_id)
    if referral is None:
        return None
    tasks = [
        KiTask.model_validate(row.model_dump()) for row in await tasks_of_case(con, case_id, "ki")
    ]
    return KiCaseView(
        case_id=case_id,
        received_at=referral.received_at,
        personal_data=KiPersonalData.model_validate(referral.personal_data),
        contact_data=KiContactData.model_validate(referral.contact_data),
        residence_status=referral.residence_status,
        open_tasks=[task for task in tasks if task.status == TaskStatus.OPEN],
        done_tasks=[task for task in tasks if task.status != TaskStatus.OPEN],
    )


async def ki_referral(con: Connection, case_id: str) -> KiReferralRow | None:
    """What the KI holds of a case: the three categories, on a disclosure to the KI under a
    consent that is not withdrawn, and not erased. This is also the rule of whether the KI may
    read the case at all (``service.access``) and which cases its list shows: one statement,
    the view ``ki_readable`` (migration 023)."""
    row = await con.fetchrow(
        "SELECT personal_data, contact_data, residence_status, received_at "
        "FROM ki_readable WHERE case_id = $1",
        case_id,
    )
    return None if row is None else KiReferralRow.model_validate(dict(row))


async def check_ins(con: Connection, case_id: str) -> list[CheckInRow]:
    """The case's check-ins (follow_up tasks), the latest first, with whether each reached
    the person (None: open, or not answered)."""
    rows = await con.fetch(
        "SELECT status, (completion->>'reached')::boolean AS reached, due_at, closed_at"
        " FROM tasks WHERE case_id = $1 AND kind = 'follow_up'"
        " ORDER BY created_at DESC, due_at DESC LIMIT 20",
        case_id,
    )
    return [CheckInRow.model_validate(dict(row)) for row in rows]


# -------------------------------------------------------------- operations


async def cases_per_stage(con: Connection) -> list[StageCountRow]:
    rows = await con.fetch(
        "SELECT stage, count(*) AS cases FROM cases GROUP BY stage ORDER BY stage"
    )
    return [StageCountRow.model_validate(dict(row)) for row in rows]


async def open_tasks_per_queue(con: Connection, now: datetime) -> list[QueueCountRow]:
    rows = await con.fetch(
        "SELECT queue, count(*) AS open, "
        "count(*) FILTER (WHERE overdue OR due_at < $1) AS overdue, "
        "count(*) FILTER (WHERE assigned_to IS NULL) AS unclaimed "
        "FROM tasks WHERE status = 'open' GROUP BY queue ORDER BY queue",
        now,
    )
    return [QueueCountRow.model_validate(dict(row)) for row in rows]


async def open_tasks_per_queue_and_stage(con: Connection, now: datetime) -> list[TaskFigureRow]:
    """Open and overdue tasks per queue and the stage of their case (an arrival's task:
    'arrival'); only the combinations that have tasks (the service adds the zeros)."""
    rows = await con.fetch(
        "SELECT t.queue, coalesce(c.stage, 'arrival') AS stage, count(*) AS open,"
        " count(*) FILTER (WHERE t.overdue OR t.due_at < $1) AS overdue"
        " FROM tasks t LEFT JOIN cases c ON c.case_id = t.case_id"
        " WHERE t.status = 'open' GROUP BY 1, 2",
        now,
    )
    return [TaskFigureRow.model_validate(dict(row)) for row in rows]


async def oldest_open_tasks(con: Connection) -> list[OldestTaskRow]:
    """Per queue, the open task created first (the index ``tasks_open`` has the queue)."""
    rows = await con.fetch(
        "SELECT DISTINCT ON (queue) queue, created_at, due_at FROM tasks"
        " WHERE status = 'open' ORDER BY queue, created_at"
    )
    return [OldestTaskRow.model_validate(dict(row)) for row in rows]


async def open_step_failures(con: Connection) -> list[StepFailureCountRow]:
    """Steps given up (open ``step_failed`` tasks) per step: what operations must look into."""
    rows = await con.fetch(
        "SELECT detail AS step, count(*) AS open FROM tasks "
        "WHERE status = 'open' AND kind = 'step_failed' GROUP BY detail ORDER BY detail"
    )
    return [StepFailureCountRow.model_validate(dict(row)) for row in rows]


async def retention_of(con: Connection, case_id: str) -> RetentionRow | None:
    """The case's erasure date and legal hold, for the case page's "Datenschutz" part."""
    row = await con.fetchrow(
        "SELECT erase_after, legal_hold, legal_hold_reason FROM cases WHERE case_id = $1",
        case_id,
    )
    return None if row is None else RetentionRow.model_validate(dict(row))
