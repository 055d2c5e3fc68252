"""``/api/v1/admin/cases/{case_id}/legal-hold``: stop or allow the erasure of a case (admin)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Admin, CaseIdPath, Retention
from api.errors import NOT_FOUND
from schemas.inputs import HoldReason

router = APIRouter(prefix="/admin/cases", tags=["admin"])


class LegalHold(BaseModel):
    reason: HoldReason


class LegalHoldState(BaseModel):
    case_id: str
    legal_hold: bool


@router.put("/{case_id}/legal-hold", responses=NOT_FOUND, summary="Stop the erasure of a case")
async def hold(
    admin: Admin, retention: Retention, case_id: CaseIdPath, body: LegalHold
) -> LegalHoldState:
    await retention.set_legal_hold(case_id, body.reason, by=admin)
    return LegalHoldState(case_id=case_id, legal_hold=True)


@router.delete(
    "/{case_id}/legal-hold", responses=NOT_FOUND, summary="Allow the erasure of a case again"
)
async def release(admin: Admin, retention: Retention, case_id: CaseIdPath) -> LegalHoldState:
    await retention.set_legal_hold(case_id, None, by=admin)
    return LegalHoldState(case_id=case_id, legal_hold=False)
