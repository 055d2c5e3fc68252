"""Notices that reach people (issue 14, point 5): how the dispatcher is configured, what it
reports, and the rows it reads.

The workflows write notices (reminders, overdue notices, supporters reported) into the
``notices`` table; a new KI referral is a new open ``ki_contact`` task, of which the dispatcher
writes the notice itself. ``activities/notices.py`` turns them into e-mails through the outbox:
one mail per notice, a daily digest per recipient, or both (:class:`NoticeMode`). A mail goes
to the task's assignee when the assignee has an address, else to the team's address. It names
the case (or arrival) reference, the task kind and its due date, and links the page: nothing
else about the person.

Workflow payloads (:class:`NoticeRun`, :class:`NoticeRound`, the reports) carry a time and
counts only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from schemas.mail import MailAddress
from schemas.rows import Row
from schemas.tasks import Queue


class NoticeMode(StrEnum):
    """Which mails the dispatcher sends (``CASE_NOTICE_MAILS``)."""

    BOTH = "both"  # a mail per notice within minutes, and the daily digest
    SINGLE = "single"  # a mail per notice, no digest
    DIGEST = "digest"  # the daily digest only: it lists the notices since the one before
    OFF = "off"  # no mail: the notices wait (the inbox shows the tasks all the same)

    @property
    def single_mails(self) -> bool:
        return self in (NoticeMode.BOTH, NoticeMode.SINGLE)

    @property
    def digests(self) -> bool:
        return self in (NoticeMode.BOTH, NoticeMode.DIGEST)


class NoticeDelivery(BaseModel):
    """The dispatcher's configuration (``config.settings.Settings.notice_delivery``)."""

    model_config = ConfigDict(frozen=True)

    mode: NoticeMode = NoticeMode.BOTH
    # The teams' addresses: where a notice goes whose task nobody with an address holds.
    queue_addresses: dict[Queue, MailAddress] = Field(default_factory=dict)
    # Where the staff open the pages; the mails link <public_url>/aufgaben/<task id>.
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+[^\s]*$")
    digest_hour: int = Field(default=7, ge=0, le=23)  # Europe/Berlin
    interval: timedelta = Field(default=timedelta(minutes=5), ge=timedelta(minutes=1))
    # Tasks listed by name in one digest; its counts are complete, the rest is in the inbox.
    digest_limit: int = Field(default=50, ge=1, le=500)
    # Digests are about many cases and belong to none: their outbox rows are deleted after.
    digest_keep: timedelta = Field(default=timedelta(days=30), ge=timedelta(days=1))

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class NoticeRun(BaseModel):
    """What a schedule starts the notice workflow with: the dispatch, or the digest."""

    digest: bool = False


class NoticeRound(BaseModel):
    """One round of the dispatcher, at the workflow's time (a retried activity keeps the day
    of its digest)."""

    at: AwareDatetime


class DispatchReport(BaseModel):
    """Counts only: what one dispatch round did."""

    ki_referrals: int = 0  # notices written for new open ki_contact tasks
    mailed: int = 0  # notices queued as a mail of their own
    settled: int = 0  # settled without a mail: task closed, reminder superseded
    without_address: int = 0  # waiting: neither the assignee nor the team has an address


class DigestReport(BaseModel):
    """Counts only: what one digest round did."""

    day: date
    digests: int = 0  # mails queued (one per recipient with something to say, once a day)
    notices: int = 0  # notices listed in a digest (digest-only mode), settled by it
    without_address: int = 0  # open tasks nobody with an address would hear of
    removed: int = 0  # digest mails older than digest_keep, deleted from the outbox


class NoticeReport(BaseModel):
    dispatch: DispatchReport | None = None
    digest: DigestReport | None = None


# ------------------------------------------------------------------- rows


class PendingNoticeRow(Row):
    """A notice waiting for its mail, with its task and the assignee's address (if any)."""

    key: str
    case_id: str | None
    arrival_id: UUID | None
    arrival_reference: str | None
    queue: str
    kind: str
    task_id: str | None
    task_kind: str | None
    task_status: str | None
    task_overdue: bool | None
    due_at: datetime | None
    account_id: int | None  # the assignee, when active and with an address
    email: str | None = Field(repr=False)
    created_at: datetime


class DigestTaskRow(Row):
    """An open task as a digest lists it, with the assignee's address (if any)."""

    task_id: str
    case_id: str | None
    arrival_reference: str | None
    kind: str
    queue: str
    due_at: datetime
    overdue: bool
    account_id: int | None
    email: str | None = Field(repr=False)
