"""Business errors, shared by the workflow (which raises them) and the API (which maps them).

ApplicationError(type=...)
├── InvalidInput      -> HTTP 422, details: [FieldError, ...]
├── TaskNotOpen       -> HTTP 409 (completed, cancelled or not this case's)
├── CaseClosed        -> HTTP 409
├── CaseNotOpen       -> HTTP 422 (an event that cannot open a case)
├── NoConsent         -> HTTP 409 (withdrawal without a signed consent)
├── ArrivalUnderWay   -> HTTP 409 (another arrival event while one is being handled)
├── EventIdReused     -> HTTP 409 (an event id the case has seen, with other content)
├── ConsentWithdrawn  -> non-retryable in the handover activity: nothing is passed on
└── DataError         -> non-retryable in any activity whose data the database (or the
                         renderer) refuses; the workflow turns it into a step_failed task
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class ErrorType(StrEnum):
    INVALID_INPUT = "InvalidInput"
    TASK_NOT_OPEN = "TaskNotOpen"
    CASE_CLOSED = "CaseClosed"
    CASE_NOT_OPEN = "CaseNotOpen"
    NO_CONSENT = "NoConsent"
    NO_ROUTE = "NoRoute"
    CONSENT_WITHDRAWN = "ConsentWithdrawn"
    ARRIVAL_UNDER_WAY = "ArrivalUnderWay"
    EVENT_ID_REUSED = "EventIdReused"
    DATA_ERROR = "DataError"


class FieldError(BaseModel):
    """One reason an input was refused, naming the field a person has to correct."""

    field: str
    reason: str
