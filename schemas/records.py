"""Inputs and outputs of the activities: what the workflow asks to be written or sent.

Every record carries the position ``seq`` of its timeline entry in the case, chosen by the
workflow; the activity writes the entry in the same transaction as its effect and skips both
when the entry already exists. That makes every activity safe to retry.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from schemas.case import Outcome, Stage, SupporterReport
from schemas.events import ResidenceStatus, StatusEvent
from schemas.rows import Row
from schemas.tasks import Queue, TaskCompletion, TaskKind, TaskStatus


class Entry(BaseModel):
    """A line of the case timeline (Verlauf). ``detail`` never holds personal data."""

    case_id: str
    seq: int
    at: datetime
    kind: str
    detail: str


class CaseOpening(BaseModel):
    entry: Entry
    event: StatusEvent
    # The case closed before and comes back: its row is open again, its erasure date gone.
    reopened: bool = False


class EventRecord(BaseModel):
    entry: Entry
    event: StatusEvent


class StageRecord(BaseModel):
    entry: Entry
    stage: Stage
    residence_status: ResidenceStatus
    departure_deadline: date | None
    outcome: Outcome | None = None


class NewTask(BaseModel):
    entry: Entry
    task_id: str
    kind: TaskKind
    queue: Queue
    due_at: datetime
    detail: str | None = None  # step_failed: the failed step's activity name; never personal
    # The rule-set version its due date was computed with (None: the case's frozen start).
    rule_version: int | None = None


class TaskClosure(BaseModel):
    entry: Entry
    task_id: str
    status: TaskStatus
    completion: TaskCompletion | None = None
    # The rule-set version the completion was checked against (None: not checked by one).
    rule_version: int | None = None


class NoticeKind(StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"
    SUPPORTER_REPORTED = "supporter_reported"
    # A new ki_contact task for the KI: written by the notice dispatcher
    # (activities/notices.py), never by a workflow.
    KI_REFERRAL = "ki_referral"


class Notice(BaseModel):
    """A message to a team's inbox (ABH or KI); sent once per ``key``."""

    entry: Entry
    key: str
    queue: Queue
    kind: NoticeKind
    task_id: str | None = None


class ConsentRecord(BaseModel):
    entry: Entry
    consent_id: str
    signed_on: date
    # The partners the signed form names (None: a form that named none, made before).
    covered_partners: list[int] | None = None


class Handover(BaseModel):
    """Pass the three categories to a recipient, on a signed and unwithdrawn consent."""

    entry: Entry
    consent_id: str
    recipient: str
    purpose: str


class HandoverReceipt(BaseModel):
    disclosure_id: int
    recipient: str
    categories: list[str]


class Withdrawal(BaseModel):
    entry: Entry
    consent_id: str
    withdrawn_on: date
    received_by: str | None


class WithdrawalReceipt(BaseModel):
    erasure_requested_from: list[str]


class SupporterRecord(BaseModel):
    entry: Entry
    supporter_id: str
    report: SupporterReport


class IncidentRecord(BaseModel):
    """A time rule broken by an enforcement as it was carried out (incident.record): the rules,
    the actual times, why, and who decided. Counted in the county's report."""

    entry: Entry
    incident_id: UUID
    rule_ids: list[str] = Field(min_length=1)
    started_at: datetime
    ended_at: datetime
    minors_present: bool
    reason: str
    decided_by: str


class OpenErasure(BaseModel):
    """An erasure confirmation still owed when its case closed."""

    task_id: str
    recipient: str
    due_at: datetime


class ErasureWatch(BaseModel):
    """The input of the watch that outlives a closed case: its open erasure confirmations."""

    case_id: str
    erasures: list[OpenErasure] = Field(min_length=1)


class UnconfirmedErasure(BaseModel):
    """erasure.unconfirmed: an erasure still unconfirmed at its due date, its case closed."""

    case_id: str
    task_id: str
    recipient: str
    at: datetime


class IncidentRow(Row):
    """An incident as stored; ``reason`` is erased with the case's personal data."""

    incident_id: UUID
    case_id: str
    rule_ids: list[str]
    started_at: datetime
    ended_at: datetime
    minors_present: bool
    reason: str | None = Field(repr=False)
    decided_by: str
    recorded_at: datetime


class ActivityName(StrEnum):
    """Stable activity names: a Python rename must never break a running history."""

    OPEN_CASE = "case.open"
    RECORD_EVENT = "case.record_event"
    RECORD_STAGE = "case.record_stage"
    CREATE_TASK = "task.create"
    CLOSE_TASK = "task.close"
    NOTIFY = "notice.send"
    RECORD_CONSENT = "consent.record"
    WITHDRAW_CONSENT = "consent.withdraw"
    HAND_OVER = "handover.send"
    REGISTER_SUPPORTER = "supporter.register"
    DUE_FOR_ERASURE = "retention.due_cases"
    ERASE_CASE = "retention.erase_case"
    PRODUCE_DOCUMENT = "documents.produce"
    RECORD_INCIDENT = "incident.record"
    ISSUE_FLYER = "flyers.issue"
    RECORD_ARRIVAL = "arrival.record"
    MAIL_FLYER = "arrival.mail_flyer"
    MAIL_OUTCOME = "arrival.mail_outcome"
    MAIL_UNSETTLED = "arrival.mail_unsettled"
    CREATE_HANDOVER_TASK = "arrival.create_task"
    ARRIVAL_NOTICE = "arrival.notice"
    CLOSE_HANDOVER_TASK = "arrival.close_task"
    FINISH_ARRIVAL = "arrival.finish"
    DUE_ARRIVALS = "retention.due_arrivals"
    ERASE_ARRIVALS = "retention.erase_arrivals"
    REPORT_UNCONFIRMED_ERASURE = "erasure.unconfirmed"
    DISPATCH_NOTICES = "notices.dispatch"
    MAIL_DIGESTS = "notices.digest"
    RULES_IN_FORCE = "rules.in_force"


KI_RECIPIENT = "ki"
HANDOVER_CATEGORIES = ["personal_data", "contact_data", "residence_status"]


def partner_recipient(partner_id: int) -> str:
    return f"partner:{partner_id}"


# ------------------------------------------------------------------- rows


class ConsentRow(Row):
    """A consent as a handover or a withdrawal locks it."""

    consent_id: UUID
    case_id: str
    withdrawn_on: date | None
    covered_partners: list[int] | None = None


class DisclosureRow(Row):
    disclosure_id: int
    recipient: str
    categories: list[str]


class HandoverRow(Row):
    """The three categories and nothing else: personal data, contact data, residence status."""

    given_name: str = Field(repr=False)
    family_name: str = Field(repr=False)
    date_of_birth: date = Field(repr=False)
    nationality: str = Field(repr=False)
    language: str = Field(repr=False)
    phone: str | None = Field(repr=False)
    email: str | None = Field(repr=False)
    street: str = Field(repr=False)
    postal_code: str = Field(repr=False)
    town: str = Field(repr=False)
    residence_status: str
