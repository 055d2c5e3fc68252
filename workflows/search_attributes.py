"""Custom search attributes of a case, for the Temporal UI. None of them carries personal data.

What a case shows is written once (:func:`case_values`): the workflow publishes it whenever it
changes, and the service hands the values a case opens with to the start of its workflow, so
the first stage needs no upsert of its own (each upsert costs the server a history event and a
visibility write).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from schemas.events import age_on
from schemas.local_time import BERLIN

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
_KEYS = {key.name: key for key in ALL}


def departure_moment(deadline: date | None) -> datetime | None:
    """The Ausreisefrist ends at midnight after its last day, local time."""
    if deadline is None:
        return None
    return datetime.combine(deadline + timedelta(days=1), time(0), BERLIN)


def case_values(
    *,
    stage: str,
    town: str,
    people_born: Iterable[date],
    today: date,
    overdue: bool,
    deadline: date | None,
) -> dict[str, Any]:
    """What the UI filters on, by attribute name; None: the attribute is unset."""
    return {
        CASE_STAGE.name: stage,
        CASE_TOWN.name: town,
        CASE_HAS_MINORS.name: any(age_on(born, today) < 18 for born in people_born),
        CASE_OVERDUE.name: overdue,
        CASE_DEPARTURE_DEADLINE.name: departure_moment(deadline),
    }


def as_attributes(values: dict[str, Any]) -> TypedSearchAttributes:
    """``values`` (of :func:`case_values`) for a workflow start; unset ones are left out."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(_KEYS[name], value)
            for name, value in values.items()
            if value is not None
        ]
    )


def published(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """What a workflow started with, as :func:`case_values` names it: one left out at the
    start was unset. A start without any of them (before the service gave them) published
    nothing."""
    given = {pair.key.name: pair.value for pair in attributes if pair.key.name in _KEYS}
    return {name: given.get(name) for name in _KEYS} if given else {}


def changes(wanted: dict[str, Any], published: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """The upsert that takes the UI from ``published`` to ``wanted`` (empty: nothing to do)."""
    return [
        _KEYS[name].value_set(value) if value is not None else _KEYS[name].value_unset()
        for name, value in wanted.items()
        if name not in published or published[name] != value
    ]
