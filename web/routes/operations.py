"""The operations page: cases per stage, open tasks per queue and stage, the oldest open task,
open step failures, the notices and mails not yet sent."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Role
from web.common import inbox_of, logged_in, render

router = APIRouter(include_in_schema=False)


@router.get("/betrieb")
async def operations(request: Request) -> Response:
    account = await logged_in(request, Role.OPS, Role.ADMIN)
    overview = await inbox_of(request).overview()
    figures = await inbox_of(request).figures()
    return render(
        request,
        "operations.html",
        account,
        stages=overview.stages,
        queues=overview.queues,
        failures=overview.failures,
        notices_waiting=overview.notices_waiting,
        notices_waiting_long=overview.notices_waiting_long,
        figures=figures,
    )
