"""Intake that refuses nonsense (issue 13, point 16), through the API on real servers.

Dates that cannot be true are a 422 naming the field; towns are found however the back office
spells them and stored as the county does; an event id used again with other content is a 409
naming it; and refusing an event for a closed case is an answer, not an error in the log.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import structlog
from fastapi import FastAPI
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.events import (
    EFFECTIVE_DATE_YEARS_AHEAD,
    OLDEST_AGE_YEARS,
    PARENT_YEARS_BEFORE_CHILD,
    StatusEvent,
    event_digest,
    implausible_dates,
    years_after,
)
from schemas.offers import county_spelling
from service.cases import CaseService
from service.temporal import update_method
from tests.test_api import (
    V1,
    complete,
    conversation,
    event,
    locs,
    new_case_id,
    open_case,
    opening,
    person,
    the_task,
    today,
)
from workflows.case import CaseWorkflow, workflow_id

BORN = date(1990, 4, 1)  # person()'s date of birth


def with_children(body: dict[str, Any], *born: date) -> dict[str, Any]:
    return {**body, "household": {"children": [{"date_of_birth": str(day)} for day in born]}}


def refusal(response: httpx.Response) -> tuple[list[Any], str]:
    """The one field a 422 names, and why; in the shape every 422 has."""
    [error] = response.json()["errors"]
    assert set(error) == {"loc", "msg", "type"} and error["type"] == "value_error"
    return error["loc"], error["msg"]


# ----------------------------------------------------------------- the bounds, alone


def test_the_bounds_are_exact() -> None:
    day = date(2026, 12, 2)
    ahead = years_after(day, EFFECTIVE_DATE_YEARS_AHEAD)

    def fields(**changes: Any) -> list[str]:
        body = {**opening("B-1"), "effective_date": str(day), "departure_deadline": None}
        sample = StatusEvent.model_validate({**body, **changes})
        return [error.field for error in implausible_dates(sample, day)]

    assert fields(effective_date=str(ahead)) == []
    assert fields(effective_date=str(ahead + timedelta(days=1))) == ["effective_date"]
    assert fields(departure_deadline=str(day)) == []  # the same day is possible
    assert fields(departure_deadline=str(day - timedelta(days=1))) == ["departure_deadline"]
    oldest = years_after(day, -OLDEST_AGE_YEARS)
    assert fields(person={**person(), "date_of_birth": str(oldest)}) == []
    too_old = {**person(), "date_of_birth": str(oldest - timedelta(days=1))}
    assert fields(person=too_old) == ["person.date_of_birth"]
    assert fields(person={**person(), "date_of_birth": str(day)}) == []  # born today
    first = years_after(BORN, PARENT_YEARS_BEFORE_CHILD)
    assert fields(**with_children({}, first)) == []
    assert fields(**with_children({}, first - timedelta(days=1), BORN)) == [
        "household.children.0.date_of_birth",
        "household.children.1.date_of_birth",
    ]


def test_extreme_dates_are_refused_not_a_server_error() -> None:
    day = date(2026, 12, 2)
    sample = StatusEvent.model_validate(
        {
            **with_children(opening("B-2"), date.max, date.min),
            "person": {**person(), "date_of_birth": str(date.max)},
            "effective_date": str(date.max),
            "departure_deadline": str(date.min),
        }
    )
    assert [error.field for error in implausible_dates(sample, day)] == [
        "effective_date",
        "departure_deadline",
        "person.date_of_birth",
        "household.children.0.date_of_birth",
    ]  # child 1 (year 1) has no measure: the person's date of birth is refused itself
    late = sample.model_copy(update={"person": None})
    assert "household.children.1.date_of_birth" in [
        error.field for error in implausible_dates(late, day, person_born=date(1, 1, 1))
    ]
    # A date of birth stored before these checks, however odd, is no server error either.
    assert implausible_dates(late, day, person_born=date.max)


def test_years_after_moves_29_february_to_1_march() -> None:
    assert years_after(date(2024, 2, 29), 1) == date(2025, 3, 1)
    assert years_after(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert years_after(date(9999, 1, 1), 12) == date.max
    assert years_after(date(5, 1, 1), -120) == date.min


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("unna", "Unna"),
        ("  UNNA ", "Unna"),
        ("Froendenberg/Ruhr", "Fröndenberg/Ruhr"),
        ("fröndenberg/ruhr", "Fröndenberg/Ruhr"),
        ("Fro\u0308ndenberg/Ruhr", "Fröndenberg/Ruhr"),  # ö sent decomposed (o + U+0308)
        ("Boenen", "Bönen"),
        ("Bonen", "Bönen"),
        ("luenen", "Lünen"),
        ("Dortmund", None),
        ("Unnaa", None),
    ],
)
def test_towns_are_found_however_they_are_spelt(sent: str, stored: str | None) -> None:
    assert county_spelling(sent) == stored


def test_the_digest_is_of_the_content_not_of_its_spelling() -> None:
    body = opening("D-1")
    one = StatusEvent.model_validate(body)
    other_spelling = StatusEvent.model_validate(
        {
            **dict(reversed(list(body.items()))),
            "person": {**person(), "address": {**person()["address"], "town": "unna"}},
            "household": None,  # the default, said explicitly
        }
    )
    assert event_digest(one) == event_digest(other_spelling)
    assert event_digest(one) != event_digest(
        StatusEvent.model_validate({**body, "status": "geduldet"})
    )


# ------------------------------------------------------------------ dates at intake


@pytest.mark.parametrize(
    ("change", "loc", "msg"),
    [
        (
            {"person": {**person(), "date_of_birth": str(today() + timedelta(days=1))}},
            ["body", "person", "date_of_birth"],
            "must not be in the future",
        ),
        (
            {"person": {**person(), "date_of_birth": "1850-01-01"}},
            ["body", "person", "date_of_birth"],
            f"must not be more than {OLDEST_AGE_YEARS} years ago",
        ),
        (
            with_children({}, date(1995, 6, 1)),  # five years after the person
            ["body", "household", "children", 0, "date_of_birth"],
            "must be at least 12 years after person.date_of_birth",
        ),
        (
            with_children({}, today() + timedelta(days=30)),
            ["body", "household", "children", 0, "date_of_birth"],
            "must not be in the future",
        ),
        (
            {"departure_deadline": str(today() - timedelta(days=1))},
            ["body", "departure_deadline"],
            "must not be before effective_date",
        ),
        (
            {
                "effective_date": str(today() + timedelta(days=400)),
                "departure_deadline": str(today() + timedelta(days=430)),
            },
            ["body", "effective_date"],
            "must not be more than 1 year ahead",
        ),
    ],
)
async def test_an_implausible_date_is_refused_naming_the_field(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    change: dict[str, Any],
    loc: list[Any],
    msg: str,
) -> None:
    case_id = new_case_id()
    response = await http.post(f"{V1}/status-events", json={**opening(case_id), **change})
    assert response.status_code == 422, response.text
    assert refusal(response) == (loc, msg)
    assert "1850" not in response.text  # the value is not echoed
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0


async def test_every_implausible_date_is_named_at_once(http: httpx.AsyncClient) -> None:
    body = {
        **with_children(opening(new_case_id()), today() + timedelta(days=1)),
        "effective_date": str(today() + timedelta(days=800)),
    }
    assert locs(await http.post(f"{V1}/status-events", json=body)) == [
        ["body", "effective_date"],
        ["body", "departure_deadline"],
        ["body", "household", "children", 0, "date_of_birth"],
    ]


async def test_a_later_household_is_checked_against_the_person_the_case_has(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    too_early = with_children(event(case_id, 2, status="geduldet"), date(1996, 1, 1))
    response = await http.post(f"{V1}/status-events", json=too_early)
    assert refusal(response) == (
        ["body", "household", "children", 0, "date_of_birth"],
        "must be at least 12 years after person.date_of_birth",
    )
    fine = with_children(event(case_id, 3, status="geduldet"), date(2015, 5, 5))
    assert (await http.post(f"{V1}/status-events", json=fine)).status_code == 202


async def test_a_conversation_before_the_case_was_opened_is_refused(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    response = await complete(http, task_id, conversation(today() - timedelta(days=1)))
    assert response.status_code == 422, response.text
    assert refusal(response) == (["body", "held_on"], "must not be before the case was opened")
    assert (await complete(http, task_id, conversation(today()))).status_code == 200


# ----------------------------------------------------------------------------- towns


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("unna", "Unna"), ("Froendenberg/Ruhr", "Fröndenberg/Ruhr"), (" BÖNEN ", "Bönen")],
)
async def test_a_town_in_any_spelling_is_taken_and_stored_as_the_county_spells_it(
    http: httpx.AsyncClient, pool: asyncpg.Pool, sent: str, stored: str
) -> None:
    case_id = new_case_id()
    response = await http.post(f"{V1}/status-events", json=opening(case_id, town=sent))
    assert response.status_code == 202, response.text
    towns = await pool.fetchrow(
        "SELECT c.town AS case_town, p.town AS person_town FROM cases c "
        "JOIN persons p USING (case_id) WHERE case_id = $1",
        case_id,
    )
    assert towns is not None and dict(towns) == {"case_town": stored, "person_town": stored}
    # The same event with the town spelt otherwise is the same event.
    again = await http.post(f"{V1}/status-events", json=opening(case_id, town=stored))
    assert again.status_code == 202 and again.json()["duplicate"] is True


async def test_lunen_in_any_spelling_is_still_outside_the_jurisdiction(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(f"{V1}/status-events", json=opening(new_case_id(), town="luenen"))
    loc, msg = refusal(response)
    assert loc == ["body", "person", "address", "town"] and msg.startswith("not in the ABH's")


# ------------------------------------------------------------------------- event ids


async def test_the_same_event_id_with_other_content_is_a_conflict_naming_it(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    first = event(case_id, 2, status="geduldet")
    assert (await http.post(f"{V1}/status-events", json=first)).status_code == 202
    again = await http.post(f"{V1}/status-events", json=first)
    assert again.status_code == 202 and again.json()["duplicate"] is True

    other = {**first, "departure_deadline": str(today() + timedelta(days=120))}
    conflict = await http.post(f"{V1}/status-events", json=other)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["type"] == "/problems/event-id-reused"
    assert conflict.json()["detail"] == (
        f"event_id {first['event_id']} was sent before with other content"
    )
    # ... and for another case too (it used to be taken in there, and not recorded).
    elsewhere = {**opening(new_case_id()), "event_id": first["event_id"]}
    assert (await http.post(f"{V1}/status-events", json=elsewhere)).status_code == 409
    case = (await http.get(f"{V1}/cases/{case_id}")).json()
    assert case["departure_deadline"] == first["departure_deadline"]


async def test_the_workflow_refuses_another_event_under_a_seen_id(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    """While an event is not yet in the store, the workflow tells the two apart; the update
    id carries the digest, so Temporal does not answer the second with the first's outcome."""
    case_id = await open_case(http)
    cases: CaseService = app.state.cases
    handle = cases._client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_id))
    update = update_method(CaseWorkflow.status_event)
    sent = StatusEvent.model_validate(opening(case_id))
    repeat = await handle.execute_update(update, sent, id="repeat")
    assert repeat.duplicate is True
    other = sent.model_copy(update={"effective_date": today() - timedelta(days=1)})
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, other, id="other")
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "EventIdReused"


async def test_a_closed_case_knows_its_events_and_their_content(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    closing = event(case_id, 2, status="ausgereist")
    assert (await http.post(f"{V1}/status-events", json=closing)).json()["stage"] == "closed"
    again = await http.post(f"{V1}/status-events", json=closing)
    assert again.json() == {"case_id": case_id, "stage": "closed", "duplicate": True}
    other = await http.post(f"{V1}/status-events", json={**closing, "status": "weggezogen"})
    assert other.status_code == 409
    assert (
        other.json()["detail"]
        == f"event_id {closing['event_id']} was sent before with other content"
    )


# --------------------------------------------------------------------------- the log


async def test_refusing_an_event_for_a_closed_case_logs_no_error(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    case_id = await open_case(http)
    closing = event(case_id, 2, status="ausgereist")
    assert (await http.post(f"{V1}/status-events", json=closing)).status_code == 202
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logged:
        late = await http.post(f"{V1}/status-events", json=event(case_id, 3, status="geduldet"))
    assert late.status_code == 409
    assert [entry for entry in logged if entry["log_level"] in {"error", "critical"}] == []
    assert not [entry for entry in logged if "exc_info" in entry or "exception" in entry]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    [line] = [entry for entry in logged if entry["event"] == "request refused"]
    assert line == {
        "event": "request refused",
        "log_level": "info",
        "refusal": "CaseClosed",
        "status": 409,
        "method": "POST",
        "route": "/status-events",  # as the other lines name routes (api/errors.py)
        "fields": None,
    }


# ----------------------------------------------------------------- how a person left


@pytest.mark.parametrize(
    ("status", "departure", "loc"),
    [
        ("ausreisepflichtig", {"kind": "self_organised"}, ["body", "departure"]),
        ("ausgereist", {"kind": "return_programme"}, ["body", "departure", "programme"]),
        (
            "ausgereist",
            {"kind": "self_organised", "programme": "reag_garp"},
            ["body", "departure", "programme"],
        ),
        (
            "ausgereist",
            {
                "kind": "self_organised",
                "proof": {"kind": "grenzuebertrittsbescheinigung", "crossed_on": "2026-01-10"},
            },
            ["body", "departure", "proof", "place"],
        ),
        (
            "ausgereist",
            {"kind": "self_organised", "proof": {"kind": "other", "crossed_on": "2026-01-10"}},
            ["body", "departure", "proof", "description"],
        ),
    ],
)
async def test_a_departure_that_does_not_add_up_is_refused(
    http: httpx.AsyncClient, status: str, departure: dict[str, Any], loc: list[Any]
) -> None:
    case_id = await open_case(http)
    body = event(case_id, 2, status=status, departure=departure, departure_deadline=None)
    response = await http.post(f"{V1}/status-events", json=body)
    assert locs(response) == [loc]


async def test_a_departure_proved_in_the_future_is_refused(http: httpx.AsyncClient) -> None:
    case_id = await open_case(http)
    proof = {"kind": "other", "crossed_on": str(today() + timedelta(days=3)), "description": "x"}
    body = event(
        case_id,
        2,
        status="ausgereist",
        departure={"kind": "self_organised", "proof": proof},
        departure_deadline=None,
    )
    response = await http.post(f"{V1}/status-events", json=body)
    assert refusal(response) == (
        ["body", "departure", "proof", "crossed_on"],
        "must not be in the future",
    )
    fine = {
        **body,
        "departure": {"kind": "self_organised", "proof": {**proof, "crossed_on": str(today())}},
    }
    response = await http.post(f"{V1}/status-events", json=fine)
    assert response.status_code == 202, response.text
    assert response.json()["stage"] == "closed"
