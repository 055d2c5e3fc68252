"""Custom search attributes of a case, for the Temporal UI. None of them carries personal data."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_TOWN = SearchAttributeKey.for_keyword("CaseTown")
CASE_HAS_MINORS = SearchAttributeKey.for_bool("CaseHasMinors")
CASE_DEPARTURE_DEADLINE = SearchAttributeKey.for_datetime("CaseDepartureDeadline")
CASE_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    CASE_STAGE,
    CASE_TOWN,
    CASE_HAS_MINORS,
    CASE_DEPARTURE_DEADLINE,
    CASE_OVERDUE,
)
