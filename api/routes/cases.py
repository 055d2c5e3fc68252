"""``/api/v1/cases/{case_id}``: what a case looks like, and what may happen to it at any time."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CaseIdPath, Cases
from api.errors import CONFLICT, NOT_FOUND
from schemas.case import CaseUpdateResult, CaseView, ConsentWithdrawal, SupporterReport

router = APIRouter(prefix="/cases", tags=["cases"])


@router.get("/{case_id}", responses=NOT_FOUND, summary="Show a case")
async def get_case(case_id: CaseIdPath, cases: Cases) -> CaseView:
    """Stage, residence status, open tasks and the timeline; no personal data."""
    return await cases.case_view(case_id)


@router.post(
    "/{case_id}/consent-withdrawal",
    responses={**NOT_FOUND, **CONFLICT},
    summary="Record a withdrawal of consent",
)
async def withdraw_consent(
    case_id: CaseIdPath, withdrawal: ConsentWithdrawal, cases: Cases
) -> CaseUpdateResult:
    """From now on nothing more is passed on; every recipient is asked to erase (Art. 17, 19).

    409 when the case has no signed consent (or it was withdrawn already) or is closed.
    """
    return await cases.withdraw_consent(case_id, withdrawal)


@router.post(
    "/{case_id}/supporters",
    responses={**NOT_FOUND, **CONFLICT},
    summary="Report a supporter",
)
async def register_supporter(
    case_id: CaseIdPath, report: SupporterReport, cases: Cases
) -> CaseUpdateResult:
    """A supporter accompanies the person: the ABH is told and asked to record a representative."""
    return await cases.register_supporter(case_id, report)
