"""Reading a case as an account for a purpose: the one way the API and the pages open a case's
data (and the person of an arrival), with the rule and the access log in the same call.

The rule: the ABH reads every case; the KI only a case disclosed to it on a consent that is
not withdrawn, and only what it received (``store.inbox.ki_referral``: one statement decides
both, so the rule cannot drift from what is shown); no other role reads a case. A case the
account may not read is :class:`~service.errors.NotFound`, exactly like an unknown case: the
KI must not even learn that it exists. Case documents hold more than the three categories the
KI receives: only the ABH reads them (:class:`~service.errors.Forbidden` for everyone else).
The access report (GDPR Art. 15) is read by the ABH and admins (:data:`REPORT_READERS`).

Every method reads on one connection and writes the access-log row (the admins' per-case
view) and its chained audit entry in the same transaction, last: an entry exists exactly when
data was read, and data read is never missing from the log. ``purpose`` is what the log says
was opened ("Fallseite", "api: case view", ...).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from schemas.accounts import Account, Role
from schemas.audit import AuditAction, AuditDraft
from schemas.case import (
    CaseView,
    HouseholdMember,
    KiCaseView,
    KiContactData,
    KiPersonalData,
    TimelineEntry,
)
from schemas.case_documents import CaseDocument
from schemas.case_list import CaseListItem, CaseListPage, CaseQuery
from schemas.events import age_on, years_after
from schemas.file_names import PdfFile, pdf_file_name
from schemas.gdpr import (
    AccessReport,
    AttachmentData,
    DisclosureRecord,
    ErasureRequestData,
    PersonData,
    SupporterData,
)
from schemas.local_time import BERLIN
from schemas.notes import Note
from schemas.paging import encode_cursor
from schemas.process import ProcessTimings
from schemas.tasks import CheckInRow
from service.cases import read_case_view
from service.errors import Forbidden, NotFound
from store import accounts as account_store
from store import arrivals as arrival_store
from store import attachments as attachment_store
from store import audit
from store import case_list as case_list_store
from store import documents as document_store
from store import inbox as inbox_store
from store import keys as key_store
from store import notes as note_store
from store import records as record_store
from store import timeline as timeline_store
from store.db import Connection
from workflows.arrival import arrival_workflow_id

_UNKNOWN_CASE = "unknown case"

REPORT_READERS = frozenset({Role.ABH, Role.ADMIN})
"""Who may open an access report: it shows all of a person's data and where it went."""


class CaseTask(BaseModel):
    """A task as the case page lists it."""

    task_id: str
    case_id: str | None
    kind: str
    queue: str
    status: str
    due_at: datetime
    overdue: bool
    assigned_to: int | None
    detail: str | None
    closed_at: datetime | None


class Retention(BaseModel):
    """When the case's data is erased, and whether a legal hold stops it."""

    erase_after: date | None
    legal_hold: bool
    legal_hold_reason: str | None


class ChildAge(BaseModel):
    """A minor of the household beside a task: the ages the time rules ask about."""

    born: date
    age: int
    turns_14_on: date | None = Field(description="Within the next year only.")
    turns_18_on: date | None = Field(description="Within the next year only.")


def _child(born: date, today: date) -> ChildAge:
    soon = years_after(today, 1)

    def turns(years: int) -> date | None:
        day = years_after(born, years)
        return day if today < day <= soon else None

    return ChildAge(
        born=born, age=age_on(born, today), turns_14_on=turns(14), turns_18_on=turns(18)
    )


class CaseFile(BaseModel):
    """The ABH's case page: the case, the person, supporters, tasks, disclosures, documents."""

    case: CaseView
    person: PersonData | None
    supporters: list[SupporterData]
    representative: dict[str, object] | None  # the latest representative task's completion
    tasks: list[CaseTask]
    retention: Retention | None
    disclosures: list[DisclosureRecord]
    erasure_requests: list[ErasureRequestData]
    documents: list[CaseDocument]
    children: list[ChildAge] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)


class ArrivalPerson(BaseModel):
    """Whom the ABH hands an arrival's flyer to."""

    arrival_id: str
    reference: str
    town: str
    language: str
    given_name: str
    family_name: str
    received_at: datetime


class CheckIns(BaseModel):
    """Where the follow-up stands: check-ins missed in a row (of how many before the ABH
    decides) and when the next one is due."""

    missed: int
    of: int
    next_due: datetime | None


def check_ins_of(rows: list[CheckInRow], timings: ProcessTimings) -> CheckIns | None:
    """From the case's check-ins, the latest first (a lapsed one counts as not reached)."""
    if not rows:
        return None
    missed = 0
    for row in rows:
        if row.status == "open":
            continue
        if row.reached:
            break
        missed += 1
    opened = next((row.due_at for row in rows if row.status == "open"), None)
    last = rows[0].closed_at
    following = opened or (last + timings.follow_up_interval if last else None)
    return CheckIns(missed=missed, of=timings.unreachable_after, next_due=following)


class TaskContext(BaseModel):
    """What a task's page shows beside the form: who the person is, the household's minors,
    the deadline, the stage and the last entries of the timeline (the KI: only what it
    received, and no timeline)."""

    person: PersonData | None
    stage: str | None
    residence_status: str | None
    departure_deadline: date | None
    children: list[ChildAge]
    household: list[HouseholdMember]
    recent: list[TimelineEntry]
    check_ins: CheckIns | None = None


# Beside a task, the last entries of the timeline: enough to see what happened lately.
RECENT_ENTRIES = 5


class AccessService:
    """Every opening of a case's data by a person, checked and logged in one call."""

    def __init__(self, pool: asyncpg.Pool, timings: ProcessTimings | None = None) -> None:
        self._pool = pool
        self._timings = timings or ProcessTimings()

    async def list_cases(self, account: Account, query: CaseQuery) -> CaseListPage:
        """The cases the account's role may see that match ``query``, one page: the ABH every
        case, the KI those disclosed to it on a consent that stands (with the names it
        received). Listing opens no case: opening one from the list is logged as ever."""
        if account.role not in (Role.ABH, Role.KI):
            raise Forbidden("your role may not list cases")
        async with self._pool.acquire() as con:
            rows, more = await case_list_store.find_cases(
                con,
                query,
                team=account.role.value,
                ki=account.role is Role.KI,
                now=datetime.now(UTC),
            )
        return CaseListPage(
            items=[CaseListItem.model_validate(row.model_dump()) for row in rows],
            has_more=more,
            next_cursor=encode_cursor(case_list_store.cursor_after(query, rows[-1]))
            if more
            else None,
        )

    async def task_context(self, account: Account, case_id: str, purpose: str) -> TaskContext:
        """The person and the case beside one of the case's tasks; the opening is logged."""
        today = datetime.now(BERLIN).date()
        async with self._pool.acquire() as con, con.transaction():
            if account.role is Role.KI:
                referral = await inbox_store.ki_referral(con, case_id)
                if referral is None:
                    raise NotFound(_UNKNOWN_CASE)
                received = KiPersonalData.model_validate(referral.personal_data)
                contact = KiContactData.model_validate(referral.contact_data)
                context = TaskContext(
                    person=PersonData(**received.model_dump(), **contact.model_dump()),
                    stage=None,
                    residence_status=referral.residence_status,
                    departure_deadline=None,
                    children=[],
                    household=[],
                    recent=[],
                )
            else:
                _require_abh(account)
                view = await read_case_view(con, case_id)
                if view is None:
                    raise NotFound(_UNKNOWN_CASE)
                born = await record_store.children_born_on(con, case_id)
                context = TaskContext(
                    person=await record_store.person(con, case_id),
                    stage=view.stage.value,
                    residence_status=view.residence_status.value,
                    departure_deadline=view.departure_deadline,
                    children=[_child(day, today) for day in born if age_on(day, today) < 18],
                    household=view.household,
                    recent=view.timeline[-RECENT_ENTRIES:][::-1],
                    check_ins=check_ins_of(
                        await inbox_store.check_ins(con, case_id), self._timings
                    ),
                )
            await _log(con, account, case_id, purpose)
        return context

    async def case(self, account: Account, case_id: str, purpose: str) -> CaseView | KiCaseView:
        """What the account's role sees of the case: the ABH the case view, the KI exactly
        what it received (its case page and its API view alike)."""
        async with self._pool.acquire() as con, con.transaction():
            view: CaseView | KiCaseView | None = None
            if account.role is Role.ABH:
                view = await read_case_view(con, case_id)
            elif account.role is Role.KI:
                view = await inbox_store.ki_case(con, case_id)
            if view is None:
                raise NotFound(_UNKNOWN_CASE)
            await _log(con, account, case_id, purpose)
        return view

    async def log_opening(self, account: Account, case_id: str, purpose: str) -> None:
        """An opening of the case's data that another service read (its notes, say)."""
        async with self._pool.acquire() as con, con.transaction():
            await _log(con, account, case_id, purpose)

    async def case_file(self, account: Account, case_id: str, purpose: str) -> CaseFile:
        """The ABH's case page (the ABH only)."""
        _require_abh(account)
        async with self._pool.acquire() as con, con.transaction():
            view = await read_case_view(con, case_id)
            if view is None:
                raise NotFound(_UNKNOWN_CASE)
            kept = await inbox_store.retention_of(con, case_id)
            found = CaseFile(
                case=view,
                person=await record_store.person(con, case_id),
                supporters=await record_store.supporters(con, case_id),
                representative=await inbox_store.representative(con, case_id),
                tasks=[
                    CaseTask.model_validate(row.model_dump())
                    for row in await inbox_store.tasks_of_case(con, case_id)
                ],
                retention=None if kept is None else Retention.model_validate(kept.model_dump()),
                disclosures=await record_store.disclosures_of_case(con, case_id),
                erasure_requests=await record_store.erasure_requests(con, case_id),
                documents=await document_store.documents_of_case(con, case_id),
                notes=[
                    Note.model_validate(row.model_dump())
                    for row in await note_store.notes_of_case(con, case_id)
                ],
                children=[
                    _child(day, datetime.now(BERLIN).date())
                    for day in await record_store.children_born_on(con, case_id)
                ],
            )
            await _log(con, account, case_id, purpose)
        return found

    async def documents(self, account: Account, case_id: str, purpose: str) -> list[CaseDocument]:
        """Kind, languages, version and date of every document of the case (the ABH only)."""
        _require_abh(account)
        async with self._pool.acquire() as con, con.transaction():
            if await read_case_view(con, case_id) is None:
                raise NotFound(_UNKNOWN_CASE)
            found = await document_store.documents_of_case(con, case_id)
            await _log(con, account, case_id, purpose)
        return found

    async def document_pdf(
        self, account: Account, case_id: str, document_id: UUID, purpose: str
    ) -> PdfFile:
        """One document of the case as PDF (the ABH only), named after what it is."""
        _require_abh(account)
        async with self._pool.acquire() as con, con.transaction():
            found = await document_store.document_pdf(con, case_id, document_id)
            if found is None:
                raise NotFound("unknown document")
            await _log(con, account, case_id, purpose)
        return PdfFile(file_name=pdf_file_name(found.kind, case_id, found.languages), pdf=found.pdf)

    async def access_report(self, reader: Account, case_id: str, purpose: str) -> AccessReport:
        """Everything held about the person of a case (the ABH and admins only).

        The access is written in the same transaction as the reading (repeatable read, so the
        report is one consistent picture): the report lists its own opening, and a report
        that fails to come together leaves no entry for data nobody saw. Unlike the other
        openings it has no audit entry: as it was before the access service, kept so.
        """
        if reader.role not in REPORT_READERS:
            raise Forbidden("your role may not do this")
        async with self._pool.acquire() as con, con.transaction(isolation="repeatable_read"):
            case = await record_store.case(con, case_id)
            if case is None:
                raise NotFound("unknown case")
            await account_store.insert_access(con, reader, case_id, purpose)
            return AccessReport(
                case_id=case_id,
                generated_at=datetime.now(UTC),
                case=case,
                person=await record_store.person(con, case_id),
                household_children_born_on=await record_store.children_born_on(con, case_id),
                household_reference=await record_store.household_reference(con, case_id),
                supporters=await record_store.supporters(con, case_id),
                consents=await record_store.consents(con, case_id),
                status_events=await record_store.status_events(con, case_id),
                tasks=await record_store.tasks(con, case_id),
                timeline=[
                    TimelineEntry.model_validate(row.model_dump())
                    for row in await timeline_store.timeline(con, case_id)
                ],
                ki_referrals=await record_store.ki_referrals(con, case_id),
                disclosures=await record_store.disclosures_of_case(con, case_id),
                erasure_requests=await record_store.erasure_requests(con, case_id),
                access_log=await account_store.access_log(con, case_id),
                attachments=[
                    AttachmentData.model_validate(
                        {**row.model_dump(), "attachment_id": str(row.attachment_id)}
                    )
                    for row in await attachment_store.attachments_of_case(con, case_id)
                ],
                notes=await note_store.notes_for_report(con, case_id),
            )

    async def arrival_person(
        self, account: Account, task_id: str, reference: str, purpose: str
    ) -> ArrivalPerson | None:
        """The person of an arrival's task; logged under the arrival's workflow id, the one
        name of an arrival that holds no personal data."""
        async with self._pool.acquire() as con, con.transaction():
            row = await arrival_store.person_of_task(con, task_id)
            await _log(con, account, arrival_workflow_id(reference), purpose)
        return None if row is None else ArrivalPerson.model_validate(row.model_dump())

    async def decoded(self, account: Account, key_ids: set[str], purpose: str) -> None:
        """Log the cases whose payloads were decoded under ``key_ids``, one row per case."""
        async with self._pool.acquire() as con:
            case_ids = await key_store.cases_of_keys(con, sorted(key_ids))
        for case_id in case_ids:
            async with self._pool.acquire() as con, con.transaction():
                await _log(con, account, case_id, purpose)


def _require_abh(account: Account) -> None:
    if account.role is not Role.ABH:
        raise Forbidden("your role may not do this")


async def log_access(con: Connection, account: Account, case_id: str, what: str) -> None:
    """The access-log row and its audit entry, for a service that reads a case's data of its
    own (attachments) in ``con``'s transaction: last in it, as here."""
    await _log(con, account, case_id, what)


async def _log(con: Connection, account: Account, case_id: str, what: str) -> None:
    """The access-log row and its audit entry; last in the transaction (the audit append
    holds its lock until commit)."""
    await account_store.insert_access(con, account, case_id, what)
    await audit.append(
        con,
        AuditDraft.by(account, AuditAction.CASE_OPENED, case_id=case_id, detail={"what": what}),
    )
