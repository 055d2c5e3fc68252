"""``/api/v1/tasks``: the ABH's and the KI's inboxes, and completing a task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, status

from api.deps import Cases, TaskIdPath, TaskWorker
from api.errors import CONFLICT, NOT_FOUND, UNAVAILABLE
from schemas.accounts import Account
from schemas.events import CaseId
from schemas.tasks import Queue, TaskCompletion, TaskResult, TaskView

router = APIRouter(prefix="/tasks", tags=["tasks"])


def own_queue(account: Account) -> Queue:
    """The inbox of the account's role (abh or ki; TaskWorker admits no other role)."""
    return Queue(account.role.value)


@router.get("", summary="List open tasks")
async def list_tasks(
    cases: Cases,
    worker: TaskWorker,
    queue: Annotated[Queue | None, Query(description="Whose inbox: abh or ki.")] = None,
    case_id: Annotated[CaseId | None, Query()] = None,
) -> list[TaskView]:
    """Open tasks of the caller's own inbox, earliest due first; another queue is a 403."""
    mine = own_queue(worker)
    if queue is not None and queue != mine:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this is not your role's inbox")
    return await cases.open_tasks(mine, case_id)


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
