"""``/api/v1/operations``: business figures for operations and their monitoring (numbers
only: the same as the page ``/betrieb``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Inbox, Operator
from schemas.operations import BusinessFigures

router = APIRouter(prefix="/operations", tags=["operations"])


@router.get("/figures", summary="Open and overdue tasks, oldest task, outbox backlog")
async def figures(operator: Operator, inbox: Inbox) -> BusinessFigures:
    """Open and overdue tasks per queue and stage (every combination, zeros included; an
    arrival's task has the stage ``arrival``), the oldest open task of each queue, and the mail
    outbox's backlog (queued, due now, failed, the oldest queued). For ``ops`` and ``admin``."""
    return await inbox.figures()
