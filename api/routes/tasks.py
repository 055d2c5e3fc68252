"""``/api/v1/tasks``: the ABH's and the KI's inboxes, and completing a task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from api.deps import Cases, TaskIdPath
from api.errors import CONFLICT, NOT_FOUND
from schemas.events import CaseId
from schemas.tasks import Queue, TaskCompletion, TaskResult, TaskView

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", summary="List open tasks")
async def list_tasks(
    cases: Cases,
    queue: Annotated[Queue | None, Query(description="Whose inbox: abh or ki.")] = None,
    case_id: Annotated[CaseId | None, Query()] = None,
) -> list[TaskView]:
    """Open tasks, earliest due first."""
    return await cases.open_tasks(queue, case_id)


@router.post(
    "/{task_id}/complete",
    responses={**NOT_FOUND, **CONFLICT},
    summary="Complete a task",
)
async def complete_task(
    task_id: TaskIdPath,
    completion: Annotated[TaskCompletion, Body()],
    cases: Cases,
) -> TaskResult:
    """Record what was done; answers once the case has moved on, with its new stage.

    404: unknown task. 409: the task is completed or cancelled already. 422: the completion
    does not fit the task (``kind``) or the case now (e.g. a date in the future), naming the
    field.
    """
    return await cases.complete_task(str(task_id), completion)
