"""Neu zugewandert: the short information workflow for everyone newly arrived (issue 5).

Every newly arrived person, whatever their status, receives the flyer of their town in their
language (DOMAIN.md, "The process", step 1). One workflow per reported arrival, id
``arrival-<reference>`` (the back office's reference, never a name):

    arrival event ──▶ record the arrival ──▶ issue the town's flyer (flyers.issue)
        e-mail known: queue the mail with the flyer ──▶ watch the outbox ──▶ sent: done
                                                              │ failed / no outcome in time
        no e-mail ──────────────────────────────────────────▶ ABH task "Faltblatt aushändigen"
                                          handed over on … / not reachable / lapsed: done

The event arrives as the update ``arrival_event`` (update-with-start from the intake), so a
re-sent event is answered as a duplicate and sends nothing twice. A second, different
arrival event for the reference while this one runs is refused (409, ``ArrivalUnderWay``).
Nothing here does I/O: activities record the arrival, queue the mail, open and close the task.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.arrivals import (
        MAIL_UNUSABLE,
        ArrivalFinish,
        ArrivalOutcome,
        ArrivalResult,
        ArrivalStage,
        ArrivalStart,
        DeliveryStatus,
        FlyerMail,
        HandoverClosure,
        HandoverTask,
        MailedFlyer,
        MailOutcome,
        MailUnsettled,
        MailWatch,
        NewArrival,
    )
    from schemas.errors import ErrorType, FieldError
    from schemas.events import IntakeResult, ResidenceStatus, StatusEvent
    from schemas.flyers import FlyerRequest, IssuedFlyer
    from schemas.local_time import BERLIN
    from schemas.records import ActivityName
    from schemas.tasks import CompleteTask, FlyerHandover, TaskResult, TaskStatus
    from workflows.steps import data_refused, run_step

_R = TypeVar("_R", bound=BaseModel)

# A workflow id is derived from the reference alone: never from anything personal.
WORKFLOW_ID_PREFIX = "arrival-"


def arrival_workflow_id(reference: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{reference}"


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
        self._task_id: str | None = None
        self._completion: FlyerHandover | None = None
        self._finished = False

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
            ActivityName.RECORD_ARRIVAL,
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
            ActivityName.FINISH_ARRIVAL,
            ArrivalFinish(arrival_id=arrival_id, outcome=outcome, at=workflow.now()),
        )
        self._stage = ArrivalStage.INFORMED
        self._finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ArrivalResult(reference=self._reference, arrival_id=arrival_id, outcome=outcome)

    async def _issue(self, request: FlyerRequest) -> IssuedFlyer | None:
        """The town's current flyer. A town without any offer has none (the activity refuses
        for good): ask again every ``flyer_retry`` until ``handover_lapse`` has passed."""
        timings = self._start.timings
        give_up_at = workflow.now() + timings.handover_lapse
        while True:
            try:
                flyer: IssuedFlyer = await self._act(ActivityName.ISSUE_FLYER, request, IssuedFlyer)
                return flyer
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
            mailed: MailedFlyer = await self._act(
                ActivityName.MAIL_FLYER,
                FlyerMail(arrival_id=arrival_id, delivery_id=delivery_id, flyer=flyer,
                          at=workflow.now()),
                MailedFlyer,
            )  # fmt: skip
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == MAIL_UNUSABLE:
                return None  # an address the outbox refuses: by hand instead
            raise
        try:
            # The activity fails (benignly) while the mail is queued; its retries are the
            # polling, with a growing pause, and add nothing to the history.
            outcome: MailOutcome = await workflow.execute_activity(
                ActivityName.MAIL_OUTCOME.value,
                MailWatch(delivery_id=delivery_id, outbox_id=mailed.outbox_id),
                result_type=MailOutcome,
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
                ActivityName.MAIL_UNSETTLED,
                MailUnsettled(delivery_id=delivery_id, at=workflow.now()),
            )
            return None
        return ArrivalOutcome.EMAILED if outcome.status is DeliveryStatus.SENT else None

    async def _by_hand(self, arrival_id: str, flyer: IssuedFlyer) -> ArrivalOutcome:
        """The ABH prints the flyer and hands it over; the task lapses after a while."""
        timings = self._start.timings
        task_id = str(workflow.uuid4())
        delivery_id = str(workflow.uuid4())
        now = workflow.now()
        await self._act(
            ActivityName.CREATE_HANDOVER_TASK,
            HandoverTask(
                arrival_id=arrival_id,
                delivery_id=delivery_id,
                task_id=task_id,
                flyer=flyer,
                due_at=now + timings.handover_due,
                at=now,
            ),
        )
        self._task_id = task_id
        try:
            await workflow.wait_condition(
                lambda: self._completion is not None, timeout=timings.handover_lapse
            )
        except TimeoutError:
            pass
        completion = self._completion  # also one accepted just as the task lapsed
        self._task_id = None
        await self._act(
            ActivityName.CLOSE_HANDOVER_TASK,
            HandoverClosure(
                arrival_id=arrival_id,
                delivery_id=delivery_id,
                task_id=task_id,
                status=TaskStatus.COMPLETED if completion else TaskStatus.CANCELLED,
                completion=completion,
                at=workflow.now(),
            ),
        )
        if completion is None:
            return ArrivalOutcome.LAPSED
        if completion.handed_over:
            return ArrivalOutcome.HANDED_OVER
        return ArrivalOutcome.NOT_REACHABLE

    # ------------------------------------------------------------------ updates

    @workflow.update(name="arrival_event")
    async def arrival_event(self, event: StatusEvent) -> IntakeResult:
        """The back office reports the arrival; the same event id again changes nothing."""
        duplicate = self._event is not None
        if self._event is None:
            self._event = event
        elif event.event_id != self._event.event_id:  # passed the validator at the same time
            _refuse(
                ErrorType.ARRIVAL_UNDER_WAY,
                "event_id",
                "another arrival event of this reference is being handled",
            )
        await workflow.wait_condition(lambda: self._recorded or self._refused)
        if self._refused:
            _refuse(
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
                return
            _refuse(
                ErrorType.ARRIVAL_UNDER_WAY,
                "event_id",
                "another arrival event of this reference is being handled",
            )
        if event.case_id != self._reference:
            _refuse(ErrorType.INVALID_INPUT, "case_id", "belongs to another arrival")
        if event.status is not ResidenceStatus.NEU_ZUGEWANDERT:
            _refuse(ErrorType.CASE_NOT_OPEN, "status", "an arrival needs neu_zugewandert")
        if event.person is None:
            _refuse(ErrorType.INVALID_INPUT, "person", "required for neu_zugewandert")

    @workflow.update(name="complete_task")
    async def complete_task(self, request: CompleteTask) -> TaskResult:
        """The ABH handed the flyer over, or could not reach the person."""
        assert isinstance(request.completion, FlyerHandover)
        self._completion = request.completion
        await workflow.wait_condition(lambda: self._finished)
        return TaskResult(
            task_id=request.task_id,
            case_id=None,
            stage=self._stage,
            arrival_reference=self._reference,
        )

    @complete_task.validator
    def _validate_completion(self, request: CompleteTask) -> None:
        if self._task_id is None or request.task_id != self._task_id or self._completion:
            _refuse(ErrorType.TASK_NOT_OPEN, "task_id", "the task is not open")
        completion = request.completion
        if not isinstance(completion, FlyerHandover):
            _refuse(ErrorType.INVALID_INPUT, "kind", "this task is a flyer_handover task")
        today = workflow.now().astimezone(BERLIN).date()
        if completion.handed_over_on is not None and completion.handed_over_on > today:
            _refuse(ErrorType.INVALID_INPUT, "handed_over_on", "must not be in the future")

    @workflow.query(name="stage")
    def stage(self) -> str:
        return self._stage.value

    # ---------------------------------------------------------------- machinery

    async def _act(self, name: ActivityName, arg: BaseModel, result: type[_R] | None = None) -> Any:
        """One step. Refused data fails at once (activities/failures.py), anything else is
        retried for ``step_retry_limit``; a step that fails for good fails the arrival, which
        operations see, and it can be reported again (nothing reached the person)."""
        timings = self._start.timings
        try:
            return await run_step(
                name,
                arg,
                result,
                attempt_timeout=timings.activity_timeout,
                retry_limit=timings.step_retry_limit,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                if not data_refused(error):
                    raise  # a refusal of the process (no flyer yet, no address): the caller's
            workflow.logger.error("arrival step failed: %s", name.value)
            workflow.metric_meter().create_counter(
                "arrival_step_failures", description="Steps of an arrival that failed for good."
            ).add(1, {"step": name.value})
            raise


def _refuse(error_type: ErrorType, field: str, reason: str) -> NoReturn:
    raise ApplicationError(
        f"{field}: {reason}",
        FieldError(field=field, reason=reason).model_dump(),
        type=error_type.value,
        non_retryable=True,
    )
