"""What the API, the CLI and the benchmark do with cases: one code path for all of them.

Checks that need the database or today's date (jurisdiction, a case that exists, a partner
in the person's town, dates that cannot be true, an event id used before) happen here,
before anything is sent; the workflow's update validators are the authority on everything
else and refuse bad input before it enters the history. Refusals come out as members of
:mod:`service.errors` (``Invalid`` with the fields at fault, ``NotFound``, ``Forbidden``,
``Conflict``, ``CaseClosed``, ``EventIdReused``).

Every update waits at most ``settings.update_timeout`` for its outcome; past it, or with
Temporal unreachable, the call ends as :class:`~service.availability.ServiceUnavailable`. The
update may still be carried out then, so each one has an id derived from what it is about
(the event id, the task and its completion, ...): Temporal keeps one update per id and run,
so the same request repeated attaches to the running update, or gets the outcome of the one
that finished, and is never carried out twice (for update-with-start as well).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel, TypeAdapter
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from config.settings import Settings
from protection.codec import is_protected, keyring_of
from protection.keyring import arrival_scope, case_scope
from schemas.accounts import Account, BackOffice, Role
from schemas.arrivals import ArrivalStage, ArrivalStart
from schemas.audit import AuditAction, AuditDraft, DetailValue
from schemas.case import (
    CaseStart,
    CaseUpdateResult,
    CaseView,
    ConsentWithdrawal,
    DeadlineExtension,
    HouseholdMember,
    Reopening,
    ReportedCase,
    RouteFailure,
    Stage,
    SupporterReport,
    TimelineEntry,
)
from schemas.departure import DepartureRecord
from schemas.errors import ErrorType, FieldError
from schemas.events import (
    Address,
    Child,
    Household,
    IntakeResult,
    Person,
    ResidenceStatus,
    StatusEvent,
    event_digest,
    implausible_dates,
)
from schemas.local_time import BERLIN
from schemas.process import TECHNICAL_TIMINGS
from schemas.records import TaskClosure
from schemas.tasks import (
    CompleteTask,
    EnforcementResult,
    ErasureConfirmation,
    Escalation,
    EscalationDecision,
    KiContact,
    Queue,
    TaskCompletion,
    TaskKind,
    TaskResult,
    TaskStatus,
    TaskTownRow,
    TaskView,
)
from schemas.time_rules import TimeRule
from service.errors import (
    Backend,
    CaseClosed,
    Conflict,
    EventIdReused,
    Forbidden,
    Invalid,
    NotFound,
    Refused,
    RulesChanged,
    ServiceUnavailable,
)
from service.rules import RuleService
from service.serial import Busy, KeyedLocks
from service.temporal import update_method
from store import arrivals as arrival_store
from store import audit, reporters
from store import cases as case_store
from store import inbox as inbox_store
from store import partners as partner_store
from store import records as records_store
from store import report as report_store
from store import tasks as task_store
from store import timeline as timeline_store
from store.db import Connection
from workflows.arrival import ArrivalWorkflow, arrival_workflow_id
from workflows.case import CHANGES, CaseWorkflow, opening_search_attributes, workflow_id

# What a refusal of the workflow's update validators is, in the service's terms.
_REFUSAL_OF_ERROR: dict[ErrorType, type[Invalid] | type[Conflict]] = {
    ErrorType.INVALID_INPUT: Invalid,
    ErrorType.CASE_NOT_OPEN: Invalid,
    ErrorType.TASK_NOT_OPEN: Conflict,
    ErrorType.CASE_CLOSED: CaseClosed,
    ErrorType.NO_CONSENT: Conflict,
    ErrorType.NO_ROUTE: Conflict,
    ErrorType.ARRIVAL_UNDER_WAY: Conflict,
}


# Temporal did not take the call: not reachable, overloaded (too many updates in flight), or
# it ran out of time itself. None of these is about the request; repeating it later may work.
_TEMPORAL_UNAVAILABLE = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.DEADLINE_EXCEEDED}
)
_COMPLETION = TypeAdapter[TaskCompletion](TaskCompletion)
# The fields of the status event the ABH's own records stand for, as their models name them.
_DEPARTURE_FIELDS = {
    "effective_date": "crossed_on",
    "departure.kind": "kind",
    "departure.programme": "programme",
    "departure.proof.kind": "proof",
    "departure.proof.crossed_on": "crossed_on",
    "departure.proof.place": "place",
    "departure.proof.description": "description",
}
_REOPENING_FIELDS = {
    "status": "status",
    "effective_date": "effective_date",
    "departure_deadline": "departure_deadline",
}
_T = TypeVar("_T")
_Arg = TypeVar("_Arg", bound=BaseModel)


async def _forget_start(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """Collect what the start operation kept of a failed call.

    It holds the call's error for ``workflow_handle()`` (a cancellation too, when the deadline
    cut the call); an error never retrieved is logged with its traceback when it is
    garbage-collected. Once the call has ended it is already there, so this does not wait; it
    runs in a task of its own, so a kept cancellation cancels nothing of ours.
    """
    fetch = asyncio.ensure_future(start.workflow_handle())
    await asyncio.wait([fetch], timeout=1)
    if not fetch.done():
        fetch.cancel()
    elif not fetch.cancelled():
        fetch.exception()


def _from_update_failure(error: WorkflowUpdateFailedError) -> Refused:
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type not in _REFUSAL_OF_ERROR:
        raise error
    refusal = _REFUSAL_OF_ERROR[ErrorType(cause.type)]
    if refusal is Invalid:
        fields = [FieldError.model_validate(detail) for detail in cause.details]
        return Invalid(cause.message, fields)
    return refusal(cause.message)


def _from_event_failure(error: WorkflowUpdateFailedError, event: StatusEvent) -> Refused:
    """A status event the workflow refused; another event under a seen id names the id."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == ErrorType.EVENT_ID_REUSED:
        return EventIdReused(event.event_id)
    return _from_update_failure(error)


def _case_of(task: TaskTownRow) -> str:
    """The case of a task that is not an arrival's (a task has one of them: tasks' CHECK)."""
    assert task.case_id is not None
    return task.case_id


class CaseService:
    def __init__(
        self,
        client: Client,
        pool: asyncpg.Pool,
        settings: Settings,
        rules: RuleService | None = None,
    ) -> None:
        self._client = client
        self._pool = pool
        self._settings = settings
        self._deadline = settings.update_timeout.total_seconds()
        self._rules = rules or RuleService(pool, settings)
        self._technical = settings.timings()
        self._arrival_timings = settings.arrival_timings()
        self._completing = KeyedLocks()

    async def _case_start(self, case_id: str) -> CaseStart:
        """A new case's start: the rule set in force today, which the case asks again at each
        decision (a later version then reaches it); the technical timings (activity timeout,
        retries, history bound) are the configuration's, not a rule."""
        rules = await self._rules.in_force()
        technical = {name: getattr(self._technical, name) for name in TECHNICAL_TIMINGS}
        return CaseStart(
            case_id=case_id,
            timings=rules.content.timings.model_copy(update=technical),
            time_rules=rules.content.time_rules,
            residence_routes=rules.content.residence_routes,
            rule_version=rules.version,
            changes=CHANGES,
        )

    # ------------------------------------------------------------ deadlines

    async def _timely(self, call: Awaitable[_T]) -> _T:
        """``call`` to Temporal, within the deadline; unreachable or too late: unavailable."""
        try:
            async with asyncio.timeout(self._deadline):
                return await call
        except (TimeoutError, RPCTimeoutOrCancelledError):
            # The SDK turns the cancellation of its call into RPCTimeoutOrCancelledError, ours
            # (the deadline) and the caller's alike: only ours is an answer to give.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from None
            raise ServiceUnavailable(
                Backend.TEMPORAL,
                f"no outcome within {self._deadline:g} s; it may still be carried out",
            ) from None
        except RPCError as error:
            if error.status in _TEMPORAL_UNAVAILABLE:
                raise ServiceUnavailable(Backend.TEMPORAL, "Temporal is not reachable") from None
            raise

    async def _digest(self, scope: str, value: BaseModel) -> str:
        """What an update is about, as a short id part that shows nothing of ``value``.

        Update ids are visible to everyone who may look at the workflow (operations staff
        too), and a plain hash of a few dates and choices is easily guessed: the digest is
        keyed with the case's own data key (a key of its own derived from it), so it is
        meaningless without it and goes with it at erasure. A client that does not encrypt
        shows its payloads in clear anyway: there a plain hash reveals nothing they do not.
        """
        canonical = value.model_dump_json().encode()
        if not is_protected(self._client):
            return hashlib.sha256(canonical).hexdigest()[:32]
        data_key = await keyring_of(self._client).key_for(scope)
        key = hmac.new(data_key.key, b"update-id", hashlib.sha256).digest()
        return hmac.new(key, canonical, hashlib.sha256).hexdigest()[:32]

    # --------------------------------------------------------------- intake

    async def report_event(self, event: StatusEvent, system: BackOffice) -> IntakeResult:
        """:meth:`submit_event` for a back-office system, which may then read the case back
        (:meth:`reported_case`); recorded once the case took the event in."""
        intake = await self.submit_event(event)
        async with self._pool.acquire() as con:
            await reporters.record(con, event.case_id, system.token_id)
        return intake

    async def submit_event(self, event: StatusEvent) -> IntakeResult:
        """Deliver a status event to its case, opening the case when it is new.

        Update-with-start: one call starts the workflow if needed and delivers the event, so a
        burst of events for one case neither races nor duplicates. ``neu_zugewandert`` opens
        no case: it starts the arrival workflow instead (:meth:`_submit_arrival`).

        Dates that cannot be true (:func:`schemas.events.implausible_dates`, on Berlin's
        today) are refused first, naming the field. An event id names one event: sent again
        with the same content it answers ``duplicate``, with other content (another case
        included) it is :class:`EventIdReused`.

        The update's id is the event id and the event's digest: the same event sent again
        while it is being delivered (a retry after a 503) waits for that delivery and answers
        as it does; another event under that id is a new update, which the workflow refuses
        (Temporal would answer it with the first one's outcome). Sent again after it was
        recorded, the store answers.
        """
        await self._check_dates(event)
        if event.status.starts_arrival:
            return await self._submit_arrival(event)
        if event.person is not None and event.person.address.town not in self._settings.towns:
            raise Invalid.field(
                "person.address.town",
                "not in the ABH's jurisdiction; one of: " + ", ".join(self._settings.towns),
            )
        async with self._pool.acquire() as con:
            known = await self._recorded_event(con, event)
            case_exists = await case_store.get_case(con, event.case_id) is not None
        if known is not None:
            return await self._repeated(event, known)
        could_open = event.status.opens_case and event.person is not None
        if not could_open and not case_exists:
            # Refuse here what cannot open a case, so no workflow is started for it.
            if not event.status.opens_case:
                raise Invalid.field(
                    "status",
                    f"'{event.status.value}' does not open a case; "
                    "only ausreisepflichtig or geduldet do",
                )
            raise Invalid.field("person", "required when the event opens a case")
        update = update_method(CaseWorkflow.status_event)
        update_id = await self._event_update_id(event)
        if case_exists:
            # The case's workflow runs (the case file is written by it): a plain update, which
            # costs the server less than a start that finds the workflow there.
            handle = self._client.get_workflow_handle_for(
                CaseWorkflow.run, workflow_id(event.case_id)
            )
            try:
                intake: IntakeResult = await self._timely(
                    handle.execute_update(update, event, id=update_id)
                )
                return intake
            except WorkflowUpdateFailedError as error:
                raise _from_event_failure(error, event) from None
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                return await self._after_close(event)
        try:
            # A closed case stays closed; a run that never opened leaves the id free.
            return await self._start_with(
                event,
                await self._case_start(event.case_id),
                WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                update_id,
            )
        except (WorkflowAlreadyStartedError, RPCError) as error:
            if isinstance(error, RPCError) and error.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            return await self._after_close(event)

    async def _repeated(self, event: StatusEvent, known: IntakeResult) -> IntakeResult:
        """A repeated event answers with the stage the first one led to. The store records an
        event before the case has moved on, so while the case runs, the repeat attaches to the
        first update (the same update id: Temporal answers once that one is done) instead of
        reading a stage that is about to change; a repeat never acts a second time."""
        if known.stage == Stage.CLOSED.value:
            return known
        handle = self._client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(event.case_id))
        try:
            first: IntakeResult = await self._timely(
                handle.execute_update(
                    update_method(CaseWorkflow.status_event),
                    event,
                    id=await self._event_update_id(event),
                )
            )
        except (WorkflowUpdateFailedError, RPCError):
            return known  # the run is gone or refused it: the store's answer stands
        return first.model_copy(update={"duplicate": True})

    async def _event_update_id(self, event: StatusEvent) -> str:
        """The update id of a status event: its id and its content's keyed digest."""
        return f"event-{event.event_id}-{await self._digest(case_scope(event.case_id), event)}"

    async def _start_with(
        self,
        event: StatusEvent,
        start_input: CaseStart,
        reuse: WorkflowIDReusePolicy,
        update_id: str,
    ) -> IntakeResult:
        """``event`` delivered by update-with-start to a run started with ``start_input`` if
        none runs (a new case, or a closed one coming back)."""
        start = WithStartWorkflowOperation(
            CaseWorkflow.run,
            start_input,
            id=workflow_id(event.case_id),
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
            search_attributes=opening_search_attributes(event, datetime.now(BERLIN).date()),
        )
        try:
            intake: IntakeResult = await self._timely(
                self._client.execute_update_with_start_workflow(
                    update_method(CaseWorkflow.status_event),
                    event,
                    start_workflow_operation=start,
                    id=update_id,
                )
            )
            return intake
        except WorkflowUpdateFailedError as error:
            raise _from_event_failure(error, event) from None
        finally:
            await _forget_start(start)

    async def _check_dates(self, event: StatusEvent) -> None:
        """Refuse an event whose dates cannot be true (every such field named at once).

        An event that reports the household without the person is checked against the
        person's date of birth as the case has it.
        """
        person_born = None
        if event.person is None and event.household is not None and event.household.children:
            async with self._pool.acquire() as con:
                person_born = await case_store.person_born(con, event.case_id)
        today = datetime.now(BERLIN).date()
        errors = implausible_dates(event, today, person_born=person_born)
        if errors:
            raise Invalid("; ".join(f"{e.field}: {e.reason}" for e in errors), errors)

    async def _after_close(self, event: StatusEvent) -> IntakeResult:
        """The case's workflow has ended: a re-sent event is a duplicate; a new obligation
        with the person (a permit revoked, a return after moving away) brings the case back;
        anything else comes late."""
        async with self._pool.acquire() as con:
            if await self._recorded_event(con, event) is not None:
                return IntakeResult(case_id=event.case_id, stage="closed", duplicate=True)
            if not (event.status.opens_case and event.person is not None):
                raise CaseClosed("the case is closed")
            if await case_store.is_erased(con, event.case_id):
                # Its keys are shredded and its file is gone: it cannot go on as the same case.
                raise CaseClosed("the case is closed and erased; open it under a new case id")
            after_seq = await timeline_store.last_seq(con, event.case_id)
        return await self._reopen(event, after_seq)

    async def _reopen(self, event: StatusEvent, after_seq: int) -> IntakeResult:
        """A new run of the closed case's workflow, its timeline going on after ``after_seq``;
        two events racing to reopen it meet in the one new run."""
        update_id = await self._event_update_id(event)
        return await self._start_with(
            event,
            (await self._case_start(event.case_id)).model_copy(
                update={"reopened_after_seq": after_seq}
            ),
            WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            update_id,
        )

    @staticmethod
    async def _recorded_event(con: Connection, event: StatusEvent) -> IntakeResult | None:
        """The answer to an event the store has recorded already: a duplicate, nothing
        changes; the same id recorded with other content (or for another case) is refused.
        An event recorded before its digest was kept (NULL) is taken to be the same."""
        recorded = await case_store.recorded_event(con, event.event_id)
        if recorded is None:
            return None
        digest = recorded.content_digest
        if recorded.case_id != event.case_id or digest not in (None, event_digest(event)):
            raise EventIdReused(event.event_id)
        case = await case_store.get_case(con, event.case_id)
        if case is None:  # erased meanwhile: the event is no longer known either
            return None
        return IntakeResult(case_id=event.case_id, stage=case.stage, duplicate=True)

    async def _submit_arrival(self, event: StatusEvent) -> IntakeResult:
        """Neu zugewandert: the flyer of the person's town, by e-mail or by hand.

        One arrival workflow per reference at a time (``arrival-<reference>``):
        - the same event id again answers ``duplicate`` and sends nothing, during the
          workflow (it remembers the event) and after it (``arrivals.event_id``); with other
          content it is :class:`EventIdReused` during the workflow (after it, the store
          keeps no digest of arrivals yet: it answers ``duplicate`` as before);
        - another arrival event for the reference while one is being handled is a 409;
        - another one after it finished starts a new arrival, unless the flyer of that town
          reached the person already (e-mailed or handed over): then it is a 409. So a move
          within the county brings the new town's flyer, and an arrival that ended without
          the flyer (not reachable, lapsed, no flyer) can be reported again.
        """
        if event.person is None:
            raise Invalid.field("person", "required for neu_zugewandert")
        town = event.person.address.town
        if town not in self._settings.arrival_towns:
            raise Invalid.field(
                "person.address.town",
                "not a town of Kreis Unna; one of: " + ", ".join(self._settings.arrival_towns),
            )
        async with self._pool.acquire() as con:
            known = await arrival_store.by_event(con, event.event_id)
            if known is not None:
                if known.reference != event.case_id:
                    raise Invalid.field("event_id", "already used for another reference")
                stage = ArrivalStage.INFORMED if known.finished_at else ArrivalStage.INFORMATION
                return IntakeResult(case_id=event.case_id, stage=stage, duplicate=True)
            if await arrival_store.informed_in(con, event.case_id, town):
                raise Conflict("this reference has already received the flyer of this town")
        # As for a case: another event under this id is an update of its own (refused).
        digest = await self._digest(arrival_scope(event.case_id), event)
        start = WithStartWorkflowOperation(
            ArrivalWorkflow.run,
            ArrivalStart(
                reference=event.case_id,
                timings=self._arrival_timings,
                handover_queue=self._settings.arrival_handover_queues.get(town, Queue.ABH),
            ),
            id=arrival_workflow_id(event.case_id),
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A finished arrival leaves the id free for the next one (checked above).
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        try:
            intake: IntakeResult = await self._timely(
                self._client.execute_update_with_start_workflow(
                    update_method(ArrivalWorkflow.arrival_event),
                    event,
                    start_workflow_operation=start,
                    id=f"event-{event.event_id}-{digest}",
                )
            )
            return intake
        except WorkflowUpdateFailedError as error:
            raise _from_event_failure(error, event) from None
        finally:
            await _forget_start(start)

    # ---------------------------------------------------------------- tasks

    async def complete_task(
        self,
        task_id: str,
        completion: TaskCompletion,
        *,
        queue: Queue | None = None,
        rule_version: int | None = None,
    ) -> TaskResult:
        """``queue``: the caller's inbox; a task in another one is refused (403).

        ``rule_version``: the rule-set version the form showed (its routes); another one in
        force now is :class:`RulesChanged`. A decision the rules check goes to the case with
        the version in force and what the check reads of it, so form, check and record agree.

        The same completion sent again (a retry after a 503, or a second click) attaches to
        the update of the first: it answers when the case has moved on, as the first does.
        Only when that run is gone (the case closed, an arrival reported anew) does it answer
        from the store. Another completion of a task that is no longer open is a 409.

        Completions of one task wait for each other in this process (within the deadline),
        so those that come second read the task the first left and answer at once, without
        a workflow task each: twenty at once would otherwise queue at Temporal's limit of
        updates in flight and run into the deadline on a busy server.
        """
        try:
            async with self._completing.hold(task_id, within=self._deadline):
                return await self._complete_task(task_id, completion, queue, rule_version)
        except Busy:
            raise ServiceUnavailable(
                Backend.TEMPORAL, "another completion of this task is still being carried out"
            ) from None

    async def _complete_task(
        self,
        task_id: str,
        completion: TaskCompletion,
        queue: Queue | None,
        rule_version: int | None,
    ) -> TaskResult:
        async with self._pool.acquire() as con:
            task = await task_store.get_task(con, task_id)
            if task is None:
                raise NotFound("unknown task")
            reference = task.arrival_reference
            if queue is not None and task.queue != queue.value:
                raise Forbidden("this task is not in your role's inbox")
            repeat = False
            if task.status == "completed":
                recorded = await task_store.task_completion(con, task_id)
                repeat = (
                    recorded is not None and _COMPLETION.validate_python(recorded) == completion
                )
            if task.status != "open" and not repeat:
                raise Conflict(f"the task is already {task.status}")
            if completion.kind != task.kind:
                raise Invalid.field("kind", f"this task is a {task.kind} task")
            if isinstance(completion, KiContact) and completion.partner_id is not None:
                language = await case_store.person_language(con, _case_of(task))
                await self._check_partner(con, task.town, completion.partner_id, language)
            household: list[date] = []
            if reference is None and isinstance(completion, Escalation | EnforcementResult):
                # The time rules see every minor of the household: the workflow knows its
                # own file only, the other members' cases are read here.
                household = await case_store.household_born(con, _case_of(task))
        scope = arrival_scope(reference) if reference is not None else case_scope(_case_of(task))
        # The task and what was entered: the same completion twice is one update; another
        # one of the same task is an update of its own, which the workflow refuses (409).
        update_id = f"task-{task_id}-{await self._digest(scope, completion)}"
        rules = None if reference is not None else await self._rules.for_decision(completion)
        if rules is not None and rule_version is not None and rules.version != rule_version:
            raise RulesChanged.between(rule_version, rules.version)
        request = CompleteTask(
            task_id=task_id, completion=completion, household_born=household, rules=rules
        )
        if reference is not None:
            update = self._client.get_workflow_handle_for(
                ArrivalWorkflow.run, arrival_workflow_id(reference)
            ).execute_update(update_method(ArrivalWorkflow.complete_task), request, id=update_id)
        else:
            update = self._client.get_workflow_handle_for(
                CaseWorkflow.run, workflow_id(_case_of(task))
            ).execute_update(update_method(CaseWorkflow.complete_task), request, id=update_id)
        try:
            return await self._timely(update)
        except WorkflowUpdateFailedError as error:
            if repeat:  # a newer run of the arrival, which never had this task
                return await self._completed(task)
            refusal = _from_update_failure(error)
            if (
                isinstance(completion, Escalation)
                and isinstance(refusal, Invalid)
                and rules is not None
            ):
                await self._count_time_rule_refusal(
                    task, completion, refusal, update_id, rules.time_rules
                )
            if isinstance(completion, ErasureConfirmation) and isinstance(
                refusal, CaseClosed | Conflict
            ):  # owed from a run that ended (a case closing, or closed and come back)
                return await self._confirm_after_close(task, completion)
            raise refusal from None
        except RPCError as error:
            if repeat and error.status == RPCStatusCode.NOT_FOUND:  # the run has ended
                return await self._completed(task)
            if (
                isinstance(completion, ErasureConfirmation)
                and error.status == RPCStatusCode.NOT_FOUND
            ):
                return await self._confirm_after_close(task, completion)
            raise self._closed_or(error) from None

    async def _count_time_rule_refusal(
        self,
        task: TaskTownRow,
        decision: Escalation,
        refusal: Invalid,
        update_id: str,
        time_rules: Sequence[TimeRule],
    ) -> None:
        """An enforcement the time rules refused never reaches the case file: the county's
        report counts it here (an anonymous fact: the rules, never the decision's data).
        ``time_rules``: those the case checked the decision against (the version in force)."""
        rules = {f"{r.title} ({r.source})": r.rule_id for r in time_rules}
        broken = sorted({rules[f.reason] for f in refusal.fields if f.reason in rules})
        if decision.decision is not EscalationDecision.ENFORCEMENT or not broken:
            return
        async with self._pool.acquire() as con:
            await report_store.record_fact(
                con,
                f"refusal:{update_id}",
                _case_of(task),
                "time_rule_refusal",
                datetime.now(BERLIN).date(),
                {"rules": list(broken)},
            )

    async def _confirm_after_close(
        self, task: TaskTownRow, confirmation: ErasureConfirmation
    ) -> TaskResult:
        """An erasure confirmation the case still owed when its run ended (it outlives the
        case: workflows/erasure_watch.py): written as the case's own step would have."""
        case_id = _case_of(task)
        async with self._pool.acquire() as con, con.transaction():
            await case_store.lock_case(con, case_id)
            if not await task_store.open_erasure_confirmation(con, task.task_id):
                raise Conflict("the task is no longer open")
            entry = await timeline_store.append(
                con,
                case_id,
                datetime.now(UTC),
                "task_completed",
                TaskKind.ERASURE_CONFIRMATION.value,
            )
            await task_store.close_task(
                con,
                TaskClosure(
                    entry=entry,
                    task_id=task.task_id,
                    status=TaskStatus.COMPLETED,
                    completion=confirmation,
                ),
            )
            await task_store.confirm_erasure(con, task.task_id, confirmation.confirmed_on)
        return await self._completed(task)

    async def _completed(self, task: TaskTownRow) -> TaskResult:
        """The answer to a task completed with this very completion: where it stands now."""
        if task.arrival_reference is not None:
            # Completing the hand-over task finishes the arrival.
            return TaskResult(
                task_id=task.task_id,
                case_id=None,
                stage=ArrivalStage.INFORMED,
                arrival_reference=task.arrival_reference,
            )
        async with self._pool.acquire() as con:
            case = await case_store.get_case(con, _case_of(task))
        stage = case.stage if case is not None else "closed"
        return TaskResult(task_id=task.task_id, case_id=task.case_id, stage=stage)

    async def _check_partner(
        self, con: Connection, town: str, partner_id: int, language: str | None
    ) -> None:
        """A partner of the person's town; one who speaks the person's language where the
        directory knows one (any partner of the town where it knows none)."""
        partner = await partner_store.get_partner(con, partner_id)
        if partner is None or not partner.active:
            raise Invalid.field("partner_id", "no such partner in the directory")
        if partner.town != town:
            raise Invalid.field(
                "partner_id", f"the partner works in {partner.town}, not in the person's town"
            )
        if language is None or language in partner.languages:
            return
        speaking = [
            p.name for p in await partner_store.list_partners(con, town) if language in p.languages
        ]
        if speaking:
            raise Invalid.field(
                "partner_id",
                f"the person speaks {language}; partners in {town} who do: " + ", ".join(speaking),
            )

    # --------------------------------------------------------- at any time

    async def withdraw_consent(
        self, case_id: str, withdrawal: ConsentWithdrawal
    ) -> CaseUpdateResult:
        return await self._case_update(
            case_id, update_method(CaseWorkflow.withdraw_consent), withdrawal, "withdraw_consent"
        )

    async def record_route_failure(self, case_id: str, failure: RouteFailure) -> CaseUpdateResult:
        return await self._case_update(
            case_id,
            update_method(CaseWorkflow.record_route_failure),
            failure,
            "record_route_failure",
        )

    async def extend_deadline(self, case_id: str, extension: DeadlineExtension) -> CaseUpdateResult:
        return await self._case_update(
            case_id, update_method(CaseWorkflow.extend_deadline), extension, "extend_deadline"
        )

    async def register_supporter(
        self, case_id: str, report: SupporterReport, reporter: Account
    ) -> CaseUpdateResult:
        """Reported by the ABH for any case, by the KI for a case disclosed to it (any other
        case is unknown to the KI, as when it reads one)."""
        if reporter.role is Role.KI:
            async with self._pool.acquire() as con:
                if await inbox_store.ki_referral(con, case_id) is None:
                    raise NotFound("unknown case")
        return await self._case_update(
            case_id, update_method(CaseWorkflow.register_supporter), report, "register_supporter"
        )

    async def record_departure(
        self, caseworker: Account, case_id: str, record: DepartureRecord
    ) -> IntakeResult:
        """The ABH records that the person left, with the proof: the status event
        ``ausgereist`` with this departure, as the back office would send it (the outcome
        follows from its kind, an open enforcement result waits for its record), and an
        audit entry naming the caseworker.

        The event's id is derived from the case and what was entered (keyed with the case's
        data key): the same record sent twice (a double submit, a retry after a 503) is one
        event, answered ``duplicate`` the second time. Refused: a crossing in the future
        (``crossed_on``), a closed case (:class:`CaseClosed`)."""
        await self._require_open_file(case_id)
        if record.crossed_on > datetime.now(BERLIN).date():
            raise Invalid.field("crossed_on", "must not be in the future")
        digest = await self._digest(case_scope(case_id), record)
        event = StatusEvent(
            event_id=f"abh-departure-{digest}",
            case_id=case_id,
            status=ResidenceStatus.AUSGEREIST,
            effective_date=record.crossed_on,
            departure=record.departure(),
        )
        intake = await self._submit_as(event, _DEPARTURE_FIELDS)
        if not intake.duplicate:
            await self._audit(
                caseworker,
                AuditAction.DEPARTURE_RECORDED,
                case_id,
                {"event_id": event.event_id, "kind": record.kind.value},
            )
        return intake

    async def reopen(self, caseworker: Account, case_id: str, reopening: Reopening) -> IntakeResult:
        """A closed case comes back with a new obligation to leave: the status event it
        stands for, with the person and the household as the case file has them (so a new
        run knows the children the time rules protect), the way of a back-office event
        (docs/process.md, "A closed case comes back"), and an audit entry naming the
        caseworker. The event's id is derived as for :meth:`record_departure`: sent twice,
        it is one event.

        Refused: a case that is not closed, or erased (:class:`Conflict`); dates that cannot
        be (``effective_date``, ``departure_deadline``, :class:`Invalid`)."""
        await self._require_open_file(case_id)
        digest = await self._digest(case_scope(case_id), reopening)
        async with self._pool.acquire() as con:
            case = await case_store.get_case(con, case_id)
            person = await records_store.person(con, case_id)
            children = await records_store.children_born_on(con, case_id)
            reference = await records_store.household_reference(con, case_id)
            repeated = await case_store.recorded_event(con, f"abh-reopen-{digest}") is not None
        if case is None or person is None:
            raise Conflict("the case is erased; open it under a new case id")
        if case.stage != Stage.CLOSED.value and not repeated:
            raise Conflict("only a closed case can be reopened")
        event = StatusEvent(
            event_id=f"abh-reopen-{digest}",
            case_id=case_id,
            status=reopening.status,
            effective_date=reopening.effective_date,
            departure_deadline=reopening.departure_deadline,
            person=Person(
                given_name=person.given_name,
                family_name=person.family_name,
                date_of_birth=person.date_of_birth,
                nationality=person.nationality,
                language=person.language,
                phone=person.phone,
                email=person.email,
                address=Address(
                    street=person.street, postal_code=person.postal_code, town=person.town
                ),
            ),
            household=Household(
                children=[Child(date_of_birth=born) for born in children], reference=reference
            ),
        )
        try:
            intake = await self._submit_as(event, _REOPENING_FIELDS)
        except CaseClosed:
            # The case row says closed while its run is still ending (for a moment after the
            # close is recorded): once it has ended, the event reopens the case.
            await self._run_ended(case_id)
            intake = await self._submit_as(event, _REOPENING_FIELDS)
        if not intake.duplicate:
            await self._audit(
                caseworker,
                AuditAction.CASE_REOPENED,
                case_id,
                {"event_id": event.event_id, "status": reopening.status.value},
            )
        return intake

    async def _run_ended(self, case_id: str) -> None:
        """Wait (within the deadline) for the case's current run to end, however it ends."""
        handle = self._client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))
        try:
            await self._timely(handle.result())
        except WorkflowFailureError:
            pass

    async def _require_open_file(self, case_id: str) -> None:
        """The case exists and its file is not erased (its key, which derives the event ids
        of the ABH's own events, is shredded then)."""
        async with self._pool.acquire() as con:
            if await case_store.get_case(con, case_id) is None:
                raise NotFound("unknown case")
            if await case_store.is_erased(con, case_id):
                raise CaseClosed("the case is closed and erased")

    async def _submit_as(self, event: StatusEvent, fields: dict[str, str]) -> IntakeResult:
        """``event`` through the intake; a refused field is named as the caller's model
        names it (``fields``: the event's field → the model's), any other refusal of the
        event's data (the person's town no longer served, say) is a conflict of the case."""
        try:
            return await self.submit_event(event)
        except Invalid as refused:
            named = [
                FieldError(field=fields[fault.field], reason=fault.reason)
                for fault in refused.fields
                if fault.field in fields
            ]
            if not named:
                raise Conflict(f"the case cannot take this event: {refused.message}") from None
            raise Invalid("; ".join(f"{f.field}: {f.reason}" for f in named), named) from None

    async def _audit(
        self,
        account: Account,
        action: AuditAction,
        case_id: str,
        detail: dict[str, DetailValue],
    ) -> None:
        async with self._pool.acquire() as con, con.transaction():
            await audit.append(con, AuditDraft.by(account, action, case_id=case_id, detail=detail))

    async def _case_update(
        self,
        case_id: str,
        update: UpdateMethodMultiParam[[CaseWorkflow, _Arg], CaseUpdateResult],
        arg: _Arg,
        id_prefix: str,
    ) -> CaseUpdateResult:
        """``arg`` sent again (a retry) is the same update: one withdrawal, one supporter
        task; another withdrawal after the first is refused by the workflow (409).
        ``id_prefix`` starts the update's id (kept as it is: updates in flight carry it)."""
        await self._require_case(case_id)
        handle = self._client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))
        update_id = f"{id_prefix}-{await self._digest(case_scope(case_id), arg)}"
        try:
            return await self._timely(handle.execute_update(update, arg, id=update_id))
        except WorkflowUpdateFailedError as error:
            raise _from_update_failure(error) from None
        except RPCError as error:
            raise self._closed_or(error) from None

    @staticmethod
    def _closed_or(error: RPCError) -> CaseClosed:
        # An update to a workflow that has completed: the case was closed meanwhile.
        if error.status == RPCStatusCode.NOT_FOUND:
            return CaseClosed("the case is closed")
        raise error

    async def _case_exists(self, case_id: str) -> bool:
        async with self._pool.acquire() as con:
            return await case_store.get_case(con, case_id) is not None

    async def _require_case(self, case_id: str) -> None:
        if not await self._case_exists(case_id):
            raise NotFound("unknown case")

    # ---------------------------------------------------------------- views

    async def case_view(self, case_id: str) -> CaseView:
        async with self._pool.acquire() as con:
            view = await read_case_view(con, case_id)
        if view is None:
            raise NotFound("unknown case")
        return view

    async def reported_case(self, case_id: str, system: BackOffice) -> ReportedCase:
        """Stage and outcome of a case ``system`` reported; any other case is unknown to it
        (404, as a case that does not exist: it learns nothing of cases it did not report)."""
        async with self._pool.acquire() as con:
            case = None
            if await reporters.reported(con, case_id, system.token_id):
                case = await case_store.get_case(con, case_id)
        if case is None:
            raise NotFound("unknown case")
        return ReportedCase(
            case_id=case.case_id,
            stage=case.stage,
            residence_status=case.residence_status,
            outcome=case.outcome,
        )

    async def open_tasks(self, queue: Queue | None, case_id: str | None) -> list[TaskView]:
        async with self._pool.acquire() as con:
            rows = await task_store.open_tasks(con, queue=queue, case_id=case_id)
        return [TaskView.model_validate(row.model_dump()) for row in rows]


async def read_case_view(con: Connection, case_id: str) -> CaseView | None:
    """The ABH's view of a case on ``con`` (None: no such case), for this service and
    :class:`service.access.AccessService` alike."""
    case = await case_store.get_case(con, case_id)
    if case is None:
        return None
    tasks = await task_store.open_tasks(con, case_id=case_id)
    entries = await timeline_store.timeline(con, case_id)
    members = await case_store.household_members(con, case_id)
    return CaseView(
        case_id=case.case_id,
        stage=case.stage,
        residence_status=case.residence_status,
        outcome=case.outcome,
        departure_deadline=case.departure_deadline,
        open_tasks=[TaskView.model_validate(row.model_dump()) for row in tasks],
        timeline=[TimelineEntry.model_validate(row.model_dump()) for row in entries],
        household=[HouseholdMember.model_validate(row.model_dump()) for row in members],
    )
