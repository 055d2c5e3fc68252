"""``/api/v1/tasks``: the ABH's and the KI's inboxes, completing a task, who works on a task
(claim, release, hand-over, deputising: what the task page offers) and a team lead's
reassignment in bulk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from api.deps import Cases, Inbox, TaskIdPath, TaskWorker
from api.errors import CONFLICT, NOT_FOUND, UNAVAILABLE, ProblemException
from schemas.accounts import Account
from schemas.events import CaseId
from schemas.paging import CURSOR_MAX
from schemas.problems import ProblemType
from schemas.reassignment import (
    Deputising,
    HandOver,
    ReassignmentResult,
    TaskAssignment,
    TaskReassignment,
)
from schemas.tasks import Queue, TaskCompletion, TaskResult, TaskView

router = APIRouter(prefix="/tasks", tags=["tasks"])

TASK_PAGE_MAX = 500


def own_queue(account: Account) -> Queue:
    """The inbox of the account's role (abh or ki; TaskWorker admits no other role)."""
    return Queue(account.role.value)


@router.get("", summary="List open tasks")
async def list_tasks(
    request: Request,
    response: Response,
    inbox: Inbox,
    worker: TaskWorker,
    queue: Annotated[Queue | None, Query(description="Whose inbox: abh or ki.")] = None,
    case_id: Annotated[CaseId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=TASK_PAGE_MAX, description="Tasks per page.")] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=CURSOR_MAX, description="Where the previous page ended (its Link)."),
    ] = None,
) -> list[TaskView]:
    """Open tasks of the caller's own inbox, earliest due first, a page at a time; another
    queue is a 403. When more follow, the ``Link`` header names the next page
    (``rel="next"``, RFC 8288) and ``X-Has-More`` is ``true``."""
    mine = own_queue(worker)
    if queue is not None and queue != mine:
        raise ProblemException(ProblemType.FORBIDDEN, "this is not your role's inbox")
    page = await inbox.open_tasks(worker, case_id=case_id, limit=limit, cursor=cursor)
    response.headers["X-Has-More"] = "true" if page.next_cursor else "false"
    if page.next_cursor is not None:
        following = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return page.tasks


@router.post(
    "/{task_id}/complete",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Complete a task",
)
async def complete_task(
    task_id: TaskIdPath,
    completion: Annotated[TaskCompletion, Body()],
    cases: Cases,
    worker: TaskWorker,
) -> TaskResult:
    """Record what was done; answers once the case has moved on, with its new stage.

    404: unknown task. 409: the task is completed or cancelled already. 422: the completion
    does not fit the task (``kind``) or the case now (e.g. a date in the future), naming the
    field. 403: the task is in the other role's inbox. 503 with ``Retry-After``: not confirmed
    in time; the same completion sent again is carried out once and answers as the first would.
    """
    return await cases.complete_task(str(task_id), completion, queue=own_queue(worker))


@router.post("/assign", responses=CONFLICT, summary="Reassign tasks in bulk (team leads)")
async def reassign_tasks(
    reassignment: TaskReassignment, inbox: Inbox, worker: TaskWorker
) -> ReassignmentResult:
    """A team lead gives open tasks of the team to a colleague of the same role
    (``assignee``, an account id), or back to the team's queue (``assignee`` null), all in
    one transaction: refused, nothing changes. Each change is in the task's assignment
    history and in the audit log.

    403: the caller leads no team (an admin makes an account a team lead), or a task is in
    the other role's inbox. 422 naming the field: an unknown task (``task_ids``, with its
    position) or an assignee who is no active account of the caller's role. 409: a task is
    no longer open.
    """
    return await inbox.reassign(worker, reassignment)


_ASSIGNMENT_ERRORS = {**NOT_FOUND, **CONFLICT}


@router.post("/{task_id}/claim", responses=_ASSIGNMENT_ERRORS, summary="Claim a task")
async def claim_task(task_id: TaskIdPath, inbox: Inbox, worker: TaskWorker) -> TaskAssignment:
    """Take an unclaimed task of one's team (claiming one's own again changes nothing).

    404: no task of the caller's inbox. 409: closed, or someone else holds it (a deputy
    takes it with ``/deputy``)."""
    return await inbox.claim(str(task_id), worker)


@router.post("/{task_id}/release", responses=_ASSIGNMENT_ERRORS, summary="Release a task")
async def release_task(task_id: TaskIdPath, inbox: Inbox, worker: TaskWorker) -> TaskAssignment:
    """Give one's own task back to the team's queue.

    404: no task of the caller's inbox. 409: closed, held by someone else, or by nobody."""
    return await inbox.release(str(task_id), worker)


@router.post("/{task_id}/hand-over", responses=_ASSIGNMENT_ERRORS, summary="Hand a task over")
async def hand_over_task(
    task_id: TaskIdPath, hand_over: HandOver, inbox: Inbox, worker: TaskWorker
) -> TaskAssignment:
    """Give one's own task (or an unclaimed one) to a colleague of the same role, with a
    comment kept in the task's assignment history.

    404: no task of the caller's inbox. 409: closed, or held by someone else. 422 naming the
    field: ``assignee`` is no active account of the caller's role, or the comment is empty
    or too long."""
    return await inbox.hand_over(str(task_id), worker, hand_over.assignee, hand_over.comment)


@router.post("/{task_id}/deputy", responses=_ASSIGNMENT_ERRORS, summary="Deputise for a colleague")
async def deputise_task(
    task_id: TaskIdPath, deputising: Deputising, inbox: Inbox, worker: TaskWorker
) -> TaskAssignment:
    """Take a task a colleague holds, while they are absent, saying why (kept in the task's
    assignment history).

    404: no task of the caller's inbox. 409: closed, unclaimed (claim it) or one's own."""
    return await inbox.deputise(str(task_id), worker, deputising.reason)
