"""The baseline: a workflow with a case's Temporal shape and none of its logic.

A case lifecycle costs what Temporal costs (workflow tasks, activities, updates, timers) plus
what the case adds (its database writes, its state machine, the service's lookups). To see
the second part, ``bench.lifecycle`` runs :class:`TrivialCaseShape` beside the real thing:
the same number of activities, in the same segments between the same number of updates,
with the same timed waits and roughly the same payload sizes, but activities that only
return. The shape is not written down here; :func:`shape_of` reads it from a real case's
history, so the baseline follows the case workflow when that changes.

Search-attribute upserts are a feature of the case (visibility writes), not of Temporal's
minimum, so the baseline leaves them out unless asked (``mirror_upserts``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Literal

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHistory
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from service.temporal import update_method
    from workflows import search_attributes as sa

TRIVIAL_WORKFLOW = "TrivialCaseShape"
NOOP_ACTIVITY = "trivial.noop"
STEP_UPDATE = "step"
# The case waits for a human with a timer running (the task's reminder); so does the baseline.
TIMED_WAIT = timedelta(days=12)

Op = Literal["activity", "upsert"]


# ------------------------------------------------------------------ the shape


@dataclass
class Shape:
    """What one workflow run did, in Temporal's terms, read from its history.

    ``segments[i]`` is what the workflow did after accepting update ``i`` and before
    accepting update ``i + 1`` (or finishing); ``timed_waits[i]``: a timer was started
    while it waited for update ``i``.
    """

    update_names: list[str] = field(default_factory=list)
    prelude: list[Op] = field(default_factory=list)
    segments: list[list[Op]] = field(default_factory=list)
    timed_waits: list[bool] = field(default_factory=list)
    activity_sizes: list[int] = field(default_factory=list)
    update_sizes: list[int] = field(default_factory=list)
    start_size: int = 0
    timers: int = 0
    workflow_tasks: int = 0
    events: int = 0
    history_bytes: int = 0  # the history as the server sends it (protobuf)

    @property
    def activities(self) -> int:
        return len(self.activity_sizes)

    @property
    def updates(self) -> int:
        return len(self.update_names)

    @property
    def upserts(self) -> int:
        return sum(ops.count("upsert") for ops in [self.prelude, *self.segments])

    def summary(self) -> str:
        per_segment = "/".join(str(ops.count("activity")) for ops in self.segments)
        return (
            f"{self.activities} activities ({per_segment} after each update), "
            f"{self.updates} updates, {self.timers} timers, {self.upserts} SA upserts, "
            f"{self.workflow_tasks} workflow tasks, {self.events} events,"
            f" {self.history_bytes / 1024:.0f} KB"
        )


def shape_of(history: WorkflowHistory) -> Shape:
    """Count and order what a completed run did: the baseline is built from this."""
    shape = Shape(
        events=len(history.events), history_bytes=sum(e.ByteSize() for e in history.events)
    )
    timer_pending = False
    for event in history.events:
        kind = event.event_type
        current = shape.segments[-1] if shape.segments else shape.prelude
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            shape.start_size = sum(len(p.data) for p in payloads)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            shape.update_names.append(request.input.name)
            shape.update_sizes.append(sum(len(p.data) for p in request.input.args.payloads))
            shape.timed_waits.append(timer_pending)
            shape.segments.append([])
            timer_pending = False
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payloads = event.activity_task_scheduled_event_attributes.input.payloads
            shape.activity_sizes.append(sum(len(p.data) for p in payloads))
            current.append("activity")
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            current.append("upsert")
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            shape.timers += 1
            timer_pending = True
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            shape.workflow_tasks += 1
    return shape


# --------------------------------------------------------- workflow and activity


class TrivialPlan(BaseModel):
    """The workflow's input: what to do between updates. ``padding`` sizes it like a case's."""

    prelude: list[Op]
    segments: list[list[Op]]
    timed_waits: list[bool]
    activity_padding: list[int]
    padding: str = ""


class NoopInput(BaseModel):
    seq: int
    padding: str


class TrivialStep(BaseModel):
    seq: int
    padding: str


class TrivialStepResult(BaseModel):
    seq: int
    segment_done: int


class TrivialResult(BaseModel):
    activities: int
    updates: int


@activity.defn(name=NOOP_ACTIVITY)
async def noop(_: NoopInput) -> None:
    """Does nothing: what is left is Temporal's cost of an activity."""


@workflow.defn(name=TRIVIAL_WORKFLOW)
class TrivialCaseShape:
    @workflow.init
    def __init__(self, plan: TrivialPlan) -> None:
        self._received = 0
        self._done = 0
        self._activities = 0

    @workflow.run
    async def run(self, plan: TrivialPlan) -> TrivialResult:
        await self._perform(plan, plan.prelude)
        for index, ops in enumerate(plan.segments):
            arrived = partial(self._arrived, index)
            if plan.timed_waits[index]:
                await workflow.wait_condition(arrived, timeout=TIMED_WAIT)
            else:
                await workflow.wait_condition(arrived)
            await self._perform(plan, ops)
            self._done = index + 1
        await workflow.wait_condition(workflow.all_handlers_finished)
        return TrivialResult(activities=self._activities, updates=self._received)

    @workflow.update(name=STEP_UPDATE)
    async def step(self, step: TrivialStep) -> TrivialStepResult:
        """Answers once its segment ran, as the case answers once it has moved on."""
        index = self._received
        self._received += 1
        await workflow.wait_condition(lambda: self._done > index)
        return TrivialStepResult(seq=step.seq, segment_done=index)

    def _arrived(self, index: int) -> bool:
        return self._received > index

    async def _perform(self, plan: TrivialPlan, ops: Sequence[Op]) -> None:
        for op in ops:
            if op == "upsert":
                # The same keys a case sets, so the visibility store does the same work.
                workflow.upsert_search_attributes(
                    [
                        sa.CASE_STAGE.value_set(f"trivial-{self._activities}"),
                        sa.CASE_TOWN.value_set("Unna"),
                        sa.CASE_HAS_MINORS.value_set(False),
                        sa.CASE_OVERDUE.value_set(False),
                        sa.CASE_DEPARTURE_DEADLINE.value_set(workflow.now() + TIMED_WAIT),
                    ]
                )
                continue
            padding = plan.activity_padding[self._activities]
            self._activities += 1
            await workflow.execute_activity(
                noop,
                NoopInput(seq=self._activities, padding="x" * padding),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )


def trivial_worker(like: Worker, task_queue: str) -> Worker:
    """A worker for the baseline, configured exactly like ``like`` (the case worker)."""
    config = like.config()
    config["task_queue"] = task_queue
    config["workflows"] = [TrivialCaseShape]
    config["activities"] = [noop]
    return Worker(**config)


# ------------------------------------------------------------------ driving it


def _padding(model: BaseModel, size: int) -> int:
    """How much padding makes ``model`` (empty padding) serialise to about ``size`` bytes."""
    return max(0, size - len(model.model_dump_json()))


@dataclass
class Baseline:
    """How to start and drive one trivial run so that it mirrors ``shape``."""

    plan: TrivialPlan
    update_padding: list[int]

    @classmethod
    def mirroring(cls, shape: Shape, *, mirror_upserts: bool = False) -> Baseline:
        def kept(ops: list[Op]) -> list[Op]:
            return [op for op in ops if mirror_upserts or op != "upsert"]

        activity_padding = [
            _padding(NoopInput(seq=n, padding=""), size)
            for n, size in enumerate(shape.activity_sizes, start=1)
        ]
        plan = TrivialPlan(
            prelude=kept(shape.prelude),
            segments=[kept(ops) for ops in shape.segments],
            timed_waits=shape.timed_waits,
            activity_padding=activity_padding,
        )
        plan = plan.model_copy(update={"padding": "x" * _padding(plan, shape.start_size)})
        update_padding = [
            _padding(TrivialStep(seq=n, padding=""), size)
            for n, size in enumerate(shape.update_sizes)
        ]
        return cls(plan, update_padding)

    async def run_once(self, client: Client, task_queue: str, workflow_id: str) -> list[float]:
        """One trivial lifecycle; returns the latency of each update, in order.

        The first update starts the workflow (update-with-start, as a case's opening event
        does), the others are plain ``execute_update`` calls, one after the other.
        """
        latencies: list[float] = []
        for seq, padding in enumerate(self.update_padding):
            step = TrivialStep(seq=seq, padding="x" * padding)
            began = time.perf_counter()
            if seq == 0:
                start = WithStartWorkflowOperation(
                    TrivialCaseShape.run,
                    self.plan,
                    id=workflow_id,
                    task_queue=task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                await client.execute_update_with_start_workflow(
                    update_method(TrivialCaseShape.step), step, start_workflow_operation=start
                )
            else:
                handle = client.get_workflow_handle_for(TrivialCaseShape.run, workflow_id)
                await handle.execute_update(update_method(TrivialCaseShape.step), step)
            latencies.append(time.perf_counter() - began)
        await client.get_workflow_handle(workflow_id, result_type=TrivialResult).result()
        return latencies
