"""``/api/v1/cases/{case_id}``: what a case looks like, and what may happen to it at any time."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import (
    Access,
    CaseIdPath,
    CaseReader,
    Cases,
    Caseworker,
    Notes,
    ReportReader,
)
from api.errors import CONFLICT, NOT_FOUND, UNAVAILABLE
from schemas.case import (
    CaseUpdateResult,
    CaseView,
    ConsentWithdrawal,
    DeadlineExtension,
    KiCaseView,
    Reopening,
    RouteFailure,
    SupporterReport,
)
from schemas.case_documents import CaseDocument
from schemas.case_list import CaseListPage, CaseQuery
from schemas.departure import DepartureRecord
from schemas.events import IntakeResult
from schemas.gdpr import AccessReport
from schemas.notes import Note, NoteDraft

router = APIRouter(prefix="/cases", tags=["cases"])


@router.get("", summary="Find cases: search, filter, sort, page")
async def list_cases(
    reader: CaseReader, access: Access, query: Annotated[CaseQuery, Query()]
) -> CaseListPage:
    """The case list of the caller's role, one page at a time (``limit``, then ``cursor``
    from ``next_cursor`` while ``has_more``): the ABH every case, the KI those disclosed to it
    on a consent that stands. ``q`` finds a part of the reference or the name, any case, with
    or without accents. Opening a case from the list is logged as every opening is.
    """
    return await access.list_cases(reader, query)


@router.get("/{case_id}", responses=NOT_FOUND, summary="Show a case")
async def get_case(
    case_id: CaseIdPath, reader: CaseReader, access: Access
) -> CaseView | KiCaseView:
    """What a role may see of a case, as its case page shows it.

    - The ABH (``CaseView``): stage, residence status, deadline, open tasks and the timeline;
      no personal data. It reads every case.
    - The KI (``KiCaseView``): the three categories it received on the person's consent
      (personal data, contact data, residence status) and its own tasks; no timeline, no
      ABH task. Only a case disclosed to it on a consent that is not withdrawn: any other is
      a 404 exactly like an unknown case.

    Every reading is logged.
    """
    return await access.case(reader, case_id, "api: case view")


@router.get(
    "/{case_id}/access-report",
    responses=NOT_FOUND,
    summary="Everything held about the person of a case (GDPR Art. 15)",
)
async def access_report(case_id: CaseIdPath, access: Access, reader: ReportReader) -> AccessReport:
    """The person, the household's children's dates of birth, supporters, consents, status
    events, tasks, timeline, what the KI received, every disclosure with its consent, erasure
    requests, and who opened the case when. The ABH and admins only: the KI and operations
    get 403. Opening the report is itself written to the access log (and listed in it).
    """
    return await access.access_report(reader, case_id, "api: access report")


@router.get("/{case_id}/documents", responses=NOT_FOUND, summary="The documents a case received")
async def list_documents(
    case_id: CaseIdPath, reader: Caseworker, access: Access
) -> list[CaseDocument]:
    """Kind, languages, template version, content hash, flags and date of every document.

    The ABH only: the documents hold more than the three categories the KI may receive.
    """
    return await access.documents(reader, case_id, "api: documents")


@router.get(
    "/{case_id}/documents/{document_id}",
    responses={**NOT_FOUND, 200: {"content": {"application/pdf": {}}}},
    response_class=Response,
    summary="One document of a case, as PDF",
)
async def get_document(
    case_id: CaseIdPath,
    document_id: UUID,
    reader: Caseworker,
    access: Access,
) -> Response:
    found = await access.document_pdf(reader, case_id, document_id, "api: document")
    return Response(
        found.pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{found.file_name}"',
            "cache-control": "no-store",
        },
    )


@router.post(
    "/{case_id}/notes",
    status_code=201,
    responses=NOT_FOUND,
    summary="Write a note on a case",
)
async def add_note(
    case_id: CaseIdPath, draft: NoteDraft, notes: Notes, caseworker: Caseworker
) -> Note:
    """A note of the ABH on the case (up to 2,000 characters; only what the case needs). Kept
    with its author and time, erased with the case's personal data."""
    return await notes.add(caseworker, case_id, draft)


@router.get("/{case_id}/notes", responses=NOT_FOUND, summary="The notes on a case")
async def list_notes(
    case_id: CaseIdPath, notes: Notes, access: Access, caseworker: Caseworker
) -> list[Note]:
    """The latest first. Reading them is an opening of the case: it is logged."""
    found = await notes.notes(caseworker, case_id)
    await access.log_opening(caseworker, case_id, "api: notes")
    return found


@router.post(
    "/{case_id}/consent-withdrawal",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Record a withdrawal of consent",
)
async def withdraw_consent(
    case_id: CaseIdPath, withdrawal: ConsentWithdrawal, cases: Cases, caseworker: Caseworker
) -> CaseUpdateResult:
    """From now on nothing more is passed on; every recipient is asked to erase (Art. 17, 19).

    409 when the case has no signed consent (or it was withdrawn already) or is closed.
    """
    return await cases.withdraw_consent(case_id, withdrawal)


@router.post(
    "/{case_id}/route-failure",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Record that the route to a residence title failed",
)
async def record_route_failure(
    case_id: CaseIdPath, failure: RouteFailure, cases: Cases, caseworker: Caseworker
) -> CaseUpdateResult:
    """The application was refused or withdrawn, or its conditions no longer hold: the case
    goes on with the referral offer.

    409 when no route is pursued in the case (or it is closed).
    """
    return await cases.record_route_failure(case_id, failure)


@router.post(
    "/{case_id}/departure-deadline",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Extend the departure deadline",
)
async def extend_deadline(
    case_id: CaseIdPath, extension: DeadlineExtension, cases: Cases, caseworker: Caseworker
) -> CaseUpdateResult:
    """§59(1) AufenthG: a later deadline, with a reason; every wait of the case moves with it.

    422 when the new deadline is not after today and after the current one; 409 when closed.
    """
    return await cases.extend_deadline(case_id, extension)


@router.post(
    "/{case_id}/departure",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Record that the person left, with the proof",
)
async def record_departure(
    case_id: CaseIdPath, record: DepartureRecord, cases: Cases, caseworker: Caseworker
) -> IntakeResult:
    """How the person left (``kind``; with return support its ``programme``) and the proof:
    the Grenzübertrittsbescheinigung with the day and the place of the crossing, or another
    proof described. It is the back office's status event ``ausgereist`` with this
    departure, recorded by the caseworker (audit log): the outcome follows from the kind,
    and an enforcement whose result is still to be recorded waits for it.

    The same record sent again is one event (``duplicate``: true). 422 naming the field
    (a crossing in the future, a programme or place missing); 409 when the case is closed.
    """
    return await cases.record_departure(caseworker, case_id, record)


@router.post(
    "/{case_id}/reopen",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Reopen a closed case with a new obligation to leave",
)
async def reopen_case(
    case_id: CaseIdPath, reopening: Reopening, cases: Cases, caseworker: Caseworker
) -> IntakeResult:
    """A new obligation to leave (``ausreisepflichtig`` or ``geduldet``) for a closed case:
    the same case goes on in a new run, with the person and the household as its file has
    them (never sent here), recorded by the caseworker (audit log).

    The same request sent again is one event (``duplicate``: true). 409 when the case is
    not closed, or erased (open it under a new case id then); 422 naming the field.
    """
    return await cases.reopen(caseworker, case_id, reopening)


@router.post(
    "/{case_id}/supporters",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
    summary="Report a supporter",
)
async def register_supporter(
    case_id: CaseIdPath, report: SupporterReport, cases: Cases, reporter: CaseReader
) -> CaseUpdateResult:
    """A supporter accompanies the person: the ABH is told at once; a representative
    (``is_representative``) is recorded by the ABH, then asked regularly for facts.

    The ABH reports for any case, the KI for a case disclosed to it (404 for any other).
    """
    return await cases.register_supporter(case_id, report, reporter)
