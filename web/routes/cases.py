"""The case pages: the ABH's full page, the KI's view of a consented case, and a case's
documents as PDF. Every opening is written to the access log."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Account, Role
from schemas.case import KiCaseView
from service.errors import NotFound
from web.common import CASE_ID, PageRefused, access_of, logged_in, render

router = APIRouter(include_in_schema=False)


@router.get("/faelle/{case_id}")
async def case_page(request: Request, case_id: str) -> Response:
    account = await logged_in(request)
    if account.role not in (Role.ABH, Role.KI):
        raise PageRefused(403, "Ihre Rolle darf keine Fälle mit personenbezogenen Daten sehen.")
    if not CASE_ID.fullmatch(case_id):
        raise PageRefused(404, "Diesen Fall gibt es nicht.")
    if account.role is Role.KI:
        return await _ki_case_page(request, account, case_id)
    try:
        found = await access_of(request).case_file(account, case_id, "Fallseite")
    except NotFound:
        raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
    return render(
        request,
        "case.html",
        account,
        case=found.case,
        person=found.person,
        supporters=found.supporters,
        representative=found.representative,
        open_tasks=[t for t in found.tasks if t.status == "open"],
        done_tasks=[t for t in found.tasks if t.status != "open"],
        retention=found.retention,
        disclosures=found.disclosures,
        erasure_requests=found.erasure_requests,
        documents=found.documents,
    )


@router.get("/faelle/{case_id}/schriftstuecke/{document_id}")
async def case_document(request: Request, case_id: str, document_id: str) -> Response:
    """A document of the case as PDF, to print and hand over; the ABH only (the KI receives
    three categories of data, and these documents hold more)."""
    account = await logged_in(request, Role.ABH)
    try:
        if not CASE_ID.fullmatch(case_id):
            raise ValueError(case_id)
        wanted = UUID(document_id)
    except ValueError:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.") from None
    try:
        found = await access_of(request).document_pdf(account, case_id, wanted, "Schriftstück")
    except NotFound:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.") from None
    return Response(
        found.pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{found.file_name}"',
        },
    )


async def _ki_case_page(request: Request, account: Account, case_id: str) -> Response:
    # The same view as the KI's GET /api/v1/cases/{case_id}: what the page shows, the API does.
    try:
        view = await access_of(request).case(account, case_id, "Fallseite KI")
    except NotFound:
        # Without a consent the KI must not even learn that the case exists.
        raise PageRefused(
            404, "Diesen Fall gibt es nicht oder er wurde dem KI nicht übermittelt."
        ) from None
    assert isinstance(view, KiCaseView)  # what the KI's role sees
    return render(request, "ki_case.html", account, case_id=case_id, view=view)
