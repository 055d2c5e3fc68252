"""How a workflow runs one step (an activity): the retry rule, written once for every workflow.

Refused data fails at once (``activities/failures.py`` turns it into a non-retryable
``DataError``); anything else is retried with a growing pause, at most a minute apart, until
``retry_limit`` has passed since the step was scheduled. What a step given up means is the
calling workflow's decision (a task for the ABH, a failed arrival, a skipped erasure).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.errors import ErrorType
    from workflows.activity_refs import ActivityRef

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel | None)

MAX_PAUSE = timedelta(minutes=1)


async def run_step(
    step: ActivityRef[In, Out],
    arg: In,
    *,
    attempt_timeout: timedelta,
    retry_limit: timedelta,
    final: Sequence[ErrorType] = (),
    max_pause: timedelta = MAX_PAUSE,
) -> Out:
    """The activity ``step`` on ``arg``; ``final``: further error types not to retry."""
    result = await workflow.execute_activity(
        step.name.value,
        arg,
        result_type=step.result_type,
        start_to_close_timeout=attempt_timeout,
        schedule_to_close_timeout=retry_limit,
        retry_policy=RetryPolicy(
            maximum_interval=max_pause,
            non_retryable_error_types=[ErrorType.DATA_ERROR.value, *(t.value for t in final)],
        ),
    )
    # The SDK converted the result into step.result_type (nothing for None).
    return cast(Out, result)


def data_refused(error: ActivityError) -> bool:
    """Did the step fail because its data was refused (not retried, never will succeed)?"""
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == ErrorType.DATA_ERROR


def failure_kind(error: ActivityError) -> str:
    """Why a step failed, safe to log and show: an error type, never a message."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return type(cause).__name__ if cause is not None else type(error).__name__
