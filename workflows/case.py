"""The departure case (Ausreisefall): one durable workflow per case, the practice concept as code.

The stages follow DOMAIN.md, "The process": Informationsgespräch → Perspektivprüfung → Angebot
der Vermittlung und Einwilligung → Übermittlung an das KI → Begleitung der freiwilligen Ausreise →
Eskalation an die ABH → abgeschlossen. Each stage is one method that returns the next stage, or
the escalation to the ABH with its reason.

Things that can happen at any time (a new status, a consent withdrawal, a supporter) arrive as
updates. They are queued in an inbox and taken in by the main loop whenever it waits, so there
is exactly one writer of the case's state and timeline. A status that ends or suspends the case
interrupts the stage that is waiting.

Human steps are tasks: a row in the inbox table plus a wait with a due date. A reminder goes out
before the due date; what happens after it is a decision of the process, written per stage on
the task's outcome (done, lapsed, patience ended). The machinery is ``workflows/engine.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.case import (
        CarriedCase,
        CarriedTask,
        CaseResult,
        CaseStart,
        CaseUpdateResult,
        ConsentWithdrawal,
        DeadlineExtension,
        Outcome,
        RouteFailure,
        Stage,
        SupporterReport,
    )
    from schemas.case_documents import CaseDocument, ConversationFacts, DocumentRequest
    from schemas.decision_rules import CaseRules, DecisionRules, RulesQuery
    from schemas.documents import DocumentKind, RouteDiscussed
    from schemas.erasure import erasure_unconfirmed
    from schemas.errors import ErrorType, FieldError
    from schemas.events import IntakeResult, ResidenceStatus, StatusEvent, event_digest
    from schemas.local_time import BERLIN
    from schemas.records import (
        KI_RECIPIENT,
        CaseOpening,
        ConsentRecord,
        Entry,
        ErasureWatch,
        EventRecord,
        Handover,
        IncidentRecord,
        NewTask,
        Notice,
        NoticeKind,
        OpenErasure,
        StageRecord,
        SupporterRecord,
        TaskClosure,
        Withdrawal,
        WithdrawalReceipt,
        partner_recipient,
    )
    from schemas.residence_routes import ResidenceRoutes
    from schemas.tasks import (
        CompleteTask,
        EnforcementOutcome,
        EnforcementResult,
        Escalation,
        EscalationDecision,
        FollowUp,
        InformationConversation,
        KiContact,
        KiContactResult,
        Perspective,
        Queue,
        ReferralConsent,
        Representative,
        RepresentativeInquiry,
        RouteReview,
        RouteReviewOutcome,
        TaskCompletion,
        TaskKind,
        TaskResult,
        TaskStatus,
    )
    from schemas.time_rules import TimeRule
    from workflows import activity_refs as acts
    from workflows import search_attributes as sa
    from workflows.activity_refs import ActivityRef
    from workflows.engine import (
        Done,
        Engine,
        Interruption,
        PatienceEnded,
        Task,
        refuse,
    )
    from workflows.erasure_watch import ErasureWatchWorkflow, watch_id
    from workflows.steps import failure_kind, run_step
    from workflows.time_rules import Enforcement, broken_rules

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel | None)

# A workflow id is derived from the case id alone: never from anything personal.
WORKFLOW_ID_PREFIX = "case-"


def workflow_id(case_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{case_id}"


# Every case, once its opening event is in, begins with the information conversation.
FIRST_STAGE = Stage.INFORMATION_CONVERSATION


def opening_search_attributes(event: StatusEvent, today: date) -> TypedSearchAttributes:
    """What a case opened by ``event`` shows in the UI from its start (given to the start of
    its workflow, so that entering the first stage changes nothing there)."""
    assert event.person is not None
    children = event.household.children if event.household is not None else []
    return sa.as_attributes(
        sa.case_values(
            stage=FIRST_STAGE.value,
            town=event.person.address.town,
            # CaseHasMinors: an unaccompanied minor is a case with minors too.
            people_born=[event.person.date_of_birth, *(c.date_of_birth for c in children)],
            today=today,
            overdue=False,
            deadline=event.departure_deadline,
        )
    )


@dataclass(frozen=True)
class Escalate:
    """Next: the escalation to the ABH (Eskalation), for this reason (shown in the timeline)."""

    reason: str


Next = Stage | Escalate


class _Interrupted(Interruption):
    """The waiting stage ends early: a status changed, the consent was withdrawn, or the ABH
    recorded that the route failed."""

    def __init__(
        self, event: StatusEvent | None = None, route_failure: RouteFailure | None = None
    ) -> None:
        super().__init__()
        self.event = event  # None (and no route failure): consent withdrawn
        self.route_failure = route_failure


class _WithdrawalRecorded:
    """A withdrawal the update handler has already recorded; the main loop does the rest."""

    def __init__(self, receipt: WithdrawalReceipt) -> None:
        self.receipt = receipt


class StepFailed(Enum):
    """What :meth:`CaseWorkflow._act` returns for a step given up (see ``_step_failed``)."""

    FAILED = "failed"


FAILED = StepFailed.FAILED

InboxItem = (
    StatusEvent
    | ConsentWithdrawal
    | SupporterReport
    | _WithdrawalRecorded
    | RouteFailure
    | DeadlineExtension
)

# Patch ids (workflow.patched): histories recorded before a change replay the old way.
RECORD_WITHDRAWAL_AT_ONCE = "withdrawal-recorded-in-handler"
HAND_OUT_DOCUMENTS = "case-documents"
RECORD_ENFORCEMENT_RESULT = "enforcement-result"
ROUTE_CAN_FAIL = "route-can-fail"
CHECK_IN_AFTER_PLANNED_DEPARTURE = "check-in-after-planned-departure"
REPRESENTATIVES_RECORDED = "representatives-recorded"
CONTINUE_AS_NEW = "continue-as-new"
ERASURE_CONFIRMED = "erasure-confirmed"
MINOR_PERSON_SHOWN = "minor-person-shown"
ERASURE_OUTLIVES_CLOSE = "erasure-outlives-close"
# The rule set in force is asked at each decision (issue 15): adopted rules reach the case.
RULE_SETS = "rule-sets"
# A case started now has them all from its start (CaseStart.changes).
CHANGES = (
    RECORD_WITHDRAWAL_AT_ONCE,
    HAND_OUT_DOCUMENTS,
    RECORD_ENFORCEMENT_RESULT,
    ROUTE_CAN_FAIL,
    CHECK_IN_AFTER_PLANNED_DEPARTURE,
    REPRESENTATIVES_RECORDED,
    CONTINUE_AS_NEW,
    ERASURE_CONFIRMED,
    MINOR_PERSON_SHOWN,
    ERASURE_OUTLIVES_CLOSE,
    RULE_SETS,
)


def _never() -> bool:
    return False


# The KI's contact without a partner, for the timeline.
KI_RESULTS = {
    KiContactResult.DECLINED: "Die Person hat die Unterstützung abgelehnt (KI)",
    KiContactResult.NOT_REACHED: "Die Person war für das KI nicht erreichbar",
}
KI_NEW_CONSENT = (
    "Neue Einwilligung nötig: der passende Partner ist in der Einwilligung nicht genannt (KI)"
)
# The check-in after a planned departure: the morning after, in office hours.
CHECK_IN_TIME = time(9, 0)
# Timeline words (German; the timeline shows them as they are).
RETURN_PROGRAMMES = {
    "reag_garp": "REAG/GARP",
    "starthilfe_plus": "StarthilfePlus",
    "other": "(sonstige)",
}
RETURN_STATES = {"applied": "beantragt", "approved": "bewilligt", "travel_booked": "Reise gebucht"}


def _at(moment: datetime) -> datetime:
    return moment


def _status_line(event: StatusEvent) -> str:
    """A status event in the timeline; a departure says how the person left."""
    line = f"Status: {event.status.value}"
    return f"{line} ({event.departure.describe()})" if event.departure else line


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        # Set up from the input here, not in run(): with update-with-start the opening
        # event's validator and handler run before run() begins.
        self._case_id = start.case_id
        self._start = start
        self._stage = Stage.OPENING
        self._outcome: Outcome | None = None
        self._residence_status = ResidenceStatus.AUSREISEPFLICHTIG
        self._departure_deadline: date | None = None
        self._tolerated_since: date | None = None
        self._children: tuple[date, ...] = ()
        # The person's own date of birth: a minor obliged to leave is protected as one.
        self._person_born: date | None = None
        # The household beyond this case (other members and their children), as the service
        # read it when the enforcement's result was sent: the incident is judged on the same.
        self._result_household: tuple[date, ...] = ()
        self._town = ""
        # A case that came back goes on after its last timeline entry.
        self._seq = start.reopened_after_seq or 0
        self._engine: Engine[InboxItem] = Engine(
            self, reminder_lead=start.timings.reminder_lead, take=self._take
        )
        self._received = 0
        # Event id -> what the event said (event_digest): the same event again is a
        # duplicate, another one under a seen id is refused. Memory only: rebuilt on replay
        # by the handler, so it needs no patch.
        self._seen_events: dict[str, str] = {}
        self._opened_on: date | None = None  # Berlin's date when the case file was opened
        self._opening_accepted = False
        self._consent_id: str | None = None
        # The partners the consent form names, and those the signed consent covers (None:
        # a form made before forms named them: no check, as before).
        self._form_recipients: list[int] | None = None
        self._covered_partners: list[int] | None = None
        self._consent_withdrawn = False
        self._follow_up_queue = Queue.ABH
        self._planned_departure_on: date | None = None
        self._return_support: tuple[str, str] | None = None  # programme, state
        self._enforcement_at: datetime | None = None
        self._planned: Escalation | None = None  # the ABH's decision to enforce
        # Waiting for what happened at the enforcement: kept through a departure report or a
        # consent withdrawal, which cannot make it not have happened.
        self._result_task: Task | None = None
        self._departure_reported = False
        self._representative_track = False
        # Decided at the first supporter report (workflow.patched), then kept: every
        # representative is recorded, a supporter alone opens no task, answers are facts.
        self._representatives_recorded: bool | None = None
        self._reporting_failure = False
        self._opening_refused = False
        # What the service set at the start (workflows started before it did: nothing).
        self._published: dict[str, Any] = sa.published(workflow.info().typed_search_attributes)
        # The representatives' side track: the first recording (its completion starts the
        # inquiries) and the next inquiry's time, so a new run can take them over.
        self._first_recording: str | None = None
        self._next_inquiry_at: datetime | None = None
        self._misses = 0
        self._resume_check_at: datetime | None = None
        self._task_details: dict[str, str] = {}  # what a side task is about (its row's detail)
        # The rules of the case's last decision: its start's, until it asks (RULE_SETS).
        self._rules = CaseRules(
            version=start.rule_version,
            timings=start.timings,
            time_rules=start.time_rules,
            residence_routes=start.residence_routes,
        )
        self._rules_asked = False
        # What the last completion of a kind was checked against (the service's rules).
        self._checked: dict[TaskKind, DecisionRules] = {}
        if start.carried is not None:
            self._take_over(start.carried)

    # ----------------------------------------------------------------- the process

    @workflow.run
    async def run(self, start: CaseStart) -> CaseResult:
        engine = self._engine
        step: Next = FIRST_STAGE
        if start.carried is not None:
            step = start.carried.stage
            self._resume_representatives(start.carried)
            return await self._stages(step, entered=True)
        try:
            await workflow.wait_condition(engine.has_mail, timeout=start.timings.intake_grace)
        except TimeoutError:
            # The opening event was refused: fail, so the case id stays free for a correct one.
            raise ApplicationError(
                "no opening status event was accepted", type=ErrorType.CASE_NOT_OPEN
            ) from None
        token, opening = engine.next_item()
        assert isinstance(opening, StatusEvent)
        if not await self._open(opening):
            # The case file refused the opening event's data: the event is refused (422) and
            # the run fails, so the case id stays free for a corrected event.
            self._opening_refused = engine.finished = True
            engine.absorbed(token)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise ApplicationError(
                "the opening event could not be stored", type=ErrorType.CASE_NOT_OPEN
            )
        engine.absorbed(token)
        return await self._stages(step)

    async def _stages(self, step: Next, *, entered: bool = False) -> CaseResult:
        """From ``step`` to the close; ``entered``: the stage was entered in the run before."""
        stages: dict[Stage, Callable[[], Awaitable[Next]]] = {
            Stage.INFORMATION_CONVERSATION: self._information_conversation,
            Stage.ROUTE_PURSUED: self._route_pursued,
            Stage.REFERRAL_OFFER: self._referral_offer,
            Stage.KI_REFERRAL: self._ki_referral,
            Stage.FOLLOW_UP: self._follow_up,
            Stage.ENFORCEMENT_PLANNED: self._enforcement_planned,
            Stage.SUSPENDED: self._suspended,
        }
        while step is not Stage.CLOSED:
            try:
                if isinstance(step, Escalate):
                    await self._enter(Stage.ESCALATION)
                    step = await self._escalation(step.reason)
                else:
                    if not entered:
                        await self._enter(step)
                    entered = False
                    step = await stages[step]()
            except _Interrupted as interruption:
                step = await self._after_interruption(interruption)
        await self._close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._outcome is not None
        return CaseResult(case_id=self._case_id, outcome=self._outcome)

    async def _information_conversation(self) -> Next:
        """Informationsgespräch: routes to a secure residence, with everyone obliged to leave.

        Legally required, so it is never skipped: overdue, it stays open (with a notice to the
        ABH) until the departure deadline passes, and then the ABH decides.
        """
        match await self._engine.human_task(
            TaskKind.INFORMATION_CONVERSATION,
            Queue.ABH,
            (await self._rules_now()).timings.conversation_due,
            patience=self._departure_moment,
        ):
            case PatienceEnded():  # the Ausreisefrist ended with no conversation: ABH decides
                return Escalate("Ausreisefrist abgelaufen ohne Informationsgespräch")
            case Done(conversation):
                assert isinstance(conversation, InformationConversation)
                if self._has(HAND_OUT_DOCUMENTS):
                    await self._conversation_documents(conversation)
                if conversation.perspective is Perspective.ROUTE_POSSIBLE:
                    return Stage.ROUTE_PURSUED
                return Stage.REFERRAL_OFFER

    async def _conversation_documents(self, conversation: InformationConversation) -> None:
        """The person's copy of the Gesprächsprotokoll and the Ausreiseinformationsschreiben.

        Met and missing prerequisites per route come from the rule version in force on the day
        of the conversation; the letter needs a departure deadline still ahead.
        """
        routes = self._checked_with(TaskKind.INFORMATION_CONVERSATION).residence_routes
        discussed, versions = [], []
        for route in conversation.routes_discussed:
            version = routes.of(route, conversation.held_on) if routes else None
            missing = [
                m.prerequisite for m in conversation.missing_prerequisites if m.route is route
            ]
            # Unticked is not "met": the caseworker records what is lacking, nothing more.
            required = version.codes() if version else []
            discussed.append(RouteDiscussed(route=route, required=required, missing=missing))
            if version is not None:
                versions.append(version.version_id)
        facts = ConversationFacts(
            held_on=conversation.held_on,
            routes=discussed,
            rule_versions=versions,
            language=conversation.language,
            interpreter=conversation.interpreter,
            participants=conversation.participants,
        )
        await self._document(DocumentKind.GESPRAECHSPROTOKOLL, conversation=facts)
        deadline = self._departure_deadline
        if deadline is not None and self._letter_due():
            await self._document(DocumentKind.AUSREISEINFORMATION, departure_deadline=deadline)
        else:
            await self._note(
                "document_skipped",
                "Ausreiseinformationsschreiben nicht erstellt: keine künftige Ausreisefrist",
            )

    def _letter_due(self) -> bool:
        """The departure letter comes with the record when the departure deadline is ahead."""
        deadline = self._departure_deadline
        return deadline is not None and deadline > self._today()

    async def _document(self, kind: DocumentKind, **facts: Any) -> CaseDocument | StepFailed:
        return await self._act(
            acts.PRODUCE_DOCUMENT,
            DocumentRequest(
                entry=self._entry("document", kind.value),
                document_id=workflow.uuid4(),
                kind=kind,
                issued_on=self._today(),
                **facts,
            ),
        )

    async def _route_pursued(self) -> Next:
        """Bleibeperspektive erkennbar: the route is followed until the status changes, the
        ABH records that it failed, or a new obligation with a departure deadline ends it.

        The departure deadline passing meanwhile gives the ABH a review task (never lapsing):
        still pursued, it names the day to look again; failed, the referral offer follows.
        Cases started before the route could fail wait for a status change alone.
        """
        if not self._has(ROUTE_CAN_FAIL):
            await self._engine.until_interrupted()
        # Until the departure deadline (it may change meanwhile), then the day chosen.
        until: Callable[[], datetime | None] = self._departure_moment
        while True:
            await self._engine.wait(_never, until)
            rules = await self._rules_now()
            done = await self._engine.human_task(
                TaskKind.ROUTE_REVIEW, Queue.ABH, rules.timings.escalation_due
            )
            review = done.completion
            assert isinstance(review, RouteReview)
            if review.outcome is RouteReviewOutcome.FAILED:
                assert review.reason is not None
                await self._note("route_failed", f"Bleiberechtsweg gescheitert: {review.reason}")
                return Stage.REFERRAL_OFFER
            assert review.review_again_on is not None
            again = datetime.combine(review.review_again_on, time(0), BERLIN)
            until = functools.partial(_at, again)

    async def _referral_offer(self) -> Next:
        """Angebot der Vermittlung: without a signed consent no personal data leaves the ABH.

        The consent form is ready in the person's language before the task is.
        """
        if self._has(HAND_OUT_DOCUMENTS):
            form = await self._document(DocumentKind.EINWILLIGUNG)
            if isinstance(form, CaseDocument):
                # The partners the form names: the consent will cover them and no other.
                self._form_recipients = form.recipients
        match await self._engine.human_task(
            TaskKind.REFERRAL_CONSENT,
            Queue.ABH,
            (await self._rules_now()).timings.consent_deadline,
            lapse=True,
        ):
            case Done(ReferralConsent(interested=True) as consent):
                await self._record_consent(consent)
                return Stage.KI_REFERRAL
            case _:  # declined, or no answer by the consent deadline: no interest
                self._follow_up_queue = Queue.ABH  # the ABH follows up itself
                return Stage.FOLLOW_UP

    async def _record_consent(self, consent: ReferralConsent) -> None:
        assert consent.consent_signed_on is not None
        self._consent_id = str(workflow.uuid4())
        await self._act(
            acts.RECORD_CONSENT,
            ConsentRecord(
                entry=self._entry(
                    "consent", "Einwilligung und Schweigepflichtentbindung unterschrieben"
                ),
                consent_id=self._consent_id,
                signed_on=consent.consent_signed_on,
                covered_partners=self._form_recipients,
            ),
        )
        self._covered_partners = self._form_recipients

    async def _ki_referral(self) -> Next:
        """Übermittlung an das KI: exactly three categories, then the KI contacts a partner.

        The KI contacting a partner in the person's town is a second disclosure, recorded too.
        """
        if not await self._hand_over(
            KI_RECIPIENT, "Vermittlung an Beratung zur freiwilligen Ausreise"
        ):
            return Stage.FOLLOW_UP
        match await self._engine.human_task(
            TaskKind.KI_CONTACT,
            Queue.KI,
            (await self._rules_now()).timings.ki_contact_due,
            patience=self._departure_moment,
        ):
            case PatienceEnded():  # overdue until the Ausreisefrist ended: the ABH decides
                return Escalate("Ausreisefrist abgelaufen ohne Kontakt durch das KI")
            case Done(contact):
                assert isinstance(contact, KiContact)
                if contact.note_to_abh is not None:
                    await self._note("ki_note", f"Hinweis des KI: {contact.note_to_abh}")
                if contact.result is KiContactResult.NEW_CONSENT:
                    # The form of the new offer names the town's partners as they are now.
                    await self._note("ki_contact", KI_NEW_CONSENT)
                    return Stage.REFERRAL_OFFER
                if contact.result is not KiContactResult.REACHED:
                    # Declined or not reached: no partner receives anything; the ABH follows up.
                    await self._note("ki_contact", KI_RESULTS[contact.result])
                    self._follow_up_queue = Queue.ABH
                    return Stage.FOLLOW_UP
                assert contact.partner_id is not None
                if await self._hand_over(
                    partner_recipient(contact.partner_id),
                    "Kontaktaufnahme durch Wohlfahrtsverband/Ehrenamt",
                ):
                    self._follow_up_queue = Queue.KI
                return Stage.FOLLOW_UP

    async def _follow_up(self) -> Next:
        """Begleitung der freiwilligen Ausreise: check-ins until departure or the deadline."""
        misses, self._misses = self._misses, 0
        resume_at, self._resume_check_at = self._resume_check_at, None
        while True:
            timings = (await self._rules_now()).timings
            next_check = resume_at or self._next_check_in(
                workflow.now() + timings.follow_up_interval
            )
            resume_at = None
            await self._engine.wait(
                _never,
                lambda at=next_check: _earliest(at, self._departure_moment()),  # type: ignore[misc]
            )
            self._continue_as_new_if_long(misses, next_check)
            if self._deadline_passed():  # no departure within the Ausreisefrist: ABH decides
                return Escalate("Ausreisefrist abgelaufen")
            match await self._engine.human_task(
                TaskKind.FOLLOW_UP, self._follow_up_queue, timings.follow_up_due, lapse=True
            ):
                case Done(FollowUp(reached=True) as check_in):
                    misses = 0
                    await self._took_note_of(check_in)
                case _:  # not reached, or no check-in by its due date: a miss
                    misses += 1
            if misses >= timings.unreachable_after:
                return Escalate("Person nicht erreichbar")

    # ------------------------------------------------------- a long case, run by run

    def _continue_as_new_if_long(self, misses: int, check_at: datetime) -> None:
        """A long follow-up goes on in a new run before its history grows past the bound:
        when a check-in is due (the new run opens it at once), with nothing in flight and no
        task open but representatives' (an inquiry open: at the next check-in)."""
        if workflow.info().get_current_history_length() < self._start.timings.history_bound:
            return
        carried_kinds = (TaskKind.REPRESENTATIVE, TaskKind.ERASURE_CONFIRMATION)
        if any(task.kind not in carried_kinds for task in self._engine.tasks.values()):
            return
        if self._engine.has_mail() or not workflow.all_handlers_finished():
            return
        if not self._has(CONTINUE_AS_NEW):
            return
        carried = self._carried(misses).model_copy(update={"next_check_at": check_at})
        rules = self._rules  # the next run starts with the rules of this one's last decision
        workflow.continue_as_new(
            self._start.model_copy(
                update={
                    "carried": carried,
                    "reopened_after_seq": None,
                    "timings": rules.timings,
                    "time_rules": rules.time_rules,
                    "residence_routes": rules.residence_routes,
                    "rule_version": rules.version,
                }
            )
        )

    def _carried(self, misses: int) -> CarriedCase:
        runs = self._start.carried.runs + 1 if self._start.carried else 1
        return CarriedCase(
            stage=self._stage,
            residence_status=self._residence_status,
            departure_deadline=self._departure_deadline,
            tolerated_since=self._tolerated_since,
            children=self._children,
            person_born=self._person_born,
            town=self._town,
            seq=self._seq,
            received=self._received,
            seen_events=self._seen_events,
            consent_id=self._consent_id,
            consent_withdrawn=self._consent_withdrawn,
            covered_partners=self._covered_partners,
            follow_up_queue=self._follow_up_queue,
            misses=misses,
            planned_departure_on=self._planned_departure_on,
            return_support=self._return_support,
            representatives_recorded=self._representatives_recorded,
            representative_track=self._representative_track,
            representative_tasks=self._carried_tasks(TaskKind.REPRESENTATIVE),
            erasure_tasks=self._carried_tasks(TaskKind.ERASURE_CONFIRMATION),
            first_recording=self._first_recording,
            next_inquiry_at=self._next_inquiry_at,
            runs=runs,
        )

    def _carried_tasks(self, kind: TaskKind) -> list[CarriedTask]:
        return [
            CarriedTask(
                task_id=task.task_id,
                kind=task.kind,
                queue=task.queue,
                due_at=task.due_at,
                overdue=task.overdue,
                detail=self._task_details.get(task.task_id),
            )
            for task in self._engine.tasks.values()
            if task.kind is kind
        ]

    def _take_over(self, carried: CarriedCase) -> None:
        """The state of the run before (see :meth:`_carried`)."""
        self._stage = carried.stage
        self._residence_status = carried.residence_status
        self._departure_deadline = carried.departure_deadline
        self._tolerated_since = carried.tolerated_since
        self._children = carried.children
        self._person_born = carried.person_born
        self._town = carried.town
        self._seq = carried.seq
        self._received = carried.received
        self._seen_events = dict(carried.seen_events)
        self._opening_accepted = True
        self._consent_id = carried.consent_id
        self._consent_withdrawn = carried.consent_withdrawn
        self._covered_partners = carried.covered_partners
        self._follow_up_queue = carried.follow_up_queue
        self._misses = carried.misses
        self._resume_check_at = carried.next_check_at
        self._planned_departure_on = carried.planned_departure_on
        self._return_support = carried.return_support
        self._representatives_recorded = carried.representatives_recorded
        self._representative_track = carried.representative_track
        for task in [*carried.representative_tasks, *carried.erasure_tasks]:
            self._engine.tasks[task.task_id] = Task(
                task.task_id, task.kind, task.queue, task.due_at, True, overdue=task.overdue
            )
            if task.detail is not None:
                self._task_details[task.task_id] = task.detail

    def _resume_representatives(self, carried: CarriedCase) -> None:
        """The representatives' side track where the run before left it."""
        for carried_task in carried.representative_tasks:
            task = self._engine.tasks[carried_task.task_id]
            if task.task_id == carried.first_recording:
                self._engine.beside(self._representative(task))
            else:
                self._engine.beside(self._record_representative(task))
        if carried.next_inquiry_at is not None:
            self._engine.beside(self._inquiries(carried.next_inquiry_at))
        for carried_task in carried.erasure_tasks:
            task = self._engine.tasks[carried_task.task_id]
            if carried_task.overdue:  # the contact was told in the run before
                self._engine.beside(self._engine.await_task(task))
            else:
                self._watch_erasure(task, carried_task.detail or "")

    def _next_check_in(self, regular: datetime) -> datetime:
        """The regular check-in, or the day after a planned departure if that comes first."""
        planned = self._planned_departure_on
        if planned is None or not self._has(CHECK_IN_AFTER_PLANNED_DEPARTURE):
            return regular
        after = datetime.combine(planned + timedelta(days=1), CHECK_IN_TIME, BERLIN)
        return min(regular, after) if after > workflow.now() else regular

    async def _took_note_of(self, check_in: FollowUp) -> None:
        """A planned departure date and the progress of a return-support application."""
        if check_in.planned_departure_on is not None:
            self._planned_departure_on = check_in.planned_departure_on
        if check_in.return_programme is None or check_in.return_support is None:
            return
        support = (check_in.return_programme.value, check_in.return_support.value)
        if support != self._return_support:
            self._return_support = support
            await self._note(
                "return_support",
                f"Rückkehrförderung {RETURN_PROGRAMMES[support[0]]}: {RETURN_STATES[support[1]]}",
            )

    async def _escalation(self, reason: str) -> Next:
        """Eskalation an die ABH: the ABH decides; the software records it, never decides itself.

        Its task never lapses: overdue, it stays open until the ABH has decided.
        """
        await self._note("escalation", reason)
        done = await self._engine.human_task(
            TaskKind.ESCALATION, Queue.ABH, (await self._rules_now()).timings.escalation_due
        )
        decided = done.completion
        assert isinstance(decided, Escalation)
        self._enforcement_at = None
        self._planned = None
        match decided.decision:
            case EscalationDecision.EXTEND_DEADLINE:
                self._departure_deadline = decided.new_deadline
                return Stage.FOLLOW_UP
            case EscalationDecision.TOLERATION:
                self._residence_status = ResidenceStatus.GEDULDET
                self._tolerated_since = self._tolerated_since or self._today()
                self._departure_deadline = None
                return Stage.FOLLOW_UP
            case EscalationDecision.ENFORCEMENT:
                self._enforcement_at = decided.enforcement_at
                self._planned = decided
                self._departure_reported = False
                return Stage.ENFORCEMENT_PLANNED
            case EscalationDecision.CLOSE:
                self._outcome = Outcome.CLOSED_BY_ABH
                return Stage.CLOSED

    async def _enforcement_planned(self) -> Next:
        """Abschiebung angeordnet: the ABH records what happened (carried out, broken off, the
        person not found), due some days after the planned end; overdue, the task stays open.

        A time rule the measure broke as carried out is documented as an incident. Cases
        started before this step existed wait for a departure report instead, and ask the ABH
        again when none came some days after the planned time.
        """
        assert self._enforcement_at is not None
        planned = self._enforcement_at
        grace = (await self._rules_now()).timings.enforcement_grace
        if self._result_task is None and not self._has(RECORD_ENFORCEMENT_RESULT):
            await self._engine.wait(_never, lambda: planned + grace)
            # No departure reported by then (a report would have interrupted): the ABH again.
            return Escalate("Keine Ausreise nach geplanter Abschiebung gemeldet")
        if self._result_task is None:
            ends = (self._planned and self._planned.enforcement_until) or planned
            due = max(ends - workflow.now(), timedelta(0)) + grace
            self._result_task = await self._engine.open_task(
                TaskKind.ENFORCEMENT_RESULT, Queue.ABH, due, side=False
            )
        done = await self._engine.await_task(self._result_task)
        self._result_task = None
        result = done.completion
        assert isinstance(result, EnforcementResult)
        await self._document_breaches(result)
        if result.result is EnforcementOutcome.CARRIED_OUT:
            self._outcome = Outcome.DEPARTED_ENFORCED
            return Stage.CLOSED
        if self._departure_reported:
            # Not enforced, but reported as departed: the person left on their own.
            self._outcome = Outcome.DEPARTED_VOLUNTARILY
            return Stage.CLOSED
        if result.result is EnforcementOutcome.NOT_FOUND:
            return Escalate("Person bei der Abschiebung nicht angetroffen")
        return Escalate("Abschiebung abgebrochen")

    async def _document_breaches(self, result: EnforcementResult) -> None:
        """Zeitregel verletzt: the rules the measure broke as it was carried out, the reason
        and who decided, recorded as an incident (the validator asked for both)."""
        checked = self._checked_with(TaskKind.ENFORCEMENT_RESULT)
        broken = self._broken_as_carried_out(result, self._result_household, checked.time_rules)
        if not broken:
            return
        assert result.breach_reason is not None and result.decided_by is not None
        titles = "; ".join(rule.title for rule in broken)
        await self._act(
            acts.RECORD_INCIDENT,
            IncidentRecord(
                entry=self._entry("incident", f"Zeitregel verletzt: {titles}"),
                incident_id=workflow.uuid4(),
                rule_ids=[rule.rule_id for rule in broken],
                started_at=result.started_at,
                ended_at=result.ended_at,
                minors_present=result.minors_present,
                reason=result.breach_reason,
                decided_by=result.decided_by,
            ),
        )

    def _broken_as_carried_out(
        self,
        result: EnforcementResult,
        household: Sequence[date],
        time_rules: tuple[TimeRule, ...],
    ) -> list[TimeRule]:
        planned = self._planned
        return broken_rules(
            time_rules,
            Enforcement(
                at=result.started_at,
                until=result.ended_at,
                affected_born=self._affected_born(household),
                minor_present=result.minors_present,
                enters_home=planned.enters_home if planned else False,
                court_order=planned.court_order if planned else False,
                tolerated_since=self._tolerated_since,
                announced_on=planned.announced_on if planned else None,
            ),
        )

    async def _suspended(self) -> NoReturn:
        """Asylverfahren: nothing happens until the next status."""
        await self._engine.until_interrupted()

    async def _after_interruption(self, interruption: _Interrupted) -> Stage:
        event = interruption.event
        waiting_for_result = self._result_task
        if interruption.route_failure is not None:
            await self._engine.cancel_tasks(lambda task: not task.side)
            reason = interruption.route_failure.reason
            await self._note("route_failed", f"Bleiberechtsweg gescheitert: {reason}")
            return Stage.REFERRAL_OFFER
        if event is None:  # consent withdrawn: the KI's part ends, the ABH follows up
            await self._engine.cancel_tasks(lambda task: task.queue is Queue.KI and not task.side)
            if waiting_for_result is not None:
                return Stage.ENFORCEMENT_PLANNED
            return Stage.FOLLOW_UP
        left_on_their_own = event.departure is not None and event.departure.kind.voluntary
        if (
            waiting_for_result is not None
            and event.status is ResidenceStatus.AUSGEREIST
            and not left_on_their_own
        ):
            # Reported as departed while the enforcement's result is still to be recorded:
            # how the person left follows from that result.
            await self._engine.cancel_tasks(
                lambda task: not task.side and task is not waiting_for_result
            )
            self._departure_reported = True
            return Stage.ENFORCEMENT_PLANNED
        await self._engine.cancel_tasks(lambda task: not task.side)
        self._result_task = None
        match event.status:
            case ResidenceStatus.AUFENTHALTSERLAUBNIS:
                self._outcome = Outcome.RESIDENCE_GRANTED
            case ResidenceStatus.AUSGEREIST:
                self._outcome = self._departure_outcome(event)
            case ResidenceStatus.WEGGEZOGEN:
                self._outcome = Outcome.MOVED_AWAY
            case ResidenceStatus.ASYLVERFAHREN:
                return Stage.SUSPENDED
            case _ if self._stage is Stage.ROUTE_PURSUED:
                # A new obligation with a deadline (the application refused): the route ended.
                await self._note(
                    "route_failed", "Bleiberechtsweg beendet: erneut ausreisepflichtig mit Frist"
                )
                return Stage.REFERRAL_OFFER
            case _:  # obliged to leave again after the asylum procedure: start over
                return Stage.INFORMATION_CONVERSATION
        return Stage.CLOSED

    def _departure_outcome(self, event: StatusEvent) -> Outcome:
        """Left on their own (with return support, or self-organised) is voluntary, even with
        an enforcement planned; enforced or transferred is enforced. A report that does not
        say how counts as enforced only when an enforcement was planned."""
        if event.departure is not None:
            voluntary = event.departure.kind.voluntary
            return Outcome.DEPARTED_VOLUNTARILY if voluntary else Outcome.DEPARTED_ENFORCED
        enforced = self._enforcement_at is not None
        return Outcome.DEPARTED_ENFORCED if enforced else Outcome.DEPARTED_VOLUNTARILY

    async def _representative(self, recording: Task) -> None:
        """Bevollmächtigte*r: the ABH records the representative, then asks them regularly.

        Runs beside the main stages from the first supporter report until the case closes.
        """
        self._first_recording = recording.task_id
        await self._record_representative(recording)
        self._first_recording = None
        await self._inquiries()

    async def _inquiries(self, first_at: datetime | None = None) -> None:
        """Ask the representative regularly for facts: from ``first_at`` (a new run goes on
        with the one before's schedule), or one interval from now."""
        next_inquiry = first_at
        while True:
            timings = self._rules.timings  # a side track: the rules of the last decision
            next_inquiry = next_inquiry or workflow.now() + timings.representative_inquiry_interval
            self._next_inquiry_at = next_inquiry
            await self._engine.wait(_never, lambda at=next_inquiry: at, absorb=False)  # type: ignore[misc]
            self._next_inquiry_at = next_inquiry = None
            # Answered or lapsed alike: the representative is asked again next time.
            asked = await self._engine.human_task(
                TaskKind.REPRESENTATIVE_INQUIRY,
                Queue.ABH,
                timings.representative_due,
                lapse=True,
                side=True,
            )
            match asked:
                case Done(RepresentativeInquiry(facts_reported=True) as answer) if (
                    self._representatives_recorded and answer.fact is not None
                ):
                    route = (
                        f" (bedeutsam für {answer.relevant_to.value})" if answer.relevant_to else ""
                    )
                    on = answer.learned_on.strftime("%d.%m.%Y") if answer.learned_on else "–"
                    await self._note(
                        "fact_reported", f"Tatsache mitgeteilt am {on}{route}: {answer.fact}"
                    )
                case _:
                    pass

    async def _record_representative(self, recording: Task) -> None:
        """The ABH records who represents the person; each one is kept in the timeline."""
        done = await self._engine.await_task(recording)
        representative = done.completion
        if self._representatives_recorded and isinstance(representative, Representative):
            since = representative.power_of_attorney_on.strftime("%d.%m.%Y")
            await self._note(
                "representative", f"Bevollmächtigt: {representative.name} (Vollmacht vom {since})"
            )

    # ---------------------------------------------------------------- at any time

    @workflow.update(name="status_event")
    async def status_event(self, event: StatusEvent) -> IntakeResult:
        """A status change from the back office; the same event id twice changes nothing."""
        if event.event_id in self._seen_events:
            return IntakeResult(case_id=self._case_id, stage=self._stage, duplicate=True)
        self._seen_events[event.event_id] = event_digest(event)
        self._opening_accepted = True
        await self._engine.deliver(event.event_id, event)
        if self._opening_refused:
            refuse(
                ErrorType.INVALID_INPUT,
                "event",
                "the case file cannot store this event's data (a character or value it cannot "
                "hold); nothing was opened",
            )
        return IntakeResult(case_id=self._case_id, stage=self._stage, duplicate=False)

    @status_event.validator
    def _validate_status_event(self, event: StatusEvent) -> None:
        seen = self._seen_events.get(event.event_id)
        if seen is not None:
            if seen != event_digest(event):
                refuse(ErrorType.EVENT_ID_REUSED, "event_id", "sent before with other content")
            return
        if event.case_id != self._case_id:
            refuse(ErrorType.INVALID_INPUT, "case_id", "belongs to another case")
        self._refuse_when_closed()
        if not self._opening_accepted:
            if not event.status.opens_case:
                refuse(
                    ErrorType.CASE_NOT_OPEN,
                    "status",
                    f"'{event.status.value}' does not open a case; "
                    "only ausreisepflichtig or geduldet do",
                )
            if event.person is None:
                refuse(ErrorType.INVALID_INPUT, "person", "required when the event opens a case")

    @workflow.update(name="withdraw_consent")
    async def withdraw_consent(self, withdrawal: ConsentWithdrawal) -> CaseUpdateResult:
        """Widerruf der Einwilligung: nothing more is passed on; recipients are asked to erase."""
        self._consent_withdrawn = True
        self._received += 1
        token = f"withdrawal-{self._received}"
        if self._has(RECORD_WITHDRAWAL_AT_ONCE):
            # Recorded now, not when the main loop gets to it: a handover activity that is in
            # flight (or retrying) meanwhile finds the consent withdrawn and passes nothing on.
            receipt = await self._record_withdrawal(withdrawal)
            await self._engine.deliver(token, _WithdrawalRecorded(receipt))
        else:
            await self._engine.deliver(token, withdrawal)
        return CaseUpdateResult(case_id=self._case_id, stage=self._stage)

    @withdraw_consent.validator
    def _validate_withdrawal(self, withdrawal: ConsentWithdrawal) -> None:
        self._refuse_when_closed()
        if self._consent_id is None or self._consent_withdrawn:
            refuse(ErrorType.NO_CONSENT, "withdrawn_on", "no signed consent to withdraw")
        if withdrawal.withdrawn_on > self._today():
            refuse(ErrorType.INVALID_INPUT, "withdrawn_on", "must not be in the future")

    @workflow.update(name="record_route_failure")
    async def record_route_failure(self, failure: RouteFailure) -> CaseUpdateResult:
        """The route to a residence title failed: the referral offer follows."""
        self._received += 1
        await self._engine.deliver(f"route-failure-{self._received}", failure)
        return CaseUpdateResult(case_id=self._case_id, stage=self._stage)

    @record_route_failure.validator
    def _validate_route_failure(self, failure: RouteFailure) -> None:
        self._refuse_when_closed()
        if self._stage is not Stage.ROUTE_PURSUED:
            refuse(ErrorType.NO_ROUTE, "failed_on", "no route to a residence title is pursued")
        if failure.failed_on > self._today():
            refuse(ErrorType.INVALID_INPUT, "failed_on", "must not be in the future")

    @workflow.update(name="extend_deadline")
    async def extend_deadline(self, extension: DeadlineExtension) -> CaseUpdateResult:
        """Ausreisefrist verlängert: the stage goes on, its waits on the deadline move."""
        self._received += 1
        await self._engine.deliver(f"deadline-{self._received}", extension)
        return CaseUpdateResult(case_id=self._case_id, stage=self._stage)

    @extend_deadline.validator
    def _validate_extension(self, extension: DeadlineExtension) -> None:
        self._refuse_when_closed()
        if self._stage is Stage.ESCALATION:
            # One decision at a time: the open escalation task offers the extension itself.
            refuse(
                ErrorType.INVALID_INPUT,
                "new_deadline",
                "the open escalation decides: choose extend_deadline there",
            )
        if extension.new_deadline <= self._today():
            refuse(ErrorType.INVALID_INPUT, "new_deadline", "must be after today")
        current = self._departure_deadline
        if current is not None and extension.new_deadline <= current:
            refuse(
                ErrorType.INVALID_INPUT,
                "new_deadline",
                f"must be after the current deadline {current.isoformat()}",
            )

    @workflow.update(name="register_supporter")
    async def register_supporter(self, report: SupporterReport) -> CaseUpdateResult:
        """A supporter accompanies the person: the ABH is told at once."""
        self._received += 1
        await self._engine.deliver(f"supporter-{self._received}", report)
        return CaseUpdateResult(case_id=self._case_id, stage=self._stage)

    @register_supporter.validator
    def _validate_supporter(self, report: SupporterReport) -> None:
        self._refuse_when_closed()

    @workflow.update(name="complete_task")
    async def complete_task(self, request: CompleteTask) -> TaskResult:
        """A caseworker completed a task; answers once the case has moved on."""
        if isinstance(request.completion, EnforcementResult):
            self._result_household = tuple(request.household_born)
        if request.rules is not None and self._has(RULE_SETS):
            # The decision goes on with what its validator checked it against.
            self._checked[TaskKind(request.completion.kind)] = request.rules
        await self._engine.complete(request)
        return TaskResult(task_id=request.task_id, case_id=self._case_id, stage=self._stage)

    @complete_task.validator
    def _validate_completion(self, request: CompleteTask) -> None:
        task = self._engine.task_to_complete(request.task_id)
        errors = self._completion_errors(
            task, request.completion, request.household_born, self._rules_of(request)
        )
        if errors:
            raise ApplicationError(
                "; ".join(f"{error.field}: {error.reason}" for error in errors),
                *[error.model_dump() for error in errors],
                type=ErrorType.INVALID_INPUT,
                non_retryable=True,
            )

    @workflow.query(name="stage")
    def stage(self) -> str:
        return self._stage.value

    # ------------------------------------------------------ taking in the inbox

    async def _take(self, item: InboxItem) -> _Interrupted | None:
        """One item of the inbox, by the main loop: the case's only writer."""
        if isinstance(item, StatusEvent):
            return await self._take_event(item)
        if isinstance(item, ConsentWithdrawal):
            receipt = await self._record_withdrawal(item)
            return await self._after_withdrawal(receipt)
        if isinstance(item, _WithdrawalRecorded):
            return await self._after_withdrawal(item.receipt)
        if isinstance(item, RouteFailure):
            return _Interrupted(route_failure=item)
        if isinstance(item, DeadlineExtension):
            await self._extend_deadline(item)
            return None
        await self._take_supporter(item)
        return None

    async def _take_event(self, event: StatusEvent) -> _Interrupted | None:
        self._apply_status(event)
        await self._act(
            acts.RECORD_EVENT,
            EventRecord(entry=self._entry("status", _status_line(event)), event=event),
        )
        self._engine.schedule_changed()
        self._upsert_search_attributes()
        ends_or_suspends = not event.status.opens_case
        if ends_or_suspends and not (
            event.status is ResidenceStatus.ASYLVERFAHREN and self._stage is Stage.SUSPENDED
        ):
            return _Interrupted(event)
        if event.status.opens_case and self._stage is Stage.SUSPENDED:
            return _Interrupted(event)
        if (
            self._stage is Stage.ROUTE_PURSUED
            and event.status is ResidenceStatus.AUSREISEPFLICHTIG
            and event.departure_deadline is not None
            and self._has(ROUTE_CAN_FAIL)
        ):
            return _Interrupted(event)
        return None

    async def _extend_deadline(self, extension: DeadlineExtension) -> None:
        self._departure_deadline = extension.new_deadline
        day = extension.new_deadline.strftime("%d.%m.%Y")
        await self._note(
            "deadline_extended", f"Ausreisefrist verlängert bis {day}: {extension.reason}"
        )
        self._engine.schedule_changed()
        self._upsert_search_attributes()

    async def _record_withdrawal(self, withdrawal: ConsentWithdrawal) -> WithdrawalReceipt:
        """Widerruf recorded; every earlier recipient is asked to erase (Art. 17, 19)."""
        assert self._consent_id is not None
        receipt = await self._act(
            acts.WITHDRAW_CONSENT,
            Withdrawal(
                entry=self._entry("consent_withdrawn", "Einwilligung widerrufen"),
                consent_id=self._consent_id,
                withdrawn_on=withdrawal.withdrawn_on,
                received_by=withdrawal.received_by,
            ),
        )
        if receipt is FAILED:  # the ABH has a step_failed task: nobody was asked to erase yet
            return WithdrawalReceipt(erasure_requested_from=[])
        return receipt

    async def _after_withdrawal(self, receipt: WithdrawalReceipt) -> _Interrupted | None:
        """The KI's part ends: its open tasks are cancelled, the ABH follows up."""
        if receipt.erasure_requested_from:
            await self._note(
                "erasure_requested",
                "Löschung angefordert bei: " + ", ".join(receipt.erasure_requested_from),
            )
            partners = [r for r in receipt.erasure_requested_from if r.startswith("partner:")]
            if partners and self._has(ERASURE_CONFIRMED):
                for recipient in partners:
                    await self._ask_for_erasure(recipient)
        self._follow_up_queue = Queue.ABH
        if self._stage in (Stage.KI_REFERRAL, Stage.FOLLOW_UP):
            return _Interrupted(None)
        return None

    async def _ask_for_erasure(self, recipient: str) -> None:
        """The KI has the partner erase what it received and confirms it (a task beside the
        stages, never lapsing); unconfirmed at its due date, the data protection contact is
        told, and it stays open."""
        task = await self._engine.open_task(
            TaskKind.ERASURE_CONFIRMATION,
            Queue.KI,
            self._rules.timings.erasure_confirmation_due,
            side=True,
            detail=recipient,
        )
        self._task_details[task.task_id] = recipient
        self._watch_erasure(task, recipient)

    def _watch_erasure(self, task: Task, recipient: str) -> None:
        """Wait for the confirmation beside the stages; tell the data protection contact at
        the due date if it has not come."""

        async def unconfirmed() -> None:
            done = await self._engine.wait(
                lambda: task.completion is not None, lambda: task.due_at, absorb=False
            )
            if not done:
                await self._note(
                    "erasure_unconfirmed",
                    erasure_unconfirmed(recipient),
                )

        self._engine.beside(unconfirmed())
        self._engine.beside(self._engine.await_task(task))

    async def _take_supporter(self, report: SupporterReport) -> None:
        await self._act(
            acts.REGISTER_SUPPORTER,
            SupporterRecord(
                entry=self._entry(
                    "supporter",
                    "Unterstützer*in gemeldet"
                    + (" (bevollmächtigt)" if report.is_representative else ""),
                ),
                supporter_id=str(workflow.uuid4()),
                report=report,
            ),
        )
        if self._representatives_recorded is None:
            self._representatives_recorded = self._has(REPRESENTATIVES_RECORDED)
        if self._representatives_recorded:
            await self._take_representative(report)
            return
        if not self._representative_track and not self._engine.closing:
            # The task is opened here, so the ABH sees it when the report is answered.
            recording = await self._engine.open_task(
                TaskKind.REPRESENTATIVE,
                Queue.ABH,
                self._rules.timings.representative_due,
                side=True,
            )
            self._engine.beside(self._representative(recording))
            self._representative_track = True

    async def _take_representative(self, report: SupporterReport) -> None:
        """A representative (not a supporter alone) is recorded by the ABH: the first starts
        the regular inquiries, a later one is a change of representative, recorded too."""
        if not report.is_representative or self._engine.closing:
            return
        # The task is opened here, so the ABH sees it when the report is answered.
        recording = await self._engine.open_task(
            TaskKind.REPRESENTATIVE, Queue.ABH, self._rules.timings.representative_due, side=True
        )
        if self._representative_track:
            self._engine.beside(self._record_representative(recording))
            return
        self._engine.beside(self._representative(recording))
        self._representative_track = True

    def _apply_status(self, event: StatusEvent) -> None:
        self._residence_status = event.status
        if event.departure_deadline is not None:
            self._departure_deadline = event.departure_deadline
        if event.person is not None:
            self._person_born = event.person.date_of_birth
        if event.household is not None:
            self._children = tuple(child.date_of_birth for child in event.household.children)
        if event.status is ResidenceStatus.GEDULDET:
            self._tolerated_since = self._tolerated_since or event.effective_date
        elif event.status is ResidenceStatus.AUSREISEPFLICHTIG:
            self._tolerated_since = None

    # ------------------------------------------------------------ the case file

    async def _open(self, event: StatusEvent) -> bool:
        """The case file is written; False when it refused the event's data."""
        assert event.person is not None
        self._town = event.person.address.town
        self._opened_on = self._today()
        self._apply_status(event)
        opened = await self._act(
            acts.OPEN_CASE,
            CaseOpening(
                entry=self._entry("opened", self._opening_line(event)),
                event=event,
                reopened=self._start.reopened_after_seq is not None,
            ),
        )
        return opened is not FAILED

    def _opening_line(self, event: StatusEvent) -> str:
        if self._start.reopened_after_seq is not None:
            return f"Fall wieder eröffnet: {event.status.value}"
        return f"Fall eröffnet: {event.status.value}"

    async def _enter(self, stage: Stage) -> None:
        self._stage = stage
        await self._act(
            acts.RECORD_STAGE,
            StageRecord(
                entry=self._entry("stage", stage.value),
                stage=stage,
                residence_status=self._residence_status,
                departure_deadline=self._departure_deadline,
                outcome=self._outcome,
            ),
        )
        self._upsert_search_attributes()

    async def _close(self) -> None:
        """Every task ends with the case, but for the erasure confirmations still owed: the
        partners' erasure is due whatever became of the case, so their tasks stay open and a
        watch that outlives the case reports each one unconfirmed at its due date."""
        engine = self._engine
        engine.closing = True
        await engine.side_tracks_ended()
        await engine.absorb(interrupting=False)
        owed = [t for t in engine.tasks.values() if t.kind is TaskKind.ERASURE_CONFIRMATION]
        if not (owed and self._has(ERASURE_OUTLIVES_CLOSE)):
            owed = []
        await engine.cancel_tasks(lambda task: task not in owed)
        await self._enter(Stage.CLOSED)
        if owed:
            await self._watch_after_close(owed)
        engine.finished = True

    async def _watch_after_close(self, owed: list[Task]) -> None:
        await workflow.start_child_workflow(
            ErasureWatchWorkflow.run,
            ErasureWatch(
                case_id=self._case_id,
                erasures=[
                    OpenErasure(
                        task_id=task.task_id,
                        recipient=self._task_details.get(task.task_id, "?"),
                        due_at=task.due_at,
                    )
                    for task in owed
                ],
            ),
            id=watch_id(self._case_id, owed[0].task_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )

    async def _hand_over(self, recipient: str, purpose: str) -> bool:
        """Pass the three categories on; False when the consent was withdrawn meanwhile."""
        if self._consent_id is None or self._consent_withdrawn:
            return False
        try:
            receipt = await self._act(
                acts.HAND_OVER,
                Handover(
                    entry=self._entry("disclosure", f"Übermittlung an {recipient}"),
                    consent_id=self._consent_id,
                    recipient=recipient,
                    purpose=purpose,
                ),
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == ErrorType.CONSENT_WITHDRAWN:
                return False
            raise
        return receipt is not FAILED

    async def _note(self, kind: str, detail: str) -> None:
        await self._act(
            acts.RECORD_STAGE,
            StageRecord(
                entry=self._entry(kind, detail),
                stage=self._stage,
                residence_status=self._residence_status,
                departure_deadline=self._departure_deadline,
                outcome=self._outcome,
            ),
        )

    # ---------------------------------------- the rows of its tasks (engine.TaskRows)

    async def open_row(self, task: Task, detail: str | None) -> bool:
        self._checked.pop(task.kind, None)  # a new task of the kind: checked anew
        created = await self._act(
            acts.CREATE_TASK,
            NewTask(
                entry=self._entry("task_opened", task.kind.value),
                task_id=task.task_id,
                kind=task.kind,
                queue=task.queue,
                due_at=task.due_at,
                detail=detail,
                rule_version=self._rules.version if self._rules_asked else None,
            ),
        )
        return created is not FAILED

    async def notice(self, task: Task, kind: NoticeKind) -> None:
        await self._act(
            acts.NOTIFY,
            Notice(
                entry=self._entry(f"notice_{kind.value}", task.kind.value),
                key=f"{task.task_id}:{kind.value}",
                queue=task.queue,
                kind=kind,
                task_id=task.task_id,
            ),
        )

    async def close_row(self, task: Task, status: TaskStatus) -> None:
        checked = self._checked.get(task.kind) if task.completion is not None else None
        await self._act(
            acts.CLOSE_TASK,
            TaskClosure(
                entry=self._entry(f"task_{status.value}", task.kind.value),
                task_id=task.task_id,
                status=status,
                completion=task.completion,
                rule_version=checked.version if checked else None,
            ),
        )

    def overdue_changed(self) -> None:
        self._upsert_search_attributes()

    # ------------------------------------------------------------------ steps

    async def _act(self, step: ActivityRef[In, Out], arg: In) -> Out | StepFailed:
        """One step: its result, or :data:`FAILED` when it was given up (see _step_failed).

        Refused data fails at once (activities/failures.py); anything else is retried with a
        growing pause for ``step_retry_limit``. A withdrawn consent is the handover's to judge.
        """
        timings = self._start.timings
        try:
            return await run_step(
                step,
                arg,
                attempt_timeout=timings.activity_timeout,
                retry_limit=timings.step_retry_limit,
                final=[ErrorType.CONSENT_WITHDRAWN],
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == ErrorType.CONSENT_WITHDRAWN:
                raise
            await self._step_failed(step.name.value, error)
            return FAILED

    async def _step_failed(self, step: str, error: ActivityError) -> None:
        """Fehler bei der Verarbeitung: a step is given up, the case goes on taking events.

        Retrying it would block the case for good (one writer: every later event would wait
        behind it). So the ABH gets a task naming the step (no personal data) to make good
        what it lacks, and operations a log line and a metric. Before the case file exists,
        while closing, or when the report itself fails, the log line and metric are all.
        """
        kind = failure_kind(error)
        workflow.logger.error("case step given up: %s (%s)", step, kind)
        workflow.metric_meter().create_counter(
            "case_step_failures",
            description="Steps of a case given up (Fehler bei der Verarbeitung).",
        ).add(1, {"step": step})
        if self._stage is Stage.OPENING or self._engine.closing or self._reporting_failure:
            return
        self._reporting_failure = True
        try:
            await self._note("step_failed", f"Schritt nicht ausgeführt: {step} ({kind})")
            review = await self._engine.open_task(
                TaskKind.STEP_FAILED,
                Queue.ABH,
                self._rules.timings.step_failure_due,
                side=True,
                detail=step,
            )
        finally:
            self._reporting_failure = False
        if not review.created:
            del self._engine.tasks[review.task_id]
            return
        # The ABH's look runs beside the stages until it is done or the case closes (then
        # the task is cancelled with the others).
        self._engine.beside(self._engine.await_task(review))

    # ---------------------------------------------------------------- validation

    def _refuse_when_closed(self) -> None:
        if self._engine.closing or self._engine.finished:
            refuse(ErrorType.CASE_CLOSED, "case_id", "the case is closed")

    def _completion_errors(
        self,
        task: Task,
        completion: TaskCompletion,
        household: Sequence[date],
        rules: DecisionRules,
    ) -> list[FieldError]:
        """``household``: the dates of birth of the household beyond this case (the
        service reads them for the decisions the time rules check); ``rules``: what the
        decision is checked against (:meth:`_rules_of`)."""
        if completion.kind != task.kind.value:
            return [FieldError(field="kind", reason=f"this task is a {task.kind.value} task")]
        today = self._today()
        past_only = {
            "held_on",
            "consent_signed_on",
            "contacted_on",
            "power_of_attorney_on",
            "asked_on",
            "learned_on",
            "confirmed_on",
            "checked_on",
            "announced_on",
        }
        errors = [
            FieldError(field=name, reason="must not be in the future")
            for name in past_only
            if isinstance(value := getattr(completion, name, None), date) and value > today
        ]
        if isinstance(completion, InformationConversation):
            opened = self._opened_on
            if opened is not None and completion.held_on < opened:
                errors.append(
                    FieldError(field="held_on", reason="must not be before the case was opened")
                )
            errors.extend(self._route_errors(completion, rules.residence_routes))
            errors.extend(self._held_errors(completion))
        if isinstance(completion, FollowUp) and completion.planned_departure_on:
            if completion.planned_departure_on < today:
                errors.append(
                    FieldError(field="planned_departure_on", reason="must not be in the past")
                )
        if isinstance(completion, EnforcementResult):
            errors.extend(self._result_errors(completion, household, rules.time_rules))
        if (
            isinstance(completion, KiContact)
            and completion.partner_id is not None
            and self._covered_partners is not None
            and completion.partner_id not in self._covered_partners
        ):
            errors.append(
                FieldError(
                    field="partner_id",
                    reason="the signed consent does not name this partner: a new consent is "
                    "needed (result new_consent)",
                )
            )
        if isinstance(completion, RepresentativeInquiry) and completion.facts_reported:
            errors.extend(
                FieldError(field=name, reason="required when facts were reported")
                for name in ("fact", "learned_on")
                if getattr(completion, name) is None
            )
        if isinstance(completion, RouteReview) and completion.review_again_on is not None:
            if completion.review_again_on <= today:
                errors.append(FieldError(field="review_again_on", reason="must be after today"))
        if isinstance(completion, Escalation):
            if completion.new_deadline is not None and completion.new_deadline <= today:
                errors.append(FieldError(field="new_deadline", reason="must be after today"))
            if completion.enforcement_at is not None:
                errors.extend(self._enforcement_errors(completion, household, rules.time_rules))
        return errors

    def _route_errors(
        self, conversation: InformationConversation, routes: ResidenceRoutes | None
    ) -> list[FieldError]:
        """Only Bleiberechtsregelungen in force on the day of the conversation can have been
        explained (§104c, say, is no longer granted since 31 Dec 2025)."""
        if routes is None:
            return []
        day = conversation.held_on.isoformat()
        in_force = {version.route: version for version in routes.on(conversation.held_on)}
        errors = [
            FieldError(field="routes_discussed", reason=f"{route.value} is not in force on {day}")
            for route in conversation.routes_discussed
            if route not in in_force
        ]
        errors.extend(
            FieldError(
                field="missing_prerequisites",
                reason=f"{item.route.value} does not ask for {item.prerequisite.value} on {day}",
            )
            for item in conversation.missing_prerequisites
            if item.route in in_force and item.prerequisite not in in_force[item.route].codes()
        )
        return errors

    def _held_errors(self, conversation: InformationConversation) -> list[FieldError]:
        """How the conversation was held, asked of every new record (the model has defaults
        only so that conversations recorded before still read): the language, who took part,
        how the copy reached the person, and the departure letter exactly when one is issued
        with the record."""
        errors = [
            FieldError(field=name, reason="required")
            for name in ("language", "participants", "record_copy")
            if not getattr(conversation, name)
        ]
        if self._letter_due() and conversation.departure_letter is None:
            errors.append(
                FieldError(
                    field="departure_letter",
                    reason="required: a departure letter is issued with the record",
                )
            )
        if not self._letter_due() and conversation.departure_letter is not None:
            errors.append(
                FieldError(
                    field="departure_letter",
                    reason="only when a departure letter is issued (a departure deadline ahead)",
                )
            )
        return errors

    def _enforcement_errors(
        self, decision: Escalation, household: Sequence[date], time_rules: tuple[TimeRule, ...]
    ) -> list[FieldError]:
        """The time rules, for everyone the measure affects and for all of its duration; a
        notice rule without a known announcement asks for the day it was announced."""
        assert decision.enforcement_at is not None
        now = workflow.now()
        if decision.enforcement_at <= now:
            return [FieldError(field="enforcement_at", reason="must be in the future")]
        if decision.enforcement_until is None:
            return [
                FieldError(
                    field="enforcement_until",
                    reason="required when the decision is enforcement",
                )
            ]
        broken = broken_rules(
            time_rules,
            Enforcement(
                at=decision.enforcement_at,
                until=decision.enforcement_until,
                affected_born=self._affected_born(household),
                enters_home=decision.enters_home,
                court_order=decision.court_order,
                tolerated_since=self._tolerated_since,
                announced_on=decision.announced_on,
            ),
        )
        return [
            FieldError(
                field="announced_on"
                if rule.notice_months is not None and decision.announced_on is None
                else "enforcement_at",
                reason=f"{rule.title} ({rule.source})",
            )
            for rule in broken
        ]

    def _result_errors(
        self, result: EnforcementResult, household: Sequence[date], time_rules: tuple[TimeRule, ...]
    ) -> list[FieldError]:
        """What happened cannot be refused; a broken time rule asks for why and who decided."""
        now = workflow.now()
        errors = [
            FieldError(field=name, reason="must not be in the future")
            for name in ("started_at", "ended_at")
            if getattr(result, name) > now
        ]
        broken = self._broken_as_carried_out(result, household, time_rules)
        names = "; ".join(f"{rule.title} ({rule.source})" for rule in broken)
        for name in ("breach_reason", "decided_by"):
            given = getattr(result, name) is not None
            if broken and not given:
                errors.append(FieldError(field=name, reason=f"required: the measure broke {names}"))
            elif given and not broken:
                errors.append(FieldError(field=name, reason="only when a time rule was broken"))
        return errors

    def _affected_born(self, household: Sequence[date]) -> tuple[date, ...]:
        """Everyone an enforcement in this case affects: the person, the household's children,
        and the household's other members with cases of their own and their children."""
        person = () if self._person_born is None else (self._person_born,)
        return person + self._children + tuple(household)

    # ------------------------------------------------------------------ helpers

    def _entry(self, kind: str, detail: str) -> Entry:
        self._seq += 1
        return Entry(
            case_id=self._case_id, seq=self._seq, at=workflow.now(), kind=kind, detail=detail
        )

    async def _rules_now(self) -> CaseRules:
        """The rule set in force now, for a decision (a due date, a check, a route explained):
        the case's own until another version is adopted and in force. Asked at each decision
        of the stages only; side tracks go on with the rules of the last decision."""
        if not self._has(RULE_SETS):
            return self._rules
        self._rules_asked = True
        found = await self._act(
            acts.RULES_IN_FORCE, RulesQuery(on=self._today(), known_version=self._rules.version)
        )
        if not isinstance(found, StepFailed) and found.rules is not None:
            self._rules = found.rules
        return self._rules

    def _rules_of(self, request: CompleteTask) -> DecisionRules:
        """What a completion is checked against: the version in force that the service sent
        with it (the one its form showed), else the case's own."""
        if request.rules is not None:
            return request.rules
        return self._own_rules()

    def _checked_with(self, kind: TaskKind) -> DecisionRules:
        """What the last completion of ``kind`` was checked against (:meth:`complete_task`)."""
        return self._checked.get(kind) or self._own_rules()

    def _own_rules(self) -> DecisionRules:
        return DecisionRules(
            version=self._rules.version,
            time_rules=self._rules.time_rules,
            residence_routes=self._rules.residence_routes,
        )

    def _has(self, change: str) -> bool:
        """Whether a workflow change applies: from the start (``CaseStart.changes``), or in
        a case started before, from the moment ``workflow.patched`` first says so."""
        return change in self._start.changes or workflow.patched(change)

    def _today(self) -> date:
        return workflow.now().astimezone(BERLIN).date()

    def _departure_moment(self) -> datetime | None:
        return sa.departure_moment(self._departure_deadline)

    def _deadline_passed(self) -> bool:
        moment = self._departure_moment()
        return moment is not None and workflow.now() >= moment

    def _upsert_search_attributes(self) -> None:
        """Publish what the Temporal UI filters on; only values that changed (each upsert
        costs the server a history event and a visibility write)."""
        wanted = sa.case_values(
            stage=self._stage.value,
            town=self._town,
            # Cases started before counted the household's children only.
            people_born=self._affected_born(())
            if self._has(MINOR_PERSON_SHOWN)
            else self._children,
            today=self._today(),
            overdue=any(task.overdue for task in self._engine.tasks.values()),
            deadline=self._departure_deadline,
        )
        updates = sa.changes(wanted, self._published)
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published.update(wanted)


def _earliest(first: datetime, second: datetime | None) -> datetime:
    return first if second is None else min(first, second)
