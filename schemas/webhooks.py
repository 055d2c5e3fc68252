"""The notifications the back office can subscribe to (webhooks), as they are sent.

Each is a JSON body ``{"type", "timestamp", "data"}`` (the Standard Webhooks layout), signed
with the subscription's secret (:mod:`protection.webhook_signing`). ``data`` holds ids and
states only; the triggers that write them are in ``store/migrations/037_webhooks.sql``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.case import Outcome, Stage
from schemas.events import ResidenceStatus
from schemas.inputs import OneLine
from schemas.tasks import EscalationDecision


class WebhookType(StrEnum):
    CASE_OPENED = "case.opened"
    CASE_STAGE_CHANGED = "case.stage_changed"
    ESCALATION_OPENED = "escalation.opened"
    ESCALATION_DECIDED = "escalation.decided"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CASE_CLOSED = "case.closed"
    CASE_ERASED = "case.erased"


class CaseOpenedData(BaseModel):
    case_id: str
    stage: Stage
    residence_status: ResidenceStatus


class StageChangedData(BaseModel):
    case_id: str
    stage: Stage
    previous_stage: Stage


class EscalationOpenedData(BaseModel):
    case_id: str
    task_id: str


class EscalationDecidedData(BaseModel):
    case_id: str
    task_id: str
    decision: EscalationDecision | None


class ConsentWithdrawnData(BaseModel):
    case_id: str
    withdrawn_on: date


class CaseClosedData(BaseModel):
    case_id: str
    outcome: Outcome | None


class CaseErasedData(BaseModel):
    case_id: str


class _Notification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamp: datetime = Field(description="When it happened (UTC).")


class CaseOpened(_Notification):
    """A case was opened by a status event."""

    type: Literal[WebhookType.CASE_OPENED]
    data: CaseOpenedData


class CaseStageChanged(_Notification):
    """A case went on to another stage."""

    type: Literal[WebhookType.CASE_STAGE_CHANGED]
    data: StageChangedData


class EscalationOpened(_Notification):
    """The ABH has an escalation to decide."""

    type: Literal[WebhookType.ESCALATION_OPENED]
    data: EscalationOpenedData


class EscalationDecided(_Notification):
    """The ABH decided an escalation."""

    type: Literal[WebhookType.ESCALATION_DECIDED]
    data: EscalationDecidedData


class ConsentWithdrawn(_Notification):
    """The person withdrew the consent to the referral."""

    type: Literal[WebhookType.CONSENT_WITHDRAWN]
    data: ConsentWithdrawnData


class CaseClosed(_Notification):
    """A case was closed, with its outcome."""

    type: Literal[WebhookType.CASE_CLOSED]
    data: CaseClosedData


class CaseErased(_Notification):
    """A closed case's personal data was erased."""

    type: Literal[WebhookType.CASE_ERASED]
    data: CaseErasedData


Notification = Annotated[
    CaseOpened
    | CaseStageChanged
    | EscalationOpened
    | EscalationDecided
    | ConsentWithdrawn
    | CaseClosed
    | CaseErased,
    Field(discriminator="type"),
]
"""One notification as the receiver gets it."""

NOTIFICATIONS: dict[WebhookType, type[_Notification]] = {
    WebhookType.CASE_OPENED: CaseOpened,
    WebhookType.CASE_STAGE_CHANGED: CaseStageChanged,
    WebhookType.ESCALATION_OPENED: EscalationOpened,
    WebhookType.ESCALATION_DECIDED: EscalationDecided,
    WebhookType.CONSENT_WITHDRAWN: ConsentWithdrawn,
    WebhookType.CASE_CLOSED: CaseClosed,
    WebhookType.CASE_ERASED: CaseErased,
}


SubscriptionName = Annotated[
    str, OneLine, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
]


class SubscriptionDraft(BaseModel):
    """``POST /api/v1/admin/webhooks``: an endpoint to subscribe."""

    model_config = ConfigDict(extra="forbid")

    name: SubscriptionName
    url: Annotated[
        str, OneLine, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)
    ] = Field(description="Where the notifications are posted (https in production).")
    secret: Annotated[str, OneLine, StringConstraints(max_length=200)] | None = Field(
        default=None,
        description="A whsec_ secret the receiver made; without it one is made and answered once.",
    )


class Subscription(BaseModel):
    """A subscribed endpoint as admins see it: never its secret."""

    subscription_id: int
    name: str
    url: str
    active: bool
    created_at: datetime


class SubscriptionMade(BaseModel):
    """A subscription just made, with its secret: answered once, then stored sealed only."""

    subscription: Subscription
    secret: str
