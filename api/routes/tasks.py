"""``/api/v1/tasks``: the ABH's and the KI's inboxes, completing a task, and a team lead's
reassignment in bulk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from api.deps import Cases, Inbox, TaskIdPath, TaskWorker
from api.errors import CONFLICT, NOT_FOUND, UNAVAILABLE
from schemas.accounts import Account
from schemas.events import CaseId
from schemas.paging import CURSOR_MAX
from schemas.reassignment import ReassignmentResult, TaskReassignment
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
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this is not your role's inbox")
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
