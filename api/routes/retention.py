"""``/api/v1/admin/cases/{case_id}/legal-hold``: stop or allow the erasure of a case (admin)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from api.deps import Admin, CaseIdPath, Pool
from api.errors import NOT_FOUND
from schemas.inputs import HoldReason
from protection.erasure import ErasureRefused
from service.retention import set_legal_hold

router = APIRouter(prefix="/admin/cases", tags=["admin"])


class LegalHold(BaseModel):
    reason: HoldReason


class LegalHoldState(BaseModel):
    case_id: str
    legal_hold: bool


@router.put("/{case_id}/legal-hold", responses=NOT_FOUND, summary="Stop the erasure of a case")
async def hold(admin: Admin, pool: Pool, case_id: CaseIdPath, body: LegalHold) -> LegalHoldState:
    try:
        await set_legal_hold(
            pool, case_id, body.reason, actor=admin.username, role=admin.role.value
        )
    except ErasureRefused as refused:
        raise HTTPException(refused.status, refused.message) from None
    return LegalHoldState(case_id=case_id, legal_hold=True)


@router.delete(
    "/{case_id}/legal-hold", responses=NOT_FOUND, summary="Allow the erasure of a case again"
)
async def release(admin: Admin, pool: Pool, case_id: CaseIdPath) -> LegalHoldState:
    try:
        await set_legal_hold(pool, case_id, None, actor=admin.username, role=admin.role.value)
    except ErasureRefused as refused:
        raise HTTPException(refused.status, refused.message) from None
    return LegalHoldState(case_id=case_id, legal_hold=False)
