"""``/api/v1/admin``: what only admins see. The access log of a case (who opened it, when)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Accounts, Admin
from schemas.accounts import AccessLogEntry
from schemas.events import CaseId

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/access-log", summary="Who opened a case")
async def access_log(
    admin: Admin, service: Accounts, case_id: Annotated[CaseId, Query()]
) -> list[AccessLogEntry]:
    """Every opening of the case's data: account, role, what was opened, when; oldest first."""
    return await service.access_log(case_id)
