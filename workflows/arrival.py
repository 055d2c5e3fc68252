"""Neu zugewandert: the short information workflow for everyone newly arrived (issue 5).

Every newly arrived person, whatever their status, receives the flyer of their town in their
language (DOMAIN.md, "The process", step 1). One workflow per reported arrival, id
``arrival-<reference>`` (the back office's reference, never a name):

    arrival event ──▶ record the arrival ──▶ issue the town's flyer (flyers.issue)
        e-mail known: queue the mail with the flyer ──▶ watch the outbox ──▶ sent: done
                                                              │ failed / no outcome in time
        no e-mail ──────────────────────────────────────────▶ ABH task "Faltblatt aushändigen"
                    reminder before its due date, overdue notice at it (ARRIVAL_NOTICES)
                                          handed over on … / not reachable / lapsed: done

The event arrives as the update ``arrival_event`` (update-with-start from the intake), so a
re-sent event is answered as a duplicate and sends nothing twice. A second, different
arrival event for the reference while this one runs is refused (409, ``ArrivalUnderWay``).
Nothing here does I/O: activities record the arrival, queue the mail, open and close the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.arrivals import (
        MAIL_UNUSABLE,
        ArrivalFinish,
        ArrivalNotice,
        ArrivalOutcome,
        ArrivalResult,
        ArrivalStage,
        ArrivalStart,
        DeliveryStatus,
        FlyerMail,
        HandoverClosure,
        HandoverTask,
        MailUnsettled,
        MailWatch,
        NewArrival,
    )
    from schemas.errors import ErrorType
    from schemas.events import IntakeResult, ResidenceStatus, StatusEvent, event_digest
    from schemas.flyers import FlyerRequest, IssuedFlyer
    from schemas.local_time import BERLIN
    from schemas.records import NoticeKind
    from schemas.tasks import (
        CompleteTask,
        FlyerHandover,
        TaskKind,
        TaskResult,
        TaskStatus,
    )
    from workflows import activity_refs as acts
    from workflows.activity_refs import ActivityRef
    from workflows.engine import Done, Engine, PatienceEnded, Task, refuse
    from workflows.steps import data_refused, run_step

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel | None)

# A workflow id is derived from the reference alone: never from anything personal.
WORKFLOW_ID_PREFIX = "arrival-"


# Patch ids (workflow.patched): histories recorded before a change replay the old way.
# The hand-over task gets a reminder and an overdue notice; asked where the task opens, so an
# arrival whose task was open before keeps none, and one that never needs a task asks nothing.
ARRIVAL_NOTICES = "arrival-notices"


def arrival_workflow_id(reference: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{reference}"


@dataclass
class _Handover:
    """What the hand-over task's rows carry besides the task."""

    arrival_id: str
    flyer: IssuedFlyer
    delivery_id: str = ""


@workflow.defn(name="ArrivalWorkflow")
class ArrivalWorkflow:
    @workflow.init
    def __init__(self, start: ArrivalStart) -> None:
        self._start = start
        self._reference = start.reference
        self._event: StatusEvent | None = None
        self._recorded = False
        self._refused = False
        self._stage = ArrivalStage.INFORMATION
        # No notices until the hand-over task opens (ARRIVAL_NOTICES, in _by_hand).
        self._engine: Engine[None] = Engine(self, reminder_lead=None)
        self._handover: _Handover | None = None

    @workflow.run
    async def run(self, start: ArrivalStart) -> ArrivalResult:
        try:
            await workflow.wait_condition(
                lambda: self._event is not None, timeout=start.timings.intake_grace
            )
        except TimeoutError:
            # The event was refused: fail, so the id stays free for a correct one.
            raise ApplicationError(
                "no arrival event was accepted", type=ErrorType.CASE_NOT_OPEN
            ) from None
        event = self._event
        assert event is not None and event.person is not None
        person = event.person
        arrival_id = str(workflow.uuid4())
        recording = self._act(
            acts.RECORD_ARRIVAL,
            NewArrival(
                arrival_id=arrival_id,
                reference=self._reference,
                event_id=event.event_id,
                town=person.address.town,
                language=person.language,
                effective_date=event.effective_date,
                given_name=person.given_name,
                family_name=person.family_name,
                email=person.email,
                received_at=workflow.now(),
            ),
        )
        try:
            await recording
        except ActivityError as error:
            if not data_refused(error):
                raise
            # Refused data: the event is refused (422) and the id stays free for a correct one.
            self._refused = True
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise ApplicationError(
                "the arrival event could not be stored", type=ErrorType.CASE_NOT_OPEN
            ) from None
        self._recorded = True

        flyer = await self._issue(FlyerRequest(town=person.address.town, language=person.language))
        outcome = None if flyer is not None else ArrivalOutcome.NO_FLYER
        if flyer is not None and person.email is not None:
            outcome = await self._by_mail(arrival_id, flyer)
        if flyer is not None and outcome is None:
            outcome = await self._by_hand(arrival_id, flyer)
        assert outcome is not None
        await self._act(
            acts.FINISH_ARRIVAL,
            ArrivalFinish(arrival_id=arrival_id, outcome=outcome, at=workflow.now()),
        )
        self._stage = ArrivalStage.INFORMED
        self._engine.finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ArrivalResult(reference=self._reference, arrival_id=arrival_id, outcome=outcome)

    async def _issue(self, request: FlyerRequest) -> IssuedFlyer | None:
        """The town's current flyer. A town without any offer has none (the activity refuses
        for good): ask again every ``flyer_retry`` until ``handover_lapse`` has passed."""
        timings = self._start.timings
        give_up_at = workflow.now() + timings.handover_lapse
        while True:
            try:
                return await self._act(acts.ISSUE_FLYER, request)
            except ActivityError as error:
                cause = error.cause
                if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                    raise
                if data_refused(error):
                    raise
            if workflow.now() + timings.flyer_retry > give_up_at:
                return None
            workflow.logger.warning("no flyer can be made for the arrival's town yet")
            await workflow.sleep(timings.flyer_retry)

    async def _by_mail(self, arrival_id: str, flyer: IssuedFlyer) -> ArrivalOutcome | None:
        """Queue the mail, then watch the outbox: sent is done; failed or no outcome within
        ``mail_patience`` (None) sends the flyer by hand as well."""
        timings = self._start.timings
        delivery_id = str(workflow.uuid4())
        try:
            mailed = await self._act(
                acts.MAIL_FLYER,
                FlyerMail(arrival_id=arrival_id, delivery_id=delivery_id, flyer=flyer,
                          at=workflow.now()),
            )  # fmt: skip
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == MAIL_UNUSABLE:
                return None  # an address the outbox refuses: by hand instead
            raise
        try:
            # The activity fails (benignly) while the mail is queued; its retries are the
            # polling, with a growing pause, and add nothing to the history.
            outcome = await workflow.execute_activity(
                acts.MAIL_OUTCOME.name.value,
                MailWatch(delivery_id=delivery_id, outbox_id=mailed.outbox_id),
                result_type=acts.MAIL_OUTCOME.output,
                start_to_close_timeout=timings.activity_timeout,
                schedule_to_close_timeout=timings.mail_patience,
                retry_policy=RetryPolicy(
                    initial_interval=timings.mail_check_first,
                    backoff_coefficient=2.0,
                    maximum_interval=timings.mail_check_max,
                ),
            )
        except ActivityError:
            await self._act(
                acts.MAIL_UNSETTLED,
                MailUnsettled(delivery_id=delivery_id, at=workflow.now()),
            )
            return None
        return ArrivalOutcome.EMAILED if outcome.status is DeliveryStatus.SENT else None

    async def _by_hand(self, arrival_id: str, flyer: IssuedFlyer) -> ArrivalOutcome:
        """The ABH prints the flyer and hands it over: a reminder before the due date, an
        overdue notice at it; overdue, the task stays open a while."""
        timings = self._start.timings
        if workflow.patched(ARRIVAL_NOTICES):
            self._engine.reminder_lead = timings.reminder_lead
        self._handover = _Handover(arrival_id, flyer)
        task = await self._engine.open_task(
            TaskKind.FLYER_HANDOVER, self._start.handover_queue, timings.handover_due, side=False
        )
        lapses_at = workflow.now() + timings.handover_lapse
        match await self._engine.await_task(task, patience=lambda: lapses_at):
            case PatienceEnded():  # no answer by then: the flyer did not reach the person
                return ArrivalOutcome.LAPSED
            case Done(FlyerHandover(handed_over=True)):
                return ArrivalOutcome.HANDED_OVER
            case Done(_):
                return ArrivalOutcome.NOT_REACHABLE

    # ------------------------------------- the rows of its task (engine.TaskRows)

    async def open_row(self, task: Task, detail: str | None) -> bool:
        handover = self._handover
        assert handover is not None
        handover.delivery_id = str(workflow.uuid4())
        await self._act(
            acts.CREATE_HANDOVER_TASK,
            HandoverTask(
                arrival_id=handover.arrival_id,
                delivery_id=handover.delivery_id,
                task_id=task.task_id,
                flyer=handover.flyer,
                due_at=task.due_at,
                at=workflow.now(),
                queue=task.queue,
            ),
        )
        return True  # a step that fails for good fails the arrival

    async def notice(self, task: Task, kind: NoticeKind) -> None:
        handover = self._handover
        assert handover is not None
        assert kind is NoticeKind.REMINDER or kind is NoticeKind.OVERDUE
        notice = ArrivalNotice(
            arrival_id=handover.arrival_id,
            task_id=task.task_id,
            queue=task.queue,
            kind=kind,
            at=workflow.now(),
        )
        try:
            await self._act(acts.ARRIVAL_NOTICE, notice)
        except ActivityError:
            # Logged and counted by _act. A notice given up does not end the arrival: its
            # task stays open, and the inbox shows it overdue by its due date all the same.
            pass

    async def close_row(self, task: Task, status: TaskStatus) -> None:
        handover = self._handover
        assert handover is not None
        await self._act(
            acts.CLOSE_HANDOVER_TASK,
            HandoverClosure(
                arrival_id=handover.arrival_id,
                delivery_id=handover.delivery_id,
                task_id=task.task_id,
                status=status,
                completion=task.completion,
                at=workflow.now(),
            ),
        )

    def overdue_changed(self) -> None:
        pass  # nothing published: the notice marks the task overdue in the inbox

    # ------------------------------------------------------------------ updates

    @workflow.update(name="arrival_event")
    async def arrival_event(self, event: StatusEvent) -> IntakeResult:
        """The back office reports the arrival; the same event id again changes nothing."""
        duplicate = self._event is not None
        if self._event is None:
            self._event = event
        elif event.event_id != self._event.event_id:  # passed the validator at the same time
            refuse(
                ErrorType.ARRIVAL_UNDER_WAY,
                "event_id",
                "another arrival event of this reference is being handled",
            )
        await workflow.wait_condition(lambda: self._recorded or self._refused)
        if self._refused:
            refuse(
                ErrorType.INVALID_INPUT,
                "event",
                "the arrival cannot be stored with this data (a character or value it cannot "
                "hold); nothing was sent",
            )
        return IntakeResult(case_id=self._reference, stage=self._stage, duplicate=duplicate)

    @arrival_event.validator
    def _validate_arrival_event(self, event: StatusEvent) -> None:
        if self._event is not None:
            if event.event_id == self._event.event_id:
                if event_digest(event) != event_digest(self._event):
                    refuse(ErrorType.EVENT_ID_REUSED, "event_id", "sent before with other content")
                return
            refuse(
                ErrorType.ARRIVAL_UNDER_WAY,
                "event_id",
                "another arrival event of this reference is being handled",
            )
        if event.case_id != self._reference:
            refuse(ErrorType.INVALID_INPUT, "case_id", "belongs to another arrival")
        if event.status is not ResidenceStatus.NEU_ZUGEWANDERT:
            refuse(ErrorType.CASE_NOT_OPEN, "status", "an arrival needs neu_zugewandert")
        if event.person is None:
            refuse(ErrorType.INVALID_INPUT, "person", "required for neu_zugewandert")

    @workflow.update(name="complete_task")
    async def complete_task(self, request: CompleteTask) -> TaskResult:
        """The ABH handed the flyer over, or could not reach the person."""
        assert isinstance(request.completion, FlyerHandover)
        self._engine.accept(request)
        # Answered once the arrival is finished (the hand-over was its last step).
        await workflow.wait_condition(lambda: self._engine.finished)
        return TaskResult(
            task_id=request.task_id,
            case_id=None,
            stage=self._stage,
            arrival_reference=self._reference,
        )

    @complete_task.validator
    def _validate_completion(self, request: CompleteTask) -> None:
        self._engine.task_to_complete(request.task_id)
        completion = request.completion
        if not isinstance(completion, FlyerHandover):
            refuse(ErrorType.INVALID_INPUT, "kind", "this task is a flyer_handover task")
        today = workflow.now().astimezone(BERLIN).date()
        if completion.handed_over_on is not None and completion.handed_over_on > today:
            refuse(ErrorType.INVALID_INPUT, "handed_over_on", "must not be in the future")

    @workflow.query(name="stage")
    def stage(self) -> str:
        return self._stage.value

    # ---------------------------------------------------------------- machinery

    async def _act(self, step: ActivityRef[In, Out], arg: In) -> Out:
        """One step. Refused data fails at once (activities/failures.py), anything else is
        retried for ``step_retry_limit``; a step that fails for good fails the arrival, which
        operations see, and it can be reported again (nothing reached the person)."""
        timings = self._start.timings
        try:
            return await run_step(
                step,
                arg,
                attempt_timeout=timings.activity_timeout,
                retry_limit=timings.step_retry_limit,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                if not data_refused(error):
                    raise  # a refusal of the process (no flyer yet, no address): the caller's
            workflow.logger.error("arrival step failed: %s", step.name.value)
            workflow.metric_meter().create_counter(
                "arrival_step_failures", description="Steps of an arrival that failed for good."
            ).add(1, {"step": step.name.value})
            raise
