"""The operations page: cases per stage, open tasks per queue, open step failures."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Role
from store import inbox as store
from web.common import logged_in, now, pool_of, render

router = APIRouter(include_in_schema=False)


@router.get("/betrieb")
async def operations(request: Request) -> Response:
    account = await logged_in(request, Role.OPS, Role.ADMIN)
    async with pool_of(request).acquire() as con:
        stages = await store.cases_per_stage(con)
        queues = await store.open_tasks_per_queue(con, now())
        failures = await store.open_step_failures(con)
    return render(
        request, "operations.html", account, stages=stages, queues=queues, failures=failures
    )
