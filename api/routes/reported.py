"""``GET /api/v1/reported-cases/{case_id}``: a back-office system reads back a case it reported."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import BackOfficeCaller
from api.deps import CaseIdPath, Cases
from api.errors import NOT_FOUND
from schemas.case import ReportedCase

router = APIRouter(prefix="/reported-cases", tags=["intake"])


@router.get("/{case_id}", responses=NOT_FOUND, summary="Read back a case this token reported")
async def reported_case(
    case_id: CaseIdPath, cases: Cases, system: BackOfficeCaller
) -> ReportedCase:
    """Stage, residence status and outcome of a case an event of this API token opened or
    updated (``POST /api/v1/status-events``); no personal data. 404 for every other case,
    as for one that does not exist. 401 without a valid API token."""
    return await cases.reported_case(case_id, system)
