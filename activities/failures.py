"""What a failed activity means for its workflow: the data was refused, or try again later.

Every activity runs through :class:`FailureClassifier` (registered on the worker), so the rule
is written once instead of in every adapter:

- The database (or a model) refused the *data*: an integrity or check violation, a value it
  cannot hold (``22xxx``: a NUL character, a number out of range, bad encoding), a value over a
  limit (``54xxx``), a validation error, a Unicode error. Retrying the same input gives the same
  answer, so it fails at once, non-retryably, as ``ApplicationError(type="DataError")``. The
  workflow turns that into a task a person sees (``workflows/case.py``, ``_step_failed``).
- An ``ApplicationError`` raised by the activity itself is already classified and passes.
- Anything else (the database unreachable, a timeout, a crash of the renderer) is transient
  as far as we can tell: it is retried by the workflow's retry policy, which bounds it
  (``ProcessTimings.step_retry_limit``).

The failure's message names the activity and the kind of refusal (exception class and
SQLSTATE), never the refused value: PostgreSQL's messages and details may quote it, and it is
personal data. The original exception is dropped from the chain for the same reason.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pydantic
from asyncpg.exceptions import _base as asyncpg_base
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from schemas.errors import ErrorType

# Refusals of the data itself: the same input is refused every time.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,  # SQLSTATE class 22: NUL, out of range, invalid text representation
    asyncpg.IntegrityConstraintViolationError,  # class 23: unique, foreign key, check, not null
    asyncpg.ProgramLimitExceededError,  # class 54: a value too large for an index, say
    asyncpg_base.DataError,  # asyncpg could not encode an argument (int out of int4, say)
    UnicodeError,  # a lone surrogate cannot be written as UTF-8
    pydantic.ValidationError,  # a stored row or a result that does not fit its model
)


def refusal_kind(exc: BaseException) -> str:
    """The kind of refusal, safe to log: the exception class and SQLSTATE, never the value."""
    sqlstate = getattr(exc, "sqlstate", None)
    return type(exc).__name__ + (f", SQLSTATE {sqlstate}" if sqlstate else "")


def data_error(exc: BaseException) -> ApplicationError | None:
    """The non-retryable ``DataError`` for ``exc``, or None when retrying may help."""
    if not isinstance(exc, DATA_ERRORS):
        return None
    step = activity.info().activity_type if activity.in_activity() else "activity"
    return ApplicationError(
        f"{step}: the data was refused ({refusal_kind(exc)})",
        type=ErrorType.DATA_ERROR.value,
        non_retryable=True,
    )


class _ClassifyingInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Exception as exc:
            refused = data_error(exc)
            if refused is None:
                raise
            info = activity.info()
            # Only allow-listed extras reach the log (config/logging.py): say it in the text.
            activity.logger.error(
                "activity refused its data (%s); failing without retry", refusal_kind(exc)
            )
            activity.metric_meter().create_counter(
                "case_activity_data_errors",
                description="Activities that failed for good because their data was refused.",
            ).add(1, {"activity_type": info.activity_type})
            raise refused from None


class FailureClassifier(Interceptor):
    """Worker interceptor: every activity's failures are classified by :func:`data_error`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ClassifyingInbound(next)
