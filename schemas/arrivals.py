"""Neu zugewandert (issue 5): the short information workflow for everyone newly arrived.

A status event ``neu_zugewandert`` opens no return case. It starts one
:class:`workflows.arrival.ArrivalWorkflow` (id ``arrival-<reference>``), which issues the
flyer of the person's town in their language (``flyers.issue``, schemas/flyers.py) and gets
it to them: by e-mail where an address is known, else as a print-and-hand-over task for the
ABH. What was sent is recorded in ``arrival_deliveries``.

These models are the workflow's input and the arguments of its activities. Only
:class:`NewArrival` carries personal data, and only what the purpose needs (migration 011
says why each field is kept).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import CaseId, EventId
from schemas.flyers import IssuedFlyer
from schemas.records import NoticeKind
from schemas.rows import Row
from schemas.tasks import FlyerHandover, Queue, TaskStatus

MAIL_QUEUED = "MailQueued"
"""Error type of ``arrival.mail_outcome`` while the outbox has neither sent nor given up."""
MAIL_UNUSABLE = "MailUnusable"
"""Error type of ``arrival.mail_flyer`` when the address cannot be mailed to: print instead."""


class ArrivalTimings(BaseModel):
    """How long each step of an arrival may take; read from ``CASE_ARRIVAL_<FIELD>``."""

    model_config = ConfigDict(frozen=True)

    handover_due: timedelta = Field(
        default=timedelta(days=7),
        description="The ABH hands the printed flyer over within this time (then it is overdue).",
    )
    reminder_lead: timedelta = Field(
        default=timedelta(days=2),
        description="A reminder about the hand-over task goes to its team this long before it "
        "is due; at the due date an overdue notice follows (arrivals whose task opened before "
        "this change send neither).",
    )
    handover_lapse: timedelta = Field(
        default=timedelta(days=28),
        description="A hand-over task still open this long after it was created is withdrawn "
        "(recorded as lapsed) and the arrival ends.",
    )
    mail_check_first: timedelta = Field(
        default=timedelta(seconds=30),
        description="First look at the outbox after the mail was queued; then doubling.",
    )
    mail_check_max: timedelta = Field(
        default=timedelta(minutes=30), description="Longest pause between two looks."
    )
    mail_patience: timedelta = Field(
        default=timedelta(days=2),
        description="A mail neither sent nor failed after this time: the flyer is also handed "
        "over in print (the outbox gives up after about a day by default).",
    )
    flyer_retry: timedelta = Field(
        default=timedelta(days=1),
        description="When no flyer can be made for the town (no offers in the directory), ask "
        "again after this long, until handover_lapse has passed.",
    )
    activity_timeout: timedelta = Field(
        default=timedelta(seconds=30), description="Start-to-close timeout of one attempt."
    )
    step_retry_limit: timedelta = Field(
        default=timedelta(days=1),
        description="A step failing for another reason than its data is retried this long; "
        "then the arrival fails (visible to operations) and can be reported again.",
    )
    intake_grace: timedelta = Field(
        default=timedelta(minutes=1),
        description="A workflow whose arrival event was refused ends after this time, empty.",
    )


class ArrivalStart(BaseModel):
    """The workflow's input: no personal data (that arrives with the event, an update)."""

    model_config = ConfigDict(frozen=True)

    reference: CaseId
    timings: ArrivalTimings = Field(default_factory=ArrivalTimings)
    # Whose inbox gets the hand-over task: the county ABH's, or (Lünen, which has its own
    # ABH) where the configuration says. Arrivals started before it: the ABH's.
    handover_queue: Queue = Queue.ABH


class ArrivalStage(StrEnum):
    """What the intake answers as ``stage`` for an arrival."""

    INFORMATION = "arrival_information"  # the flyer is on its way
    INFORMED = "arrival_informed"  # finished: sent, handed over, or given up


class ArrivalOutcome(StrEnum):
    EMAILED = "emailed"  # the mail server accepted the mail with the flyer
    HANDED_OVER = "handed_over"  # the ABH handed the printed flyer over
    NOT_REACHABLE = "not_reachable"  # the ABH could not reach the person
    LAPSED = "lapsed"  # the hand-over task was not completed in time
    NO_FLYER = "no_flyer"  # no flyer could be made for the town (no offers) in that time


class Channel(StrEnum):
    EMAIL = "email"
    PRINT = "print"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # e-mail in the outbox
    SENT = "sent"
    FAILED = "failed"  # the outbox gave up (5xx, or every attempt failed)
    UNKNOWN = "unknown"  # neither sent nor failed within mail_patience
    OPEN = "open"  # print: the hand-over task is open
    HANDED_OVER = "handed_over"
    NOT_REACHABLE = "not_reachable"
    LAPSED = "lapsed"


class NewArrival(BaseModel):
    """What is stored of an arrival (``arrivals``): the minimum for the flyer to reach the
    person. Name: to hand the printed flyer over (also when a mail fails). E-mail: to send it.
    Town and language: which flyer. Nothing else of the event is kept (no date of birth,
    nationality, phone or address)."""

    model_config = ConfigDict(frozen=True)

    arrival_id: str
    reference: CaseId
    event_id: EventId
    town: str
    language: str
    effective_date: date
    given_name: str
    family_name: str
    email: str | None
    received_at: datetime


class FlyerMail(BaseModel):
    """Queue the flyer as an e-mail to the arrival's address and record the delivery."""

    arrival_id: str
    delivery_id: str
    flyer: IssuedFlyer
    at: datetime


class MailedFlyer(BaseModel):
    outbox_id: int


class MailWatch(BaseModel):
    """Look whether the outbox has sent (or given up) the mail of a delivery."""

    delivery_id: str
    outbox_id: int


class MailOutcome(BaseModel):
    status: Literal[DeliveryStatus.SENT, DeliveryStatus.FAILED]
    at: datetime | None = None


class MailUnsettled(BaseModel):
    """No outcome within ``mail_patience``: recorded as unknown before the print fallback."""

    delivery_id: str
    at: datetime


class HandoverTask(BaseModel):
    """Open the print-and-hand-over task and record the delivery as open."""

    arrival_id: str
    delivery_id: str
    task_id: str
    flyer: IssuedFlyer
    due_at: datetime
    at: datetime
    queue: Queue = Queue.ABH  # whose inbox (ArrivalStart.handover_queue)


class HandoverClosure(BaseModel):
    arrival_id: str
    delivery_id: str
    task_id: str
    status: TaskStatus  # completed or cancelled (lapsed)
    completion: FlyerHandover | None = None
    at: datetime


class ArrivalNotice(BaseModel):
    """A reminder or an overdue notice about the hand-over task, to its team's inbox
    (``notices``), sent once per :attr:`key`; overdue also marks the task overdue. No personal
    data: which arrival and task, which team, what kind, when."""

    arrival_id: str
    task_id: str
    queue: Queue
    kind: Literal[NoticeKind.REMINDER, NoticeKind.OVERDUE]
    at: datetime

    @property
    def key(self) -> str:
        """As a case task's notice: one per task and kind."""
        return f"{self.task_id}:{self.kind.value}"


class ArrivalFinish(BaseModel):
    """The arrival is done: its outcome, and from that its erasure date."""

    arrival_id: str
    outcome: ArrivalOutcome
    at: datetime


class ArrivalResult(BaseModel):
    reference: str
    arrival_id: str
    outcome: ArrivalOutcome


class DueArrivals(BaseModel):
    """References whose every arrival is finished and past its erasure date."""

    references: list[str]


class EraseArrivalRequest(BaseModel):
    reference: str
    reason: str


class ArrivalErasureOutcome(BaseModel):
    reference: str
    erased: bool
    refused: str | None = None


# ------------------------------------------------------------------- rows


class ArrivalRow(Row):
    """An arrival as stored; name and e-mail are None once erased (the e-mail also when
    unknown), outcome and ``finished_at`` until it finished."""

    arrival_id: str
    reference: str
    event_id: str
    town: str
    language: str
    effective_date: date
    received_at: datetime
    given_name: str | None = Field(repr=False)
    family_name: str | None = Field(repr=False)
    email: str | None = Field(repr=False)
    outcome: str | None
    finished_at: datetime | None
    erase_after: date | None
    erased_at: datetime | None


class ArrivalEventRow(Row):
    """The arrival an event opened."""

    arrival_id: str
    reference: str
    town: str
    finished_at: datetime | None


class DeliveryRow(Row):
    """A delivery of a flyer: by e-mail (``outbox_id``) or by hand (``task_id``)."""

    delivery_id: str
    flyer_id: str
    town: str
    languages: list[str]
    template_version: str
    directory_version: str
    content_hash: str
    flags: list[str]
    channel: str
    outbox_id: int | None
    task_id: str | None
    status: str
    handed_over_on: date | None
    created_at: datetime
    settled_at: datetime | None


class ArrivalPersonRow(Row):
    """Whom the ABH hands the flyer to; the names are None once erased."""

    arrival_id: str
    reference: str
    town: str
    language: str
    given_name: str | None = Field(repr=False)
    family_name: str | None = Field(repr=False)
    received_at: datetime


class ArrivalLockRow(Row):
    """An arrival as its erasure locks it."""

    arrival_id: UUID
    finished_at: datetime | None
    erase_after: date | None
    erased_at: datetime | None
