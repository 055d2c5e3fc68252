"""Human tasks: what the ABH and the KI complete, one model per kind.

``TaskCompletion`` is the body of ``POST /api/v1/tasks/{task_id}/complete`` and the argument of
the workflow's ``complete_task`` update; the workflow's validator is the authority on whether a
completion is acceptable now (dates, time rules), the model on its shape.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.conversation import ABH_LANGUAGE, CopyDelivery, Interpreter, Participant
from schemas.decision_rules import DecisionRules
from schemas.departure import ReturnProgramme, ReturnSupport
from schemas.inputs import LanguageCode, Line, RowId, Text, belongs_to
from schemas.routes import Prerequisite, Route
from schemas.rows import Row


class Queue(StrEnum):
    ABH = "abh"
    KI = "ki"


class TaskKind(StrEnum):
    INFORMATION_CONVERSATION = "information_conversation"
    REFERRAL_CONSENT = "referral_consent"
    KI_CONTACT = "ki_contact"
    FOLLOW_UP = "follow_up"
    REPRESENTATIVE = "representative"
    REPRESENTATIVE_INQUIRY = "representative_inquiry"
    ESCALATION = "escalation"
    FLYER_HANDOVER = "flyer_handover"  # an arrival's task (workflows/arrival.py), no case
    STEP_FAILED = "step_failed"  # a step of the case could not be carried out (its data)
    ENFORCEMENT_RESULT = "enforcement_result"  # what happened at a planned enforcement
    ROUTE_REVIEW = "route_review"  # the departure deadline passed while a route is pursued
    ERASURE_CONFIRMATION = "erasure_confirmation"  # a recipient erased, after a withdrawal


# The German names of the task kinds, as the pages and the notice mails say them (web/labels.py
# uses this very mapping; tests/test_notices.py checks that every kind has one).
TASK_KIND_LABELS: dict[str, str] = {
    "information_conversation": "Informationsgespräch",
    "referral_consent": "Vermittlungsangebot und Einwilligung",
    "ki_contact": "Kontakt zu Partner vor Ort (KI)",
    "follow_up": "Nachhalten (Check-in)",
    "representative": "Bevollmächtigte*n erfassen",
    "representative_inquiry": "Bevollmächtigte*n nach Tatsachen fragen",
    "escalation": "Entscheidung der ABH",
    "flyer_handover": "Faltblatt aushändigen (Neuzugang)",
    "step_failed": "Fehler bei der Verarbeitung",
    "enforcement_result": "Ergebnis der Abschiebung erfassen",
    "route_review": "Bleiberechtsweg prüfen (Ausreisefrist abgelaufen)",
    "erasure_confirmation": "Löschung beim Partner bestätigen (Widerruf)",
}


class TaskStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Perspective(StrEnum):
    NONE_EVIDENT = "none_evident"
    ROUTE_POSSIBLE = "route_possible"


# How long one planned enforcement may last: longer is a planning error, not a measure.
MAX_ENFORCEMENT = timedelta(hours=24)


class EscalationDecision(StrEnum):
    EXTEND_DEADLINE = "extend_deadline"
    TOLERATION = "toleration"
    ENFORCEMENT = "enforcement"
    CLOSE = "close"


def _kind_required(schema: dict[str, Any]) -> None:
    # ``kind`` tells the union's members apart (its discriminator), so a request without it is
    # refused; the models default it only so that code can build a completion without it.
    required = schema.setdefault("required", [])
    if "kind" not in required:
        required.insert(0, "kind")


class _Completion(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_kind_required)


class MissingPrerequisite(BaseModel):
    """A prerequisite of a discussed route that the person does not (yet) fulfil."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: Route
    prerequisite: Prerequisite


class InformationConversation(_Completion):
    """Informationsgespräch held, documented after the Gesprächskonzept."""

    kind: Literal["information_conversation"] = "information_conversation"
    held_on: date
    routes_discussed: list[Route] = Field(min_length=1)
    perspective: Perspective
    route_pursued: Route | None = Field(
        default=None,
        validate_default=True,
        description="Required when perspective is route_possible.",
    )

    # Cross-field rules are field validators (not model validators) so that the error names
    # the field a caseworker has to correct.
    @field_validator("route_pursued")
    @classmethod
    def _route_when_possible(cls, value: Route | None, info: ValidationInfo) -> Route | None:
        if info.data.get("perspective") is Perspective.ROUTE_POSSIBLE and value is None:
            raise ValueError("required when perspective is route_possible")
        if value is not None and value not in info.data.get("routes_discussed", []):
            raise ValueError("must be one of routes_discussed")
        return value

    missing_prerequisites: list[MissingPrerequisite] = Field(
        default_factory=list,
        max_length=100,
        description="What the person still lacks for each route discussed (Gesprächskonzept); "
        "printed in the person's copy of the record. Whether a prerequisite belongs to the "
        "route is checked against the rules in force on held_on.",
    )

    @field_validator("missing_prerequisites")
    @classmethod
    def _missing_of_discussed_routes(
        cls, value: list[MissingPrerequisite], info: ValidationInfo
    ) -> list[MissingPrerequisite]:
        discussed = info.data.get("routes_discussed", [])
        if any(item.route not in discussed for item in value):
            raise ValueError("only prerequisites of routes_discussed")
        if len(set(value)) != len(value):
            raise ValueError("each prerequisite once")
        return value

    # How the conversation was held (schemas/conversation.py). Conversations recorded before
    # it was asked for have none of it, and their cases' histories must still read: the
    # workflow's validator asks for language, participants and record_copy (and
    # departure_letter when a letter is issued) in every new record.
    language: LanguageCode | None = Field(
        default=None,
        description="The conversation language, ISO 639 (e.g. ar, fa, ku, tr; de for German); "
        "required. Printed in the person's copy of the record.",
    )
    interpreter: Interpreter | None = Field(
        default=None,
        description="The interpreter, if one took part: in the conversation language (never "
        "German), present, by phone or by video. No name.",
    )

    @field_validator("interpreter")
    @classmethod
    def _interpreter_of_the_language(
        cls, value: Interpreter | None, info: ValidationInfo
    ) -> Interpreter | None:
        if value is None:
            return value
        if value.language == ABH_LANGUAGE:
            raise ValueError("no interpreter for a conversation in German")
        language = info.data.get("language")
        if language is not None and value.language != language:
            raise ValueError("must be in the conversation language")
        return value

    participants: list[Participant] = Field(
        default_factory=list,
        max_length=len(Participant),
        description="Who took part besides the ABH, by role (never names); the person always. "
        "Required.",
    )

    @field_validator("participants")
    @classmethod
    def _participants(cls, value: list[Participant]) -> list[Participant]:
        if len(set(value)) != len(value):
            raise ValueError("each participant once")
        if value and Participant.PERSON not in value:
            raise ValueError("the conversation is held with the person")
        return value

    record_copy: CopyDelivery | None = Field(
        default=None,
        description="How the person's copy of the record reached them; required.",
    )
    departure_letter: CopyDelivery | None = Field(
        default=None,
        description="How the departure letter (Ausreiseinformationsschreiben) reached the "
        "person; required when one is issued (a departure deadline ahead), else empty.",
    )


class ReferralConsent(_Completion):
    """Angebot der Vermittlung: interest, and the signed Einwilligung/Schweigepflichtentbindung."""

    kind: Literal["referral_consent"] = "referral_consent"
    interested: bool
    consent_signed_on: date | None = Field(default=None, validate_default=True)

    @field_validator("consent_signed_on")
    @classmethod
    def _signed_when_interested(cls, value: date | None, info: ValidationInfo) -> date | None:
        interested = info.data.get("interested")
        if interested and value is None:
            raise ValueError(
                "required when interested: no data leaves the ABH without a signed consent"
            )
        if interested is False and value is not None:
            raise ValueError("must be empty when the person is not interested")
        return value


class KiContactResult(StrEnum):
    REACHED = "reached"  # the person takes up the support: a partner is chosen
    DECLINED = "declined"  # the person does not want it
    NOT_REACHED = "not_reached"
    # The partner the person needs is not named on the signed consent (added to the directory
    # later, or in the town the person moved to): the ABH offers a new consent.
    NEW_CONSENT = "new_consent"


class KiContact(_Completion):
    """The KI's contact with the person: reached (and the partner in the person's town who
    takes the case on), declined, or not reached; a short note to the ABH if needed."""

    kind: Literal["ki_contact"] = "ki_contact"
    # Completions recorded before the result was asked for name a partner: reached.
    result: KiContactResult = KiContactResult.REACHED
    partner_id: RowId | None = Field(
        default=None,
        validate_default=True,
        description="The welfare association or volunteer group; required when reached.",
    )
    contacted_on: date
    note_to_abh: Text | None = Field(
        default=None,
        max_length=500,
        description=(
            "A short note to the ABH, only of what the consent covers (no health, no family"
            " matters beyond the three categories)."
        ),
    )

    @field_validator("partner_id")
    @classmethod
    def _partner_when_reached(cls, value: int | None, info: ValidationInfo) -> int | None:
        result = info.data.get("result")
        reached = None if result is None else result is KiContactResult.REACHED
        return belongs_to(value, reached, "the person was reached")


class FollowUp(_Completion):
    """A check-in on the voluntary departure."""

    kind: Literal["follow_up"] = "follow_up"
    reached: bool
    planned_departure_on: date | None = Field(
        default=None, description="A check-in follows the day after it."
    )
    return_programme: ReturnProgramme | None = Field(
        default=None, description="The return-support programme applied for, if any."
    )
    return_support: ReturnSupport | None = Field(
        default=None,
        validate_default=True,
        description="How far the application has come; required with return_programme.",
    )

    @field_validator("planned_departure_on", "return_programme")
    @classmethod
    def _plan_needs_contact(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("reached") is False:
            raise ValueError("only when the person was reached")
        return value

    @field_validator("return_support")
    @classmethod
    def _support_of_a_programme(cls, value: Any, info: ValidationInfo) -> Any:
        programme = info.data.get("return_programme")
        if programme is not None and value is None:
            raise ValueError("required with return_programme")
        if value is not None and programme is None and "return_programme" in info.data:
            raise ValueError("only with return_programme")
        return value


class Representative(_Completion):
    """Bevollmächtigte*r recorded by the ABH after a supporter was reported."""

    kind: Literal["representative"] = "representative"
    name: Text
    contact: Text
    power_of_attorney_on: date


class RepresentativeInquiry(_Completion):
    """The ABH asked the representative for residence-relevant facts."""

    kind: Literal["representative_inquiry"] = "representative_inquiry"
    asked_on: date
    facts_reported: bool
    fact: Text | None = Field(
        default=None,
        validate_default=True,
        description="What the representative reported; required when facts were reported.",
    )
    learned_on: date | None = Field(
        default=None, validate_default=True, description="When; required with the fact."
    )
    relevant_to: Route | None = Field(
        default=None, description="The route to a residence title the fact bears on, if any."
    )

    @field_validator("fact", "learned_on")
    @classmethod
    def _with_facts(cls, value: Any, info: ValidationInfo) -> Any:
        # Required with facts_reported by the workflow's validator: inquiries recorded as a
        # yes alone, before facts were asked for, must still read in their cases' histories.
        reported = info.data.get("facts_reported")
        if reported is False and value is not None:
            raise ValueError("only when facts were reported")
        return value


class Escalation(_Completion):
    """The ABH's decision after a missed departure deadline or an unreachable person."""

    kind: Literal["escalation"] = "escalation"
    decision: EscalationDecision
    new_deadline: date | None = Field(default=None, validate_default=True)
    enforcement_at: AwareDatetime | None = Field(
        default=None,
        validate_default=True,
        description="With a time zone, e.g. 2026-05-04T08:00:00+02:00.",
    )
    enforcement_until: AwareDatetime | None = Field(
        default=None,
        validate_default=True,
        description=(
            "The planned end of the measure, with a time zone: the time rules judge all of it."
        ),
    )
    announced_on: date | None = Field(
        default=None,
        description=(
            "The day the enforcement was announced to the person; required where a notice"
            " period applies (§60a(5) AufenthG)."
        ),
    )
    enters_home: bool = Field(
        default=False, description="The enforcement enters a home (§58(7) AufenthG)."
    )
    court_order: bool = Field(default=False, description="A court order for entering at night.")

    @field_validator("new_deadline", "enforcement_at", "enforcement_until")
    @classmethod
    def _fields_of_decision(cls, value: Any, info: ValidationInfo) -> Any:
        needed_for = {
            "new_deadline": EscalationDecision.EXTEND_DEADLINE,
            "enforcement_at": EscalationDecision.ENFORCEMENT,
            "enforcement_until": EscalationDecision.ENFORCEMENT,
        }[str(info.field_name)]
        if info.field_name == "enforcement_until" and value is None:
            # Decisions recorded before the end was asked for have none, and their cases'
            # histories must still read: the workflow asks for it in every new decision.
            return value
        decision = info.data.get("decision")
        holds = None if decision is None else decision is needed_for
        belongs_to(value, holds, f"the decision is {needed_for.value}")
        if info.field_name == "enforcement_until" and value is not None:
            starts = info.data.get("enforcement_at")
            if isinstance(starts, datetime) and value <= starts:
                raise ValueError("must be after enforcement_at")
            if isinstance(starts, datetime) and value - starts > MAX_ENFORCEMENT:
                raise ValueError("a measure of more than 24 hours is not planned as one")
        return value


class FlyerHandover(_Completion):
    """Neu zugewandert: the ABH handed the printed flyer over, or could not reach the person."""

    kind: Literal["flyer_handover"] = "flyer_handover"
    handed_over: bool
    handed_over_on: date | None = Field(
        default=None, validate_default=True, description="Required when handed_over."
    )

    @field_validator("handed_over_on")
    @classmethod
    def _date_when_handed_over(cls, value: date | None, info: ValidationInfo) -> date | None:
        return belongs_to(value, info.data.get("handed_over"), "the flyer was handed over")


class StepFailureReview(_Completion):
    """Fehler bei der Verarbeitung: the ABH has looked at a step that could not be carried out
    and made good what it lacked (by hand in the case file, or with the operations team)."""

    kind: Literal["step_failed"] = "step_failed"
    checked_on: date
    action: Text = Field(description="What was done about it; no personal data needed.")


class EnforcementOutcome(StrEnum):
    CARRIED_OUT = "carried_out"
    BROKEN_OFF = "broken_off"
    NOT_FOUND = "not_found"


class EnforcementResult(_Completion):
    """What actually happened at a planned enforcement, recorded by the ABH afterwards.

    The time rules are checked against the actual times. A breach is not refused (it has
    happened): it is documented as an incident with the reason and who decided.
    """

    kind: Literal["enforcement_result"] = "enforcement_result"
    result: EnforcementOutcome
    started_at: AwareDatetime = Field(description="When the measure actually began.")
    ended_at: AwareDatetime = Field(description="When it actually ended.")
    minors_present: bool = Field(description="Whether minors were present.")
    breach_reason: Text | None = Field(
        default=None,
        description="Required when the actual times broke a time rule: why it happened.",
    )
    decided_by: Line | None = Field(
        default=None,
        description="Required with a breach: who decided to go on (office or function).",
    )

    @field_validator("ended_at")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        starts = info.data.get("started_at")
        if isinstance(starts, datetime) and value <= starts:
            raise ValueError("must be after started_at")
        if isinstance(starts, datetime) and value - starts > MAX_ENFORCEMENT:
            raise ValueError("a measure of more than 24 hours is not planned as one")
        return value


class RouteReviewOutcome(StrEnum):
    STILL_PURSUED = "still_pursued"
    FAILED = "failed"


class RouteReview(_Completion):
    """The departure deadline passed while a route is pursued: the ABH looks at where it
    stands. Still pursued, it names the day to look again; failed, the case goes on with the
    referral offer."""

    kind: Literal["route_review"] = "route_review"
    outcome: RouteReviewOutcome
    review_again_on: date | None = Field(
        default=None, validate_default=True, description="Required when still pursued."
    )
    reason: Text | None = Field(
        default=None, validate_default=True, description="Required when the route failed."
    )

    @field_validator("review_again_on", "reason")
    @classmethod
    def _fields_of_outcome(cls, value: Any, info: ValidationInfo) -> Any:
        needed_for = {
            "review_again_on": RouteReviewOutcome.STILL_PURSUED,
            "reason": RouteReviewOutcome.FAILED,
        }[str(info.field_name)]
        outcome = info.data.get("outcome")
        holds = None if outcome is None else outcome is needed_for
        return belongs_to(value, holds, f"the outcome is {needed_for.value}")


class ErasureConfirmation(_Completion):
    """After a withdrawal: the KI had the partner (``detail`` of the task) erase the data it
    received, and confirms it."""

    kind: Literal["erasure_confirmation"] = "erasure_confirmation"
    confirmed_on: date
    how: Text = Field(description="How it was confirmed, e.g. 'schriftlich per E-Mail'.")


TaskCompletion = Annotated[
    InformationConversation
    | ReferralConsent
    | KiContact
    | FollowUp
    | Representative
    | RepresentativeInquiry
    | Escalation
    | FlyerHandover
    | StepFailureReview
    | EnforcementResult
    | RouteReview
    | ErasureConfirmation,
    Field(discriminator="kind"),
]


class CompleteTask(BaseModel):
    """The argument of the workflow's ``complete_task`` update."""

    task_id: Line
    completion: TaskCompletion
    # The workflow cannot read the other members' files: the service adds, for a decision
    # the time rules check, the dates of birth the household has beyond this case.
    household_born: list[date] = Field(default_factory=list, max_length=200)
    # For a decision the rules check (an enforcement, its result, a conversation): the
    # rule-set version in force, which the form showed, and the part the check reads. None:
    # sent before rule sets were data; the case checks against its own.
    rules: DecisionRules | None = None


class TaskView(BaseModel):
    """An open task as the inbox lists it: a case's, or (``flyer_handover``) an arrival's."""

    task_id: str
    case_id: str | None
    arrival_reference: str | None = None
    kind: TaskKind
    queue: Queue
    due_at: datetime
    status: TaskStatus = TaskStatus.OPEN
    overdue: bool = False
    detail: str | None = Field(
        default=None,
        description="What the task is about beyond its kind, never personal: for step_failed "
        "the step (activity name) that could not be carried out.",
    )


class CheckInRow(Row):
    status: str
    reached: bool | None
    due_at: datetime
    closed_at: datetime | None


class TaskCursor(BaseModel):
    """Where a page of tasks ended: lists of tasks are ordered by due date, then id."""

    due_at: datetime
    task_id: str


class TaskResult(BaseModel):
    """Answer to a completed task: the stage the case (or the arrival) moved on to."""

    task_id: str
    case_id: str | None
    stage: str
    arrival_reference: str | None = None


# ------------------------------------------------------------------- rows


class TaskRow(Row):
    """What every read of a task returns; kind, queue and status as stored (their enums'
    values). A task belongs to a case (``case_id``) or to an arrival."""

    task_id: str
    case_id: str | None
    kind: str
    queue: str
    status: str
    due_at: datetime
    overdue: bool


class TaskTownRow(TaskRow):
    """A task with the person's town: the case's or the arrival's (a task has one of them,
    tasks' CHECK, and both have a town)."""

    arrival_reference: str | None
    town: str


class OpenTaskRow(TaskRow):
    arrival_reference: str | None
    detail: str | None


class InboxTaskRow(TaskRow):
    """A task as the inbox changes it: with whom it is assigned to."""

    assigned_to: int | None
    detail: str | None


class InboxViewRow(InboxTaskRow):
    arrival_reference: str | None


class InboxViewPersonRow(InboxViewRow):
    """A row of the inbox page: whom the task is about, as far as the reading team may know
    (the KI knows no departure deadline; an arrival has none either)."""

    given_name: str | None
    family_name: str | None
    town: str | None
    departure_deadline: date | None


class InboxTaskTownRow(InboxViewRow):
    """A task as its form shows it, with the person's town (as in :class:`TaskTownRow`)."""

    town: str


class CaseTaskRow(InboxTaskRow):
    closed_at: datetime | None


class QueueCountRow(Row):
    """Open tasks of a queue: all, overdue ones, and those nobody has claimed."""

    queue: str
    open: int
    overdue: int
    unclaimed: int


class StepFailureCountRow(Row):
    """Open ``step_failed`` tasks of one step (its activity name, ``tasks.detail``)."""

    step: str | None
    open: int


class AssignmentRow(Row):
    """A claim, release or hand-over of a task; the comment may be about the person."""

    action: str
    by_account: int
    from_account: int | None
    to_account: int | None
    comment: str | None = Field(repr=False)
    at: datetime
