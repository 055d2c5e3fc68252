"""The case pages: the ABH's full page, the KI's view of a consented case, and a case's
documents as PDF. Every opening is written to the access log."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Account, Role
from service.cases import CaseServiceError
from store import documents as documents_store
from store import inbox as store
from store import records
from web.common import CASE_ID, PageRefused, accounts_of, cases_of, logged_in, pool_of, render

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
        case = await cases_of(request).case_view(case_id)
    except CaseServiceError:
        raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
    async with pool_of(request).acquire() as con:
        person = await records.person(con, case_id)
        supporters = await records.supporters(con, case_id)
        representative = await store.representative(con, case_id)
        tasks = await store.tasks_of_case(con, case_id)
        retention = await store.retention_of(con, case_id)
        disclosures = await records.disclosures_of_case(con, case_id)
        erasure_requests = await records.erasure_requests(con, case_id)
        case_documents = await documents_store.documents_of_case(con, case_id)
    await accounts_of(request).record_access(account, case_id, "Fallseite")
    return render(
        request,
        "case.html",
        account,
        case=case,
        person=person,
        supporters=supporters,
        representative=representative,
        open_tasks=[t for t in tasks if t["status"] == "open"],
        done_tasks=[t for t in tasks if t["status"] != "open"],
        retention=retention,
        disclosures=disclosures,
        erasure_requests=erasure_requests,
        documents=case_documents,
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
    async with pool_of(request).acquire() as con:
        pdf = await documents_store.document_pdf(con, case_id, wanted)
    if pdf is None:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.")
    await accounts_of(request).record_access(account, case_id, "Schriftstück")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{document_id}.pdf"',
        },
    )


async def _ki_case_page(request: Request, account: Account, case_id: str) -> Response:
    # The same view as the KI's GET /api/v1/cases/{case_id}: what the page shows, the API does.
    try:
        view = await cases_of(request).ki_case_view(case_id)
    except CaseServiceError:
        # Without a consent the KI must not even learn that the case exists.
        raise PageRefused(
            404, "Diesen Fall gibt es nicht oder er wurde dem KI nicht übermittelt."
        ) from None
    await accounts_of(request).record_access(account, case_id, "Fallseite KI")
    return render(request, "ki_case.html", account, case_id=case_id, view=view)
