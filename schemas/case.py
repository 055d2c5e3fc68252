"""The case: its stages, outcomes, the workflow's input and what the API shows of it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from schemas.decision_rules import SEEDED_VERSION
from schemas.events import ResidenceStatus
from schemas.inputs import Text
from schemas.process import ProcessTimings
from schemas.residence_routes import ResidenceRoutes
from schemas.rows import Row
from schemas.tasks import Queue, TaskKind, TaskStatus, TaskView
from schemas.time_rules import TimeRule


class Stage(StrEnum):
    """Where a case stands in the practice concept (DOMAIN.md, "The process")."""

    OPENING = "opening"
    INFORMATION_CONVERSATION = "information_conversation"
    ROUTE_PURSUED = "route_pursued"
    REFERRAL_OFFER = "referral_offer"
    KI_REFERRAL = "ki_referral"
    FOLLOW_UP = "follow_up"
    ESCALATION = "escalation"
    ENFORCEMENT_PLANNED = "enforcement_planned"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Outcome(StrEnum):
    RESIDENCE_GRANTED = "residence_granted"
    DEPARTED_VOLUNTARILY = "departed_voluntarily"
    DEPARTED_ENFORCED = "departed_enforced"
    MOVED_AWAY = "moved_away"
    CLOSED_BY_ABH = "closed_by_abh"
    NEVER_OPENED = "never_opened"


class CaseStart(BaseModel):
    """The input of one case workflow. Settings travel with the case so it replays the same."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    timings: ProcessTimings = Field(default_factory=ProcessTimings)
    time_rules: tuple[TimeRule, ...] = ()
    # None for cases started before the routes were data: their conversations are not checked.
    residence_routes: ResidenceRoutes | None = None
    # The rule-set version the values above are (schemas/rule_sets.py): cases started before
    # rule sets were data carry the configured set, which became version 1.
    rule_version: int = Field(default=SEEDED_VERSION, ge=1)
    # The workflow changes (patch ids) in force when the case started: they apply without
    # asking ``workflow.patched``, which records a marker and an upsert of the
    # TemporalChangeVersion search attribute in every case that asks. Empty for cases started
    # before this field: they ask, as they always did.
    changes: tuple[str, ...] = ()
    # A closed case that comes back (a new obligation): this run goes on with its timeline
    # after the last entry of the runs before. None: the case's first run.
    reopened_after_seq: int | None = Field(default=None, ge=0)
    # The run before this one continued as new: its state.
    carried: CarriedCase | None = None


class CarriedTask(BaseModel):
    """An open task carried into the case's next run (its row stays as it is)."""

    task_id: str
    kind: TaskKind
    queue: Queue
    due_at: datetime
    overdue: bool = False
    detail: str | None = None


class CarriedCase(BaseModel):
    """What a case takes into its next run when its history has grown past the bound
    (continue-as-new, at a quiet moment of the follow-up): everything its stages read."""

    stage: Stage
    residence_status: ResidenceStatus
    departure_deadline: date | None
    tolerated_since: date | None
    children: tuple[date, ...]
    person_born: date | None
    town: str
    seq: int
    received: int
    seen_events: dict[str, str]
    consent_id: str | None
    consent_withdrawn: bool
    covered_partners: list[int] | None = None
    follow_up_queue: Queue
    misses: int
    # The check-in that was due when the run ended: the new run opens it at once.
    next_check_at: datetime | None = None
    planned_departure_on: date | None
    return_support: tuple[str, str] | None
    representatives_recorded: bool | None
    representative_track: bool
    # Open representative tasks (recording one), the first of them the one whose completion
    # starts the inquiries; or the time of the next inquiry, when they run already.
    representative_tasks: list[CarriedTask] = Field(default_factory=list)
    first_recording: str | None = None
    next_inquiry_at: datetime | None = None
    # Open erasure confirmations after a withdrawal (each task's detail is its recipient).
    erasure_tasks: list[CarriedTask] = Field(default_factory=list)
    runs: int = Field(default=1, description="How many runs the case had before this one.")


class CaseResult(BaseModel):
    case_id: str
    outcome: Outcome


class ConsentWithdrawal(BaseModel):
    """Widerruf der Einwilligung (GDPR Art. 7(3)): from now on nothing more is passed on."""

    model_config = ConfigDict(extra="forbid")

    withdrawn_on: date
    received_by: Text | None = Field(default=None, description="Who at the ABH received it.")


class RouteFailure(BaseModel):
    """The ABH records that the route to a residence title failed (refused, withdrawn, its
    conditions no longer met): the case goes on with the referral offer."""

    model_config = ConfigDict(extra="forbid")

    failed_on: date
    reason: Text = Field(description="Why it failed, e.g. 'Antrag nach §25b abgelehnt'.")


class DeadlineExtension(BaseModel):
    """The ABH extends the departure deadline (§59 Abs. 1 Satz 4 AufenthG), at any time, with
    a reason: every wait of the case on the deadline moves with it."""

    model_config = ConfigDict(extra="forbid")

    new_deadline: date
    reason: Text = Field(description="Why, e.g. 'Reisedokumente beantragt, Termin Botschaft'.")


class Reopening(BaseModel):
    """A closed case comes back with a new obligation to leave (the case page's "Fall wieder
    eröffnen", ``POST /api/v1/cases/{case_id}/reopen``): delivered as the status event it
    stands for, with the person and the household as the case file has them (never sent)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[ResidenceStatus.AUSREISEPFLICHTIG, ResidenceStatus.GEDULDET]
    effective_date: date = Field(description="The day the new decision took effect.")
    departure_deadline: date | None = Field(
        default=None, description="Ausreisefrist of the new decision (with a Duldung often none)."
    )


class SupporterReport(BaseModel):
    """A supporter accompanies the person; the ABH must know at once."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    organisation: Text | None = None
    contact: Text
    is_representative: bool


class CaseUpdateResult(BaseModel):
    """Answer to a withdrawal or a supporter report."""

    case_id: str
    stage: Stage


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    detail: str


class HouseholdMember(BaseModel):
    """Another member's case in the same household (``Household.reference``)."""

    case_id: str
    stage: Stage
    outcome: Outcome | None


class CaseView(BaseModel):
    """``GET /api/v1/cases/{case_id}``."""

    case_id: str
    stage: Stage
    residence_status: ResidenceStatus
    outcome: Outcome | None
    departure_deadline: date | None
    open_tasks: list[TaskView]
    timeline: list[TimelineEntry]
    household: list[HouseholdMember] = Field(
        default_factory=list,
        description="The other members' cases, when the intake linked the household.",
    )


class ReportedCase(BaseModel):
    """``GET /api/v1/reported-cases/{case_id}``: what a back-office system may read back of a
    case it reported. Ids and states only, never personal data."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "case_id": "ABH-2026-004711",
                    "stage": "closed",
                    "residence_status": "ausgereist",
                    "outcome": "departed_voluntarily",
                }
            ]
        }
    )

    case_id: str
    stage: Stage
    residence_status: ResidenceStatus
    outcome: Outcome | None = Field(description="How the case ended; null while it runs.")


class KiPersonalData(BaseModel):
    """Category 1 of the handover to the KI: who the person is."""

    given_name: str
    family_name: str
    date_of_birth: date
    nationality: str = Field(description="ISO 3166-1 alpha-3.")
    language: str = Field(description="ISO 639 code.")


class KiContactData(BaseModel):
    """Category 2 of the handover to the KI: how to reach the person."""

    phone: str | None
    email: str | None
    street: str
    postal_code: str
    town: str


class KiTask(BaseModel):
    """One of the KI's own tasks in a case, as its case page lists it."""

    task_id: str
    kind: TaskKind
    status: TaskStatus
    due_at: datetime
    overdue: bool
    closed_at: datetime | None


class KiCaseView(BaseModel):
    """``GET /api/v1/cases/{case_id}`` for the KI: exactly what its case page shows.

    The three categories it received on the person's consent (personal data, contact data,
    residence status), when it received them, and its own tasks; nothing of the ABH's timeline,
    tasks, stages or documents (data minimisation, DOMAIN.md "Data protection").
    """

    case_id: str
    received_at: datetime = Field(description="When the KI received the three categories.")
    personal_data: KiPersonalData
    contact_data: KiContactData
    residence_status: ResidenceStatus
    open_tasks: list[KiTask]
    done_tasks: list[KiTask] = Field(description="Completed and cancelled tasks of the KI.")


# ------------------------------------------------------------------- rows


class CaseRow(Row):
    """The case row: stage, status and outcome as stored (their enums' values)."""

    case_id: str
    stage: str
    residence_status: str
    outcome: str | None
    departure_deadline: date | None
    town: str


class HouseholdMemberRow(Row):
    """Another case of the same household."""

    case_id: str
    stage: str
    outcome: str | None


class RecordedEvent(Row):
    """A status event the case store has recorded: its case and what it said."""

    case_id: str
    content_digest: str | None  # schemas.events.event_digest; None: recorded before 015


class StageCountRow(Row):
    stage: str
    cases: int


class TimelineRow(Row):
    at: datetime
    kind: str
    detail: str


class KiReferralRow(Row):
    """What the KI holds of a case: the three categories as they were handed over."""

    personal_data: dict[str, JsonValue] = Field(repr=False)
    contact_data: dict[str, JsonValue] = Field(repr=False)
    residence_status: str
    received_at: datetime
