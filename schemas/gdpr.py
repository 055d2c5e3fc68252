"""The disclosure register and the access report: what the county must be able to show about
the personal data it holds and passes on (GDPR Art. 15 and 30).

One model per answer, used by the API and by ``python -m commands.records`` alike, so an
export looks the same whichever way it was made. Times are shown in Europe/Berlin (with their
offset), the zone in which a period's dates are meant, so a reader can check the boundaries.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from schemas.accounts import AccessLogEntry
from schemas.case import Outcome, Stage, TimelineEntry
from schemas.events import ResidenceStatus
from schemas.local_time import BERLIN
from schemas.tasks import Queue, TaskKind, TaskStatus

BerlinTime = Annotated[datetime, AfterValidator(lambda at: at.astimezone(BERLIN))]


class DisclosureRecord(BaseModel):
    """One disclosure as the register shows it: never a name or contact data of the person."""

    disclosure_id: int
    case_id: str
    recipient: str = Field(description="'ki', or 'partner:<partner_id>' for a partner.")
    recipient_name: str | None = Field(
        description="The KI, or the partner organisation's name in the partner directory."
    )
    categories: list[str]
    purpose: str
    consent_id: str = Field(description="The consent the disclosure was made on.")
    consent_signed_on: date
    disclosed_at: BerlinTime
    consent_withdrawn_on: date | None
    erasure_requested_at: BerlinTime | None = Field(
        description="When the recipient was asked to erase (after the withdrawal)."
    )


CSV_COLUMNS: tuple[str, ...] = tuple(DisclosureRecord.model_fields)


class DisclosureRegister(BaseModel):
    """``GET /api/v1/admin/disclosures``: every disclosure of a period, oldest first."""

    period_from: date
    period_to: date = Field(description="Inclusive.")
    time_zone: str = Field(default="Europe/Berlin", description="The zone of the period's dates.")
    disclosures: list[DisclosureRecord]


# ------------------------------------------------------------- access report


class CaseData(BaseModel):
    case_id: str
    stage: Stage
    residence_status: ResidenceStatus
    town: str
    departure_deadline: date | None
    outcome: Outcome | None
    opened_at: BerlinTime
    closed_at: BerlinTime | None
    updated_at: BerlinTime


class PersonData(BaseModel):
    given_name: str
    family_name: str
    date_of_birth: date
    nationality: str
    language: str
    phone: str | None
    email: str | None
    street: str
    postal_code: str
    town: str


class SupporterData(BaseModel):
    name: str
    organisation: str | None
    contact: str
    is_representative: bool
    registered_at: BerlinTime


class ConsentData(BaseModel):
    consent_id: str
    signed_on: date
    recorded_at: BerlinTime
    withdrawn_on: date | None
    withdrawal_received_by: str | None
    withdrawal_recorded_at: BerlinTime | None


class StatusEventData(BaseModel):
    event_id: str
    status: ResidenceStatus
    effective_date: date
    departure_deadline: date | None
    recorded_at: BerlinTime


class AssignmentData(BaseModel):
    """A claim, release or hand-over of a task; the comment may be about the person."""

    action: str
    at: BerlinTime
    comment: str | None


class TaskData(BaseModel):
    task_id: str
    kind: TaskKind
    queue: Queue
    status: TaskStatus
    due_at: BerlinTime
    overdue: bool
    created_at: BerlinTime
    closed_at: BerlinTime | None
    completion: dict[str, Any] | None = Field(description="What was entered to complete it.")
    assignments: list[AssignmentData] = Field(default_factory=list)


class KiReferralData(BaseModel):
    """The copy the KI received: the three categories, and when it was erased."""

    consent_id: str
    personal_data: dict[str, Any]
    contact_data: dict[str, Any]
    residence_status: str
    received_at: BerlinTime
    erased_at: BerlinTime | None


class ErasureRequestData(BaseModel):
    disclosure_id: int
    recipient: str
    requested_at: BerlinTime
    confirmed_on: date | None = None  # the KI confirmed the recipient erased the data


class AttachmentData(BaseModel):
    """An attachment of the case (the file itself: ``GET .../attachments/{attachment_id}``)."""

    attachment_id: str
    kind: str
    description: str | None
    content_type: str
    size_bytes: int
    uploader_role: str
    uploaded_at: BerlinTime


class NoteData(BaseModel):
    """A caseworker's note on the case; the author by role (the person asks what is held
    about them, not which colleague wrote it)."""

    written_at: BerlinTime
    author_role: str | None
    text: str


class AccessReport(BaseModel):
    """``GET /api/v1/cases/{case_id}/access-report`` (GDPR Art. 15): everything the case store
    holds about the person of one case, to whom what was passed on, and who opened the case.

    Not covered: the workflow history in Temporal, whose payloads hold the status events (with
    the person's data as each reported it, so earlier versions too), the task completions and
    the supporter reports.
    """

    case_id: str
    generated_at: BerlinTime
    case: CaseData
    person: PersonData | None
    household_children_born_on: list[date]
    household_reference: str | None = Field(
        default=None, description="The household the case is linked to (other members' cases)."
    )
    supporters: list[SupporterData]
    consents: list[ConsentData]
    status_events: list[StatusEventData]
    tasks: list[TaskData]
    timeline: list[TimelineEntry]
    ki_referrals: list[KiReferralData] = Field(description="The data handed to the KI.")
    disclosures: list[DisclosureRecord]
    erasure_requests: list[ErasureRequestData]
    access_log: list[AccessLogEntry] = Field(description="Who opened the case when.")
    attachments: list[AttachmentData] = Field(
        default_factory=list, description="Papers attached to the case (PDF, JPEG, PNG)."
    )
    notes: list[NoteData] = Field(
        default_factory=list, description="Caseworkers' notes on the case, the oldest first."
    )
