"""Business figures for operations (``/betrieb``, ``GET /api/v1/operations/figures``): open and
overdue tasks per queue and stage, the oldest open task of each queue, the mail outbox's
backlog. Numbers only: no case, no person, no address.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from schemas.rows import Row
from schemas.tasks import Queue

ARRIVAL_STAGE = "arrival"
"""The stage of an arrival's task (Neu zugewandert: no case, so no case stage)."""


class TaskFigureRow(Row):
    queue: str
    stage: str
    open: int
    overdue: int


class OldestTaskRow(Row):
    queue: str
    created_at: datetime
    due_at: datetime


class OutboxBacklogRow(Row):
    queued: int
    queued_due: int
    failed: int
    oldest_queued_at: datetime | None


class TaskFigure(BaseModel):
    queue: Queue
    stage: str = Field(
        description="The case's stage (schemas.case.Stage), or 'arrival' for an arrival's task."
    )
    open: int
    overdue: int = Field(description="Open and past their due time (or marked overdue).")


class OldestOpenTask(BaseModel):
    queue: Queue
    created_at: AwareDatetime | None = Field(description="None: the queue has no open task.")
    age_hours: float | None


class OutboxBacklog(BaseModel):
    queued: int = Field(description="Mails not yet sent.")
    queued_due: int = Field(description="Of those, due for an attempt now (not waiting a retry).")
    failed: int = Field(description="Given up after their attempts: someone must look.")
    oldest_queued_at: AwareDatetime | None
    oldest_queued_age_hours: float | None


class BusinessFigures(BaseModel):
    """Every queue × stage is a row, zeros included: a row that vanishes cannot be told from a
    figure nobody measured."""

    measured_at: AwareDatetime
    tasks: list[TaskFigure]
    oldest_open: list[OldestOpenTask]
    outbox: OutboxBacklog
