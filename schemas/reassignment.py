"""Who works on a task: a team lead's reassignment of open tasks in bulk (to a colleague of the
same role, or back to the team's queue), shared by ``POST /api/v1/tasks/assign`` and the
inbox's form; and one task's hand-over and deputising, shared by
``POST /api/v1/tasks/{task_id}/hand-over|deputy`` and the task page."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.inputs import MULTI_LINE_SCHEMA, SINGLE_LINE_SCHEMA, Lines, OneLine, RowId

REASSIGN_MAX = 500
"""Tasks in one reassignment: the API's longest page of tasks."""

COMMENT_MAX = 500


Comment = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX),
    Lines,
    Field(json_schema_extra=MULTI_LINE_SCHEMA),
]


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
    comment: Comment | None = Field(
        default=None,
        description="Why, for the colleague (shown with each task's assignment history); "
        "no personal data beyond what is needed.",
    )


class ReassignmentResult(BaseModel):
    """What changed: the tasks now with ``assignee``, and those that were with them before."""

    assignee: int | None
    reassigned: list[str]
    unchanged: list[str]


class HandOver(BaseModel):
    """One's own task (or an unclaimed one) given to a colleague of the same role, saying
    why: the comment is shown with the task's assignment history."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"assignee": 7, "comment": "Bitte übernehmen: Urlaub."}]},
    )

    assignee: RowId = Field(
        description="The colleague's account id, an active account of the caller's role."
    )
    comment: Comment = Field(
        description="Why, for the colleague; no personal data beyond what is needed."
    )


class Deputising(BaseModel):
    """A colleague's task taken over while they are absent, saying why."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Vertretung: krank"}]}
    )

    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX),
        OneLine,
        Field(json_schema_extra=SINGLE_LINE_SCHEMA),
    ] = Field(description="Why the task is taken over (one line).")


class TaskAssignment(BaseModel):
    """Whom a task is assigned to after a claim, release, hand-over or deputising."""

    task_id: str
    assigned_to: int | None = Field(description="The account id; null: nobody, the team's queue.")
