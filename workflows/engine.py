"""The engine under the workflows: human tasks, the inbox of updates, interruptions.

A human task is a row in a team's inbox plus a wait with a due date. A reminder goes out
before the due date; at the due date the task either lapses or turns overdue and stays open
for as long as the stage's patience lasts. What the stage then does is its own decision: the
wait returns a :data:`TaskOutcome` (done, lapsed, patience ended) that the stage matches on.

Updates that may come at any time (a status, a withdrawal, a supporter) are queued in an
inbox and taken in by the main loop whenever it waits, so there is exactly one writer of the
workflow's state. Taking one in may interrupt the waiting stage (:class:`Interruption`).
Side tracks (tasks beside the stages) wait without taking in the inbox and end with
:class:`Closing` when the workflow closes.

The engine does no I/O: the workflow writes the rows (:class:`TaskRows`, its activities).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, Literal, NoReturn, Protocol, TypeVar, overload

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas.errors import ErrorType, FieldError
    from schemas.records import NoticeKind
    from schemas.tasks import CompleteTask, Queue, TaskCompletion, TaskKind, TaskStatus

Item = TypeVar("Item")


@dataclass
class Task:
    task_id: str
    kind: TaskKind
    queue: Queue
    due_at: datetime
    side: bool  # beside the stages: waits without taking in the inbox
    completion: TaskCompletion | None = None
    overdue: bool = False
    created: bool = True  # False: its row could not be written (a failed step)


@dataclass(frozen=True)
class Done:
    """The task was completed; ``completion`` is what the person at the desk entered."""

    completion: TaskCompletion


@dataclass(frozen=True)
class Lapsed:
    """No answer by the due date: the task was cancelled then."""


@dataclass(frozen=True)
class PatienceEnded:
    """Overdue, the task stayed open until the stage's patience ended; then it was cancelled."""


TaskOutcome = Done | Lapsed | PatienceEnded


class Interruption(Exception):
    """Taking in an update ends the waiting stage early (the workflow says why)."""


class Closing(Exception):
    """The workflow is closing; a side track stops."""


class TaskRows(Protocol):
    """What the workflow writes for its tasks (through its activities)."""

    async def open_row(self, task: Task, detail: str | None) -> bool:
        """The task's row in its team's inbox; False when it could not be written."""

    async def notice(self, task: Task, kind: NoticeKind) -> None:
        """A reminder or an overdue notice to the task's team."""

    async def close_row(self, task: Task, status: TaskStatus) -> None:
        """The row completed or cancelled, with the completion if there is one."""

    def overdue_changed(self) -> None:
        """A task turned overdue, or an overdue one was closed."""


class Engine(Generic[Item]):
    """Open tasks, the inbox and the waits of one workflow run.

    ``take`` takes in one inbox item (the workflow's only writer), returning an interruption
    of the waiting stage or None. ``reminder_lead`` None: no notices at all (no reminder, no
    overdue notice); such a workflow waits only for the moments its stages decide on. It is
    read when a task's wait begins, so a workflow may set it until then (a change decided by
    ``workflow.patched`` where the task opens).
    """

    def __init__(
        self,
        rows: TaskRows,
        *,
        reminder_lead: timedelta | None,
        take: Callable[[Item], Awaitable[Interruption | None]] | None = None,
    ) -> None:
        self._rows = rows
        self.reminder_lead = reminder_lead
        self._take = take
        self.tasks: dict[str, Task] = {}
        self._settled: set[str] = set()
        self._inbox: deque[tuple[str, Item]] = deque()
        self._absorbed: set[str] = set()
        self._schedule_version = 0
        self._side_tracks: list[asyncio.Task[None]] = []
        self.idle = False  # the main loop waits, with nothing left to take in
        self.closing = False
        self.finished = False

    # ---------------------------------------------------------------- human tasks

    @overload
    async def human_task(
        self,
        kind: TaskKind,
        queue: Queue,
        due: timedelta,
        *,
        lapse: Literal[True],
        side: bool = ...,
    ) -> Done | Lapsed: ...

    @overload
    async def human_task(
        self,
        kind: TaskKind,
        queue: Queue,
        due: timedelta,
        *,
        patience: Callable[[], datetime | None],
        side: bool = ...,
    ) -> Done | PatienceEnded: ...

    @overload
    async def human_task(
        self, kind: TaskKind, queue: Queue, due: timedelta, *, side: bool = ...
    ) -> Done: ...

    async def human_task(
        self,
        kind: TaskKind,
        queue: Queue,
        due: timedelta,
        *,
        lapse: bool = False,
        patience: Callable[[], datetime | None] = lambda: None,
        side: bool = False,
    ) -> TaskOutcome:
        """Open a task and wait for it: reminder before the due date, then the stage's decision.

        ``lapse``: at the due date the task is cancelled (:class:`Lapsed`). Otherwise it turns
        overdue and stays open until ``patience()`` passes (:class:`PatienceEnded`; None: for
        ever, the task is :class:`Done` or the stage interrupted).
        """
        task = await self.open_task(kind, queue, due, side=side)
        return await self._wait_for(task, lapse, patience)

    async def open_task(
        self, kind: TaskKind, queue: Queue, due: timedelta, *, side: bool, detail: str | None = None
    ) -> Task:
        task = Task(str(workflow.uuid4()), kind, queue, workflow.now() + due, side)
        # Known before its row is written: a completion can arrive as soon as the row exists.
        self.tasks[task.task_id] = task
        task.created = await self._rows.open_row(task, detail)
        return task

    @overload
    async def await_task(self, task: Task, *, lapse: Literal[True]) -> Done | Lapsed: ...

    @overload
    async def await_task(
        self, task: Task, *, patience: Callable[[], datetime | None]
    ) -> Done | PatienceEnded: ...

    @overload
    async def await_task(self, task: Task) -> Done: ...

    async def await_task(
        self,
        task: Task,
        *,
        lapse: bool = False,
        patience: Callable[[], datetime | None] = lambda: None,
    ) -> TaskOutcome:
        """Wait for an open task (see :meth:`human_task`)."""
        return await self._wait_for(task, lapse, patience)

    async def _wait_for(
        self, task: Task, lapse: bool, patience: Callable[[], datetime | None]
    ) -> TaskOutcome:
        absorb = not task.side

        def done() -> bool:
            return task.completion is not None

        lead = self.reminder_lead
        notices = lead is not None
        finished = False
        if lead is not None:
            reminder_at = task.due_at - lead
            if reminder_at > workflow.now():
                finished = await self.wait(done, lambda: reminder_at, absorb=absorb)
                if not finished:
                    await self._rows.notice(task, NoticeKind.REMINDER)
        # Without notices nothing happens at the due date of a task that does not lapse.
        if not finished and (lapse or notices):
            finished = await self.wait(done, lambda: task.due_at, absorb=absorb)
        if not finished and not lapse:
            if notices:
                await self._rows.notice(task, NoticeKind.OVERDUE)
                task.overdue = True
                self._rows.overdue_changed()
            finished = await self.wait(done, patience, absorb=absorb)
        await self.settle(task, TaskStatus.COMPLETED if finished else TaskStatus.CANCELLED)
        # A completion accepted just as the task lapsed still counts as done.
        if task.completion is not None:
            return Done(task.completion)
        return Lapsed() if lapse else PatienceEnded()

    async def settle(self, task: Task, status: TaskStatus) -> None:
        del self.tasks[task.task_id]
        # A completion accepted just before an interruption is still recorded as done.
        if task.completion is not None:
            status = TaskStatus.COMPLETED
        await self._rows.close_row(task, status)
        self._settled.add(task.task_id)
        if task.overdue:
            self._rows.overdue_changed()

    async def cancel_tasks(self, which: Callable[[Task], bool]) -> None:
        for task in [task for task in self.tasks.values() if which(task)]:
            await self.settle(task, TaskStatus.CANCELLED)

    def beside(self, track: Coroutine[Any, Any, object]) -> asyncio.Task[None]:
        """Run ``track`` beside the stages until it ends or the workflow closes."""

        async def until_closing() -> None:
            with contextlib.suppress(Closing):
                await track

        running = asyncio.create_task(until_closing())
        self._side_tracks.append(running)
        return running

    async def side_tracks_ended(self) -> None:
        """Once ``closing`` is set: every side track has stopped."""
        for track in self._side_tracks:
            await track

    # ------------------------------------------------------------------ updates

    def task_to_complete(self, task_id: str) -> Task:
        """The open task a completion is for; refused (TaskNotOpen) when there is none."""
        task = self.tasks.get(task_id)
        if task is None or task.completion is not None or self.closing:
            refuse(ErrorType.TASK_NOT_OPEN, "task_id", "the task is not open")
        return task

    def accept(self, request: CompleteTask) -> None:
        """Hand the completion to the waiting task (after :meth:`task_to_complete`)."""
        self.tasks[request.task_id].completion = request.completion

    async def complete(self, request: CompleteTask) -> None:
        """Accept the completion; return once the task is closed and the main loop waits."""
        self.accept(request)
        await workflow.wait_condition(
            lambda: request.task_id in self._settled and (self.idle or self.finished)
        )

    async def deliver(self, token: str, item: Item) -> None:
        """Queue ``item`` for the main loop; return once it is taken in and the loop waits."""
        self._inbox.append((token, item))
        await workflow.wait_condition(
            lambda: token in self._absorbed and (self.idle or self.finished)
        )

    def has_mail(self) -> bool:
        return bool(self._inbox)

    def next_item(self) -> tuple[str, Item]:
        """The oldest item, taken in by the caller itself (the opening event)."""
        token, item = self._inbox.popleft()
        return token, item

    def absorbed(self, token: str) -> None:
        self._absorbed.add(token)

    def schedule_changed(self) -> None:
        """A moment a wait is for may have moved (a new departure deadline): ask again."""
        self._schedule_version += 1

    # ---------------------------------------------------------------- waiting

    async def wait(
        self,
        done: Callable[[], bool],
        until: Callable[[], datetime | None] = lambda: None,
        *,
        absorb: bool = True,
    ) -> bool:
        """Wait until ``done()`` (True) or the moment ``until()`` passes (False).

        The main loop (``absorb``) takes in the inbox while it waits, which may interrupt it;
        ``until`` is asked again whenever the schedule changes (a new departure deadline).
        """
        while True:
            if absorb:
                await self.absorb()
            elif self.closing:
                raise Closing
            if done():
                return True
            target = until()
            now = workflow.now()
            if target is not None and target <= now:
                return False
            self.idle = self.idle or absorb
            try:
                await workflow.wait_condition(
                    partial(self._wakes, done, absorb, self._schedule_version),
                    timeout=None if target is None else target - now,
                )
            except TimeoutError:
                pass
            finally:
                if absorb:
                    self.idle = False

    def _wakes(self, done: Callable[[], bool], absorb: bool, version: int) -> bool:
        return (
            done()
            or (absorb and bool(self._inbox))
            or (not absorb and self.closing)
            or self._schedule_version != version
        )

    async def until_interrupted(self) -> NoReturn:
        while True:
            await self.wait(lambda: False)

    async def absorb(self, *, interrupting: bool = True) -> None:
        """Take in the inbox; ``interrupting``: raise the first interruption it brings."""
        while self._inbox:
            token, item = self._inbox.popleft()
            assert self._take is not None, "this workflow queues nothing"
            try:
                interruption = await self._take(item)
            finally:
                self._absorbed.add(token)
            if interruption is not None and interrupting:
                raise interruption


def refuse(error_type: ErrorType, field: str, reason: str) -> NoReturn:
    """Refuse an update (in its validator: it never enters the history), naming the field."""
    raise ApplicationError(
        f"{field}: {reason}",
        FieldError(field=field, reason=reason).model_dump(),
        type=error_type.value,
        non_retryable=True,
    )
