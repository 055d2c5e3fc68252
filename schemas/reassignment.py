"""A team lead's reassignment of open tasks in bulk: to a colleague of the same role, or back
to the team's queue. Shared by ``POST /api/v1/tasks/assign`` and the inbox's form."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.inputs import MULTI_LINE_SCHEMA, Lines, RowId

REASSIGN_MAX = 500
"""Tasks in one reassignment: the API's longest page of tasks."""

COMMENT_MAX = 500


class TaskReassignment(BaseModel):
    """Open tasks of the lead's team, all given to ``assignee`` (or, null, back to the team's
    queue) in one transaction: one unknown task, one of another team or one no longer open,
    and nothing changes."""

    model_config = ConfigDict(extra="forbid")

    task_ids: list[UUID] = Field(
        min_length=1,
        max_length=REASSIGN_MAX,
        description="The tasks, as GET /api/v1/tasks lists them; each once (repeats count once).",
    )
    assignee: RowId | None = Field(
        description="The colleague's account id (as a task's assigned_to names it), an active "
        "account of the lead's role; null: back to the team's queue, assigned to nobody."
    )
    comment: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX),
            Lines,
            Field(json_schema_extra=MULTI_LINE_SCHEMA),
        ]
        | None
    ) = Field(
        default=None,
        description="Why, for the colleague (shown with each task's assignment history); "
        "no personal data beyond what is needed.",
    )


class ReassignmentResult(BaseModel):
    """What changed: the tasks now with ``assignee``, and those that were with them before."""

    assignee: int | None
    reassigned: list[str]
    unchanged: list[str]
