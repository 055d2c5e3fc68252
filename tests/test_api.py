"""The JSON API against a real Temporal dev server, a real worker and real PostgreSQL.

Each test drives the app through HTTP as the back office, the ABH or the KI would, and checks
what they would notice: status codes, the field named in a refusal, the case's stage, the
tasks in the inboxes, and the rows the disclosure register keeps.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from itertools import combinations
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.auth import SESSION_COOKIE
from config.settings import Settings
from runtime.app import create_app
from runtime.worker import build_worker
from schemas.accounts import Role
from schemas.local_time import BERLIN
from service.accounts import AccountService
from tests.casekit import HELD
from web import labels
from workflows.case import workflow_id

V1 = "/api/v1"


def today() -> date:
    """The workflow judges dates in Europe/Berlin; so do the tests."""
    return datetime.now(BERLIN).date()


def person(town: str = "Unna") -> dict[str, Any]:
    return {
        "given_name": "Testvorname",
        "family_name": "Testnachname",
        "date_of_birth": "1990-04-01",
        "nationality": "IRQ",
        "language": "ar",
        "phone": "+49 2303 123456",
        "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": town},
    }


def new_case_id() -> str:
    return f"API-{uuid.uuid4().hex[:12]}"


def event(
    case_id: str, n: int = 1, *, status: str = "ausreisepflichtig", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"{case_id}-e{n}",
        "case_id": case_id,
        "status": status,
        "effective_date": today().isoformat(),
        "departure_deadline": (today() + timedelta(days=90)).isoformat(),
    }
    body.update(fields)
    return body


def opening(case_id: str, n: int = 1, *, town: str = "Unna") -> dict[str, Any]:
    return event(case_id, n, person=person(town))


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["errors"]]


@asynccontextmanager
async def serving(env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running, and a worker on a fresh task queue beside it."""
    task_queue = f"api-{uuid.uuid4().hex}"
    settings = Settings().model_copy(update={"task_queue": task_queue})
    app = create_app(settings, client=env.client, pool=pool)
    async with (
        build_worker(env.client, pool, settings, task_queue=task_queue),
        app.router.lifespan_context(app),
    ):
        yield app


PASSWORD = "ein langes Testpasswort"
ORIGIN = "http://test"


def http_client(
    app: FastAPI, *, session: str | None = None, token: str | None = None
) -> httpx.AsyncClient:
    """A client of the app, logged in with ``session`` and/or carrying an API ``token``.

    Like a browser on the site itself it names its origin, so the same-origin check passes.
    """
    headers = {"origin": ORIGIN}
    if session is not None:
        headers["cookie"] = f"{SESSION_COOKIE}={session}"
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    # ASGITransport does not run the lifespan; ``serving`` does.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, timeout=60, headers=headers
    )


def account_service(app: FastAPI) -> AccountService:
    service: AccountService = app.state.accounts
    return service


async def login_session(app: FastAPI, role: Role | str) -> str:
    """A new account of ``role`` and a session of it (the token of the session cookie)."""
    service = account_service(app)
    account = await service.create_account(
        f"{role}-{uuid.uuid4().hex[:8]}", f"Test {role}", Role(role), PASSWORD
    )
    return await service.open_session(account)


@asynccontextmanager
async def logged_in(
    app: FastAPI, role: Role | str, *, token: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    session = await login_session(app, role)
    api_token = (
        await account_service(app).create_api_token(f"test-{uuid.uuid4().hex[:8]}")
        if token
        else None
    )
    async with http_client(app, session=session, token=api_token) as client:
        yield client


async def open_case(http: httpx.AsyncClient, *, town: str = "Unna") -> str:
    case_id = new_case_id()
    response = await http.post(f"{V1}/status-events", json=opening(case_id, town=town))
    assert response.status_code == 202, response.text
    return case_id


async def the_task(http: httpx.AsyncClient, case_id: str, queue: str, kind: str) -> str:
    response = await http.get(f"{V1}/tasks", params={"queue": queue, "case_id": case_id})
    assert response.status_code == 200, response.text
    tasks = response.json()
    assert [task["kind"] for task in tasks] == [kind]
    task_id: str = tasks[0]["task_id"]
    return task_id


def conversation(held_on: date | None = None) -> dict[str, Any]:
    """A conversation in a case opened by :func:`open_case` (its departure deadline ahead)."""
    return {
        "kind": "information_conversation",
        "held_on": (held_on or today()).isoformat(),
        "routes_discussed": ["§25b AufenthG"],
        "perspective": "none_evident",
        **HELD,
    }


async def complete(http: httpx.AsyncClient, task_id: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{V1}/tasks/{task_id}/complete", json=body)


async def partner_in(http: httpx.AsyncClient, town: str) -> int:
    response = await http.get(f"{V1}/partners", params={"town": town})
    assert response.status_code == 200, response.text
    partners = response.json()
    assert partners and all(partner["town"] == town for partner in partners)
    partner_id: int = partners[0]["partner_id"]
    return partner_id


async def to_follow_up(http: httpx.AsyncClient, ki: httpx.AsyncClient, town: str = "Kamen") -> str:
    """Conversation → consent → KI contact, each answered with the next stage."""
    case_id = await open_case(http, town=town)
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        ("abh", "information_conversation", conversation(), "referral_offer"),
        (
            "abh",
            "referral_consent",
            {"kind": "referral_consent", "interested": True, "consent_signed_on": str(today())},
            "ki_referral",
        ),
    ]
    for queue, kind, body, next_stage in steps:
        response = await complete(http, await the_task(http, case_id, queue, kind), body)
        assert response.status_code == 200, response.text
        assert response.json()["stage"] == next_stage
    partner_id = await partner_in(http, town)
    task_id = await the_task(ki, case_id, "ki", "ki_contact")
    response = await complete(
        ki,
        task_id,
        {"kind": "ki_contact", "partner_id": partner_id, "contacted_on": str(today())},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "task_id": task_id,
        "case_id": case_id,
        "stage": "follow_up",
        "arrival_reference": None,  # set instead of case_id for an arrival's task
    }
    return case_id


# ---------------------------------------------------------------------- intake


async def test_a_new_case_opens_and_the_same_event_again_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    case_id = new_case_id()
    first = await http.post(f"{V1}/status-events", json=opening(case_id))
    assert first.status_code == 202, first.text
    assert first.json() == {
        "case_id": case_id,
        "stage": "information_conversation",
        "duplicate": False,
    }
    case = (await http.get(f"{V1}/cases/{case_id}")).json()
    assert case["stage"] == "information_conversation"
    assert [task["kind"] for task in case["open_tasks"]] == ["information_conversation"]

    again = await http.post(f"{V1}/status-events", json=opening(case_id))
    assert again.status_code == 202
    assert again.json() == {
        "case_id": case_id,
        "stage": "information_conversation",
        "duplicate": True,
    }
    assert (await http.get(f"{V1}/cases/{case_id}")).json()["timeline"] == case["timeline"]


async def test_the_temporal_ui_shows_a_new_case_with_its_stage_and_town_from_its_start(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    case_id = new_case_id()
    event = opening(case_id, town="Kamen")
    event["household"] = {"children": [{"date_of_birth": "2019-05-01"}]}
    event["departure_deadline"] = "2031-03-31"
    assert (await http.post(f"{V1}/status-events", json=event)).status_code == 202
    handle = dev_env.client.get_workflow_handle(workflow_id(case_id))
    shown = {
        pair.key.name: pair.value
        for pair in (await handle.describe()).typed_search_attributes
        if pair.key.name.startswith("Case")
    }
    assert shown == {
        "CaseStage": "information_conversation",
        "CaseTown": "Kamen",
        "CaseHasMinors": True,
        "CaseOverdue": False,
        "CaseDepartureDeadline": datetime(2031, 4, 1, tzinfo=BERLIN),
    }
    # The start carried them: entering the first stage needed no upsert of its own.
    await no_upsert_in_history(handle)


async def test_an_unaccompanied_minor_is_a_case_with_minors_from_its_start(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    case_id = new_case_id()
    event = opening(case_id)
    sixteen = today().replace(year=today().year - 16, day=1)
    event["person"]["date_of_birth"] = sixteen.isoformat()
    event["household"] = {"children": []}
    assert (await http.post(f"{V1}/status-events", json=event)).status_code == 202
    handle = dev_env.client.get_workflow_handle(workflow_id(case_id))
    shown = {
        pair.key.name: pair.value for pair in (await handle.describe()).typed_search_attributes
    }
    assert shown["CaseHasMinors"] is True
    await no_upsert_in_history(handle)


async def test_a_case_without_a_deadline_shows_none_and_needs_no_upsert_either(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    case_id = new_case_id()
    event = opening(case_id)
    event.pop("departure_deadline", None)
    assert (await http.post(f"{V1}/status-events", json=event)).status_code == 202
    handle = dev_env.client.get_workflow_handle(workflow_id(case_id))
    shown = {pair.key.name for pair in (await handle.describe()).typed_search_attributes}
    assert {"CaseStage", "CaseTown"} <= shown and "CaseDepartureDeadline" not in shown
    await no_upsert_in_history(handle)


async def test_a_new_case_has_the_workflows_changes_from_its_start(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    """Its documents are handed out (a change behind a patch id) without the patch marker and
    the TemporalChangeVersion upsert that asking ``workflow.patched`` would record."""
    case_id = await to_follow_up(http, ki)
    kinds = [doc["kind"] for doc in (await http.get(f"{V1}/cases/{case_id}/documents")).json()]
    assert sorted(kinds) == ["ausreiseinformation", "einwilligung", "gespraechsprotokoll"]
    history = await dev_env.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    assert not [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    upserted = [name for attributes in upserts for name in attributes.indexed_fields]
    assert upserted == ["CaseStage", "CaseStage", "CaseStage"]  # referral offer, KI, follow-up


async def no_upsert_in_history(handle: WorkflowHandle[Any, Any]) -> None:
    history = await handle.fetch_history()
    assert not [
        e
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]


async def test_a_burst_of_events_for_a_new_case_opens_one_case_with_all_events(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = new_case_id()
    responses = await asyncio.gather(
        *(http.post(f"{V1}/status-events", json=opening(case_id, n)) for n in range(20))
    )
    assert [response.status_code for response in responses] == [202] * 20
    assert not any(response.json()["duplicate"] for response in responses)
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 1
    assert (
        await pool.fetchval("SELECT count(*) FROM status_events WHERE case_id = $1", case_id) == 20
    )
    opened = await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'opened'", case_id
    )
    assert opened == 1


async def test_a_new_case_without_a_person_is_refused_and_nothing_starts(
    http: httpx.AsyncClient, pool: asyncpg.Pool, dev_env: WorkflowEnvironment
) -> None:
    case_id = new_case_id()
    response = await http.post(f"{V1}/status-events", json=event(case_id))
    assert locs(response) == [["body", "person"]]
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0
    with pytest.raises(RPCError) as missing:
        await dev_env.client.get_workflow_handle(workflow_id(case_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_a_town_outside_the_jurisdiction_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{V1}/status-events", json=opening(new_case_id(), town="Lünen"))
    assert locs(response) == [["body", "person", "address", "town"]]
    assert "Lünen" not in response.json()["errors"][0]["msg"]


async def test_a_status_that_cannot_open_a_case_is_refused(http: httpx.AsyncClient) -> None:
    case_id = new_case_id()
    response = await http.post(
        f"{V1}/status-events", json=event(case_id, status="aufenthaltserlaubnis", person=person())
    )
    assert locs(response) == [["body", "status"]]
    assert (await http.get(f"{V1}/cases/{case_id}")).status_code == 404


def _with_person(**changes: Any) -> dict[str, Any]:
    return {**person(), **changes}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"person": _with_person(nationality="Irak")}, ["body", "person", "nationality"]),
        ({"status": "abgeschoben"}, ["body", "status"]),
        ({"effective_date": "2026-02-30"}, ["body", "effective_date"]),
        ({"effective_date": None}, ["body", "effective_date"]),
        ({"case_id": "Max Mustermann"}, ["body", "case_id"]),
        ({"favourite_colour": "blue"}, ["body", "favourite_colour"]),
        (
            {"household": {"children": [{"date_of_birth": "someday"}]}},
            ["body", "household", "children", 0, "date_of_birth"],
        ),
    ],
)
async def test_invalid_events_name_the_field_and_never_echo_it(
    http: httpx.AsyncClient, change: dict[str, Any], loc: list[Any]
) -> None:
    body = {**opening(new_case_id()), **change}
    if body.get("effective_date") is None:
        del body["effective_date"]
    response = await http.post(f"{V1}/status-events", json=body)
    assert locs(response) == [loc]
    assert set(response.json()["errors"][0]) == {"loc", "msg", "type"}
    for value in ("Irak", "Mustermann", "someday", "blue"):
        assert value not in response.text


async def test_malformed_json_is_refused_with_a_422(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{V1}/status-events",
        content=b'{"event_id": "x", "case_id": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"][0] == "body" and error["type"] == "json_invalid"


async def test_an_unknown_case_is_404_and_a_bad_case_id_422(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{V1}/cases/{new_case_id()}")
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown case"
    assert locs(await http.get(f"{V1}/cases/not%20an%20id")) == [["path", "case_id"]]


async def test_an_event_for_a_closed_case_is_refused_but_its_own_event_is_a_duplicate(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    closing = event(case_id, 2, status="ausgereist")
    closed = await http.post(f"{V1}/status-events", json=closing)
    assert closed.status_code == 202, closed.text
    assert closed.json()["stage"] == "closed"

    later = await http.post(f"{V1}/status-events", json=event(case_id, 3, status="geduldet"))
    assert later.status_code == 409
    assert later.json()["detail"] == "the case is closed"
    assert later.json()["type"] == "/problems/case-closed"

    again = await http.post(f"{V1}/status-events", json=closing)
    assert again.status_code == 202
    assert again.json() == {"case_id": case_id, "stage": "closed", "duplicate": True}


async def test_an_erased_case_does_not_come_back(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    await http.post(f"{V1}/status-events", json=event(case_id, 2, status="weggezogen"))
    await pool.execute("UPDATE cases SET erased_at = now() WHERE case_id = $1", case_id)
    back = await http.post(f"{V1}/status-events", json=opening(case_id, 3))
    assert back.status_code == 409
    assert back.json()["detail"] == "the case is closed and erased; open it under a new case id"


async def test_a_new_obligation_brings_a_closed_case_back_with_its_history(
    http: httpx.AsyncClient, pool: asyncpg.Pool, dev_env: WorkflowEnvironment
) -> None:
    case_id = await open_case(http)
    moved = await http.post(f"{V1}/status-events", json=event(case_id, 2, status="weggezogen"))
    assert moved.json()["stage"] == "closed"
    before = await pool.fetch(
        "SELECT seq, kind FROM timeline WHERE case_id = $1 ORDER BY seq", case_id
    )
    assert await pool.fetchval("SELECT erase_after FROM cases WHERE case_id = $1", case_id)

    back = await http.post(f"{V1}/status-events", json=opening(case_id, 3))
    assert back.status_code == 202, back.text
    assert back.json() == {
        "case_id": case_id,
        "stage": "information_conversation",
        "duplicate": False,
    }
    row = await pool.fetchrow(
        "SELECT stage, outcome, closed_at, erase_after FROM cases WHERE case_id = $1", case_id
    )
    assert dict(row) == {  # type: ignore[arg-type]
        "stage": "information_conversation",
        "outcome": None,
        "closed_at": None,
        "erase_after": None,  # the retention clock starts again when it closes again
    }
    after = await pool.fetch(
        "SELECT seq, kind, detail FROM timeline WHERE case_id = $1 ORDER BY seq", case_id
    )
    # The history of the first run is kept; the second goes on after it.
    assert [(r["seq"], r["kind"]) for r in after[: len(before)]] == [
        (r["seq"], r["kind"]) for r in before
    ]
    assert after[len(before)]["seq"] == before[-1]["seq"] + 1
    assert after[len(before)]["detail"] == "Fall wieder eröffnet: ausreisepflichtig"
    await the_task(http, case_id, "abh", "information_conversation")
    runs = [
        w async for w in dev_env.client.list_workflows(f"WorkflowId = '{workflow_id(case_id)}'")
    ]
    assert len(runs) == 2
    # An event of the first run sent again is still its duplicate.
    again = await http.post(f"{V1}/status-events", json=event(case_id, 2, status="weggezogen"))
    assert again.json()["duplicate"] is True


# ----------------------------------------------------------------------- tasks


async def test_the_referral_path_through_the_api(
    http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await to_follow_up(http, ki)
    case = (await http.get(f"{V1}/cases/{case_id}")).json()
    assert case["stage"] == "follow_up"
    assert case["residence_status"] == "ausreisepflichtig"
    kinds = [entry["kind"] for entry in case["timeline"]]
    assert kinds.count("disclosure") == 2  # to the KI, then to the partner


async def test_only_routes_in_force_on_the_day_can_have_been_explained(
    http: httpx.AsyncClient,
) -> None:
    """§104c (Chancen-Aufenthaltsrecht) is no longer granted since 31 Dec 2025: a conversation
    held after that cannot have offered it (the route rules are dated data)."""
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    body = {**conversation(), "routes_discussed": ["§25b AufenthG", "§104c AufenthG"]}
    response = await complete(http, task_id, body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "routes_discussed"]
    assert error["msg"] == f"§104c AufenthG is not in force on {today().isoformat()}"
    assert labels.reason("routes_discussed", error["msg"]).startswith("§104c AufenthG galt am ")
    assert (await complete(http, task_id, conversation())).status_code == 200


async def test_completing_a_task_twice_is_a_conflict(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    first = await complete(http, task_id, conversation())
    assert first.status_code == 200
    other = conversation(held_on=today() - timedelta(days=1))
    again = await complete(http, task_id, other)
    assert again.status_code == 409
    assert again.json()["detail"] == "the task is already completed"
    assert again.json()["type"] == "/problems/conflict"
    # The very same completion again is a repeat (after a 503, a second click): it answers
    # as the first did, and the case moves on once.
    repeated = await complete(http, task_id, conversation())
    assert repeated.status_code == 200, repeated.text
    assert repeated.json() == first.json()
    done = await pool.fetchval(
        "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'task_completed'", case_id
    )
    assert done == 1


async def test_twenty_parallel_completions_of_one_task_complete_it_once(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Twenty different completions at once: one wins, nineteen are conflicts. Twenty copies
    of one completion at once: one update, answered twenty times alike."""
    # Twenty different sets of routes explained (a conversation cannot predate its case).
    in_force = [version.route.value for version in Settings().residence_routes().on(today())]
    subsets = [list(c) for n in range(1, len(in_force) + 1) for c in combinations(in_force, n)]
    assert len(subsets) >= 20
    for copies in (False, True):
        case_id = await open_case(http)
        task_id = await the_task(http, case_id, "abh", "information_conversation")
        bodies = [
            {**conversation(), "routes_discussed": subsets[0 if copies else n]} for n in range(20)
        ]
        answers = await asyncio.gather(*(complete(http, task_id, body) for body in bodies))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == ([200] * 20 if copies else [200] + [409] * 19)
        done = await pool.fetchval(
            "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'task_completed'",
            case_id,
        )
        assert done == 1


async def test_an_unknown_task_is_404_and_a_bad_task_id_422(http: httpx.AsyncClient) -> None:
    response = await complete(http, str(uuid.uuid4()), conversation())
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown task"
    assert locs(await complete(http, "no-such-task", conversation())) == [["path", "task_id"]]


async def test_a_completion_of_the_wrong_kind_names_kind(http: httpx.AsyncClient) -> None:
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    wrong = {"kind": "follow_up", "reached": True}
    assert locs(await complete(http, task_id, wrong)) == [["body", "kind"]]
    unknown = {"kind": "coffee_break"}
    assert locs(await complete(http, task_id, unknown)) == [["body", "kind"]]
    assert locs(await complete(http, task_id, {})) == [["body", "kind"]]
    # The task is still open and can be completed.
    assert (await complete(http, task_id, conversation())).status_code == 200


async def test_a_conversation_in_the_future_is_refused(http: httpx.AsyncClient) -> None:
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    response = await complete(http, task_id, conversation(today() + timedelta(days=3)))
    assert locs(response) == [["body", "held_on"]]
    assert response.json()["errors"][0]["msg"] == "must not be in the future"


async def test_a_conversation_record_says_how_it_was_held(
    http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Language, interpreter, who took part, how the copy and the letter reached the person:
    asked of every new record, each refusal naming its field."""
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")

    def without(*names: str) -> dict[str, Any]:
        return {k: v for k, v in conversation().items() if k not in names}

    # Required by the workflow (the model has defaults, for records made before it was asked).
    response = await complete(http, task_id, without("language"))
    assert locs(response) == [["body", "language"]]
    assert response.json()["errors"][0]["msg"] == "required"
    everything = await complete(http, task_id, without(*HELD))
    assert locs(everything) == [
        ["body", n] for n in ("language", "participants", "record_copy")
    ] + [["body", "departure_letter"]]
    # The case has a departure deadline ahead: the letter comes with the record.
    letter = await complete(http, task_id, without("departure_letter"))
    assert locs(letter) == [["body", "departure_letter"]]
    assert letter.json()["errors"][0]["msg"].startswith("required: a departure letter is issued")

    # Cross-field rules of the model, each at its field.
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "interpreter",
            "must be in the conversation language",
            {"interpreter": {"language": "fa", "mode": "by_phone"}},
        ),
        (
            "interpreter",
            "no interpreter for a conversation in German",
            {"language": "de", "interpreter": {"language": "de", "mode": "present"}},
        ),
        (
            "participants",
            "the conversation is held with the person",
            {"participants": ["representative"]},
        ),
        (
            "participants",
            "each participant once",
            {"participants": ["person", "supporter", "supporter"]},
        ),
    ]
    for field, reason, change in cases:
        [error] = (await complete(http, task_id, {**conversation(), **change})).json()["errors"]
        assert error["loc"] == ["body", field], (reason, error)
        assert error["msg"] == f"Value error, {reason}"
        assert not labels.reason(field, error["msg"]).startswith(("Value", "must", "no ", "the "))
    # Roles only: a name is no participant.
    unknown = {**conversation(), "participants": ["person", "Frau Müller"]}
    assert locs(await complete(http, task_id, unknown)) == [["body", "participants", 1]]
    assert locs(await complete(http, task_id, {**conversation(), "language": "Arabisch"})) == [
        ["body", "language"]
    ]

    # German, without an interpreter, a supporter beside the person; the letter refused.
    held = {
        **conversation(),
        "language": "de",
        "interpreter": None,
        "participants": ["supporter", "person"],
        "record_copy": "handed_over",
        "departure_letter": "refused",
    }
    assert (await complete(http, task_id, held)).status_code == 200
    stored = await pool.fetchval("SELECT completion FROM tasks WHERE task_id = $1", task_id)
    assert {k: stored[k] for k in HELD} == {k: held[k] for k in HELD}


async def test_without_a_departure_deadline_ahead_no_letter_is_recorded(
    http: httpx.AsyncClient,
) -> None:
    case_id = new_case_id()
    opened = {**opening(case_id), "status": "geduldet"}
    opened.pop("departure_deadline")
    assert (await http.post(f"{V1}/status-events", json=opened)).status_code == 202
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    response = await complete(http, task_id, conversation())
    assert locs(response) == [["body", "departure_letter"]]
    assert response.json()["errors"][0]["msg"].startswith("only when a departure letter")
    no_letter = {**conversation(), "departure_letter": None}
    assert (await complete(http, task_id, no_letter)).status_code == 200


async def test_a_route_not_discussed_is_refused_by_the_model(http: httpx.AsyncClient) -> None:
    case_id = await open_case(http)
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    body = {
        **conversation(),
        "perspective": "route_possible",
        "route_pursued": "§60d AufenthG",
    }
    assert locs(await complete(http, task_id, body)) == [["body", "route_pursued"]]


async def test_the_ki_chooses_a_partner_who_speaks_the_persons_language(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http, town="Kamen")  # the person speaks ar
    german_only = await pool.fetchval(
        "INSERT INTO partners (name, kind, town, contact, languages)"
        " VALUES ('Nur Deutsch Kamen', 'ehrenamt', 'Kamen', 'x', '{de}') RETURNING partner_id"
    )
    for kind, body in [
        ("information_conversation", conversation()),
        (
            "referral_consent",
            {"kind": "referral_consent", "interested": True, "consent_signed_on": str(today())},
        ),
    ]:
        response = await complete(http, await the_task(http, case_id, "abh", kind), body)
        assert response.status_code == 200, response.text
    task_id = await the_task(ki, case_id, "ki", "ki_contact")
    contact = {"kind": "ki_contact", "contacted_on": str(today())}
    response = await complete(ki, task_id, {**contact, "partner_id": german_only})
    assert locs(response) == [["body", "partner_id"]]
    assert "DRK Migrationsdienst Kamen" in response.json()["errors"][0]["msg"]
    no_partner = await complete(ki, task_id, {**contact, "result": "declined", "partner_id": 1})
    assert locs(no_partner) == [["body", "partner_id"]]  # declined: nobody to pass it to
    speaking = await partner_in(ki, "Kamen")
    response = await complete(ki, task_id, {**contact, "partner_id": speaking})
    assert response.status_code == 200, response.text
    await pool.execute("DELETE FROM partners WHERE partner_id = $1", german_only)


async def test_a_partner_from_another_town_is_refused(
    http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await open_case(http, town="Selm")
    for kind, body in [
        ("information_conversation", conversation()),
        (
            "referral_consent",
            {"kind": "referral_consent", "interested": True, "consent_signed_on": str(today())},
        ),
    ]:
        response = await complete(http, await the_task(http, case_id, "abh", kind), body)
        assert response.status_code == 200, response.text
    task_id = await the_task(ki, case_id, "ki", "ki_contact")
    elsewhere = await partner_in(ki, "Werne")
    response = await complete(
        ki, task_id, {"kind": "ki_contact", "partner_id": elsewhere, "contacted_on": str(today())}
    )
    assert locs(response) == [["body", "partner_id"]]


# --------------------------------------------------------------- at any time


async def test_withdrawing_a_consent_that_was_never_given_is_a_conflict(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    response = await http.post(
        f"{V1}/cases/{case_id}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert response.status_code == 409
    assert isinstance(response.json()["detail"], str)


async def test_withdrawing_consent_asks_every_recipient_to_erase(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await to_follow_up(http, ki)
    response = await http.post(
        f"{V1}/cases/{case_id}/consent-withdrawal",
        json={"withdrawn_on": str(today()), "received_by": "Sachbearbeitung ABH"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["case_id"] == case_id
    disclosed = await pool.fetch(
        "SELECT disclosure_id FROM disclosures WHERE case_id = $1 ORDER BY 1", case_id
    )
    erasures = await pool.fetch(
        "SELECT disclosure_id FROM erasure_requests WHERE case_id = $1 ORDER BY 1", case_id
    )
    assert len(disclosed) == 2
    assert erasures == disclosed
    again = await http.post(
        f"{V1}/cases/{case_id}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert again.status_code == 409


async def test_the_abh_records_a_failed_route_and_the_referral_offer_follows(
    http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await open_case(http)
    failure = {"failed_on": str(today()), "reason": "Antrag nach §60d abgelehnt"}
    url = f"{V1}/cases/{case_id}/route-failure"
    response = await http.post(url, json=failure)
    assert response.status_code == 409, response.text  # no route pursued yet
    route = {
        "kind": "information_conversation",
        "held_on": str(today()),
        "routes_discussed": ["§60d AufenthG"],
        "perspective": "route_possible",
        "route_pursued": "§60d AufenthG",
        **HELD,
    }
    task_id = await the_task(http, case_id, "abh", "information_conversation")
    assert (await complete(http, task_id, route)).json()["stage"] == "route_pursued"
    assert (await ki.post(url, json=failure)).status_code == 403  # the ABH's to record
    tomorrow = {**failure, "failed_on": str(today() + timedelta(days=1))}
    assert locs(await http.post(url, json=tomorrow)) == [["body", "failed_on"]]
    assert locs(await http.post(url, json={"failed_on": str(today())})) == [["body", "reason"]]
    response = await http.post(url, json=failure)
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "referral_offer"
    await the_task(http, case_id, "abh", "referral_consent")
    assert (
        await http.post(f"{V1}/cases/{new_case_id()}/route-failure", json=failure)
    ).status_code == 404


async def test_the_abh_extends_the_departure_deadline(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await to_follow_up(http, ki)
    url = f"{V1}/cases/{case_id}/departure-deadline"
    later = today() + timedelta(days=200)
    extension = {"new_deadline": str(later), "reason": "Reisepass bei der Botschaft beantragt"}
    assert (await ki.post(url, json=extension)).status_code == 403
    assert locs(await http.post(url, json={**extension, "new_deadline": str(today())})) == [
        ["body", "new_deadline"]
    ]
    assert locs(await http.post(url, json={"new_deadline": str(later)})) == [["body", "reason"]]
    response = await http.post(url, json=extension)
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "follow_up"
    stored = "SELECT departure_deadline FROM cases WHERE case_id = $1"
    assert await pool.fetchval(stored, case_id) == later
    again = await http.post(url, json=extension)  # the same request again: carried out once
    assert again.status_code == 200


async def test_withdrawal_for_an_unknown_case_is_404(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{V1}/cases/{new_case_id()}/consent-withdrawal", json={"withdrawn_on": str(today())}
    )
    assert response.status_code == 404


async def test_a_reported_supporter_gives_the_abh_a_representative_task(
    http: httpx.AsyncClient,
) -> None:
    case_id = await open_case(http)
    response = await http.post(
        f"{V1}/cases/{case_id}/supporters",
        json={"name": "Unterstützerin", "contact": "0170 000000", "is_representative": True},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"case_id": case_id, "stage": "information_conversation"}
    # The task is open by the time the report is answered.
    tasks = await http.get(f"{V1}/tasks", params={"queue": "abh", "case_id": case_id})
    kinds = sorted(task["kind"] for task in tasks.json())
    assert kinds == ["information_conversation", "representative"]


async def test_the_ki_reports_a_supporter_on_a_case_disclosed_to_it(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    supporter = {"name": "Ehrenamtliche", "contact": "0170 1", "is_representative": False}
    undisclosed = await open_case(http)
    response = await ki.post(f"{V1}/cases/{undisclosed}/supporters", json=supporter)
    assert response.status_code == 404  # as unknown to the KI as when it reads the case
    case_id = await to_follow_up(http, ki)
    response = await ki.post(f"{V1}/cases/{case_id}/supporters", json=supporter)
    assert response.status_code == 200, response.text
    notices = await pool.fetch(
        "SELECT queue, kind FROM notices WHERE case_id = $1 AND kind = 'supporter_reported'",
        case_id,
    )
    assert [(n["queue"], n["kind"]) for n in notices] == [("abh", "supporter_reported")]
    # A supporter who does not represent the person opens no task that could stay overdue.
    tasks = await http.get(f"{V1}/tasks", params={"queue": "abh", "case_id": case_id})
    assert "representative" not in [task["kind"] for task in tasks.json()]


async def test_a_supporter_report_needs_a_name(http: httpx.AsyncClient) -> None:
    case_id = await open_case(http)
    response = await http.post(
        f"{V1}/cases/{case_id}/supporters",
        json={"name": "  ", "contact": "0170 000000", "is_representative": False},
    )
    assert locs(response) == [["body", "name"]]


# -------------------------------------------------------------------- partners


async def test_the_partner_directory(http: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    name = f"Ehrenamtskreis Test {uuid.uuid4().hex[:8]}"
    draft = {"name": name, "kind": "ehrenamt", "town": "Bönen", "contact": "buero@example.org"}
    created = await admin.post(f"{V1}/partners", json=draft)
    assert created.status_code == 201, created.text
    partner = created.json()
    assert partner == {
        **draft,
        "languages": [],
        # Clients that send no address and hours get the directory's defaults.
        "address": "Kontakt über das Kommunale Integrationszentrum Kreis Unna",
        "hours": "nach Vereinbarung",
        "partner_id": partner["partner_id"],
        "active": True,
        "example": False,
    }
    partner_id = partner["partner_id"]

    listed = (await http.get(f"{V1}/partners", params={"town": "Bönen"})).json()
    assert partner in listed
    assert (await admin.post(f"{V1}/partners", json=draft)).status_code == 409

    changed = {**draft, "contact": "02383 000000", "languages": ["de", "ar"]}
    updated = await admin.put(f"{V1}/partners/{partner_id}", json=changed)
    assert updated.status_code == 200
    assert updated.json()["languages"] == ["de", "ar"]

    assert (await admin.delete(f"{V1}/partners/{partner_id}")).status_code == 204
    listed = (await http.get(f"{V1}/partners", params={"town": "Bönen"})).json()
    assert partner_id not in [entry["partner_id"] for entry in listed]
    assert (await http.get(f"{V1}/partners/{partner_id}")).json()["active"] is False

    assert (await admin.delete(f"{V1}/partners/999999")).status_code == 404
    assert (await admin.put(f"{V1}/partners/999999", json=draft)).status_code == 404
    assert locs(await admin.post(f"{V1}/partners", json={**draft, "kind": "verein"})) == [
        ["body", "kind"]
    ]
    assert locs(await http.get(f"{V1}/partners/0")) == [["path", "partner_id"]]
    assert locs(await admin.post(f"{V1}/partners", json={**draft, "town": "Dortmund"})) == [
        ["body", "town"]
    ]


# ------------------------------------------------------------------ the app


async def test_an_unexpected_error_is_a_500_that_tells_nothing(
    app: FastAPI, http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    async def boom() -> None:
        raise RuntimeError("Testnachname, Bahnhofstraße 1")

    app.add_api_route("/boom", boom)
    response = await http.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/internal",
        "title": "Internal server error",
        "status": 500,
        "detail": "internal server error",
        "instance": "/boom",
    }
    captured = capsys.readouterr()
    assert "RuntimeError" in captured.out + captured.err
    assert "Testnachname" not in captured.out + captured.err


async def test_the_openapi_document_lists_every_route(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths) == {
        f"{V1}/status-events",
        f"{V1}/reported-cases/{{case_id}}",
        f"{V1}/cases",
        f"{V1}/cases/{{case_id}}",
        f"{V1}/cases/{{case_id}}/consent-withdrawal",
        f"{V1}/cases/{{case_id}}/notes",
        f"{V1}/cases/{{case_id}}/attachments",
        f"{V1}/cases/{{case_id}}/attachments/{{attachment_id}}",
        f"{V1}/cases/{{case_id}}/route-failure",
        f"{V1}/cases/{{case_id}}/departure-deadline",
        f"{V1}/cases/{{case_id}}/supporters",
        f"{V1}/cases/{{case_id}}/departure",
        f"{V1}/cases/{{case_id}}/reopen",
        f"{V1}/tasks",
        f"{V1}/tasks/assign",
        f"{V1}/tasks/{{task_id}}/complete",
        f"{V1}/operations/figures",
        f"{V1}/tasks/{{task_id}}/claim",
        f"{V1}/tasks/{{task_id}}/release",
        f"{V1}/tasks/{{task_id}}/hand-over",
        f"{V1}/tasks/{{task_id}}/deputy",
        f"{V1}/partners",
        f"{V1}/partners/{{partner_id}}",
        f"{V1}/admin/access-log",
        f"{V1}/admin/cases/{{case_id}}/legal-hold",
        "/codec/decode",  # the Temporal UI's codec (tests/test_protection.py)
        "/codec/encode",
        "/healthz",  # the probes and Prometheus' figures (tests/test_health.py)
        "/readyz",
        "/metrics",
        f"{V1}/admin/disclosures",
        f"{V1}/admin/webhooks",
        f"{V1}/admin/webhooks/{{name}}",
        f"{V1}/reports/committee",
        f"{V1}/cases/{{case_id}}/access-report",
        f"{V1}/cases/{{case_id}}/documents",
        f"{V1}/cases/{{case_id}}/documents/{{document_id}}",
        f"{V1}/offers",
        f"{V1}/offers/{{offer_id}}",
        f"{V1}/flyers",
        f"{V1}/flyers/{{town}}",
        f"{V1}/flyer-versions/{{flyer_id}}",
    }


async def test_the_app_connects_itself_when_nothing_is_handed_in(
    dev_env: WorkflowEnvironment, dsn: str
) -> None:
    settings = Settings().model_copy(
        update={
            "database_url": dsn,
            "temporal_address": dev_env.client.service_client.config.target_host,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), logged_in(app, Role.ABH) as http:
        response = await http.get(f"{V1}/partners", params={"town": "Unna"})
        assert response.status_code == 200
        assert [partner["town"] for partner in response.json()] == ["Unna"]
        assert (await http.get(f"{V1}/cases/{new_case_id()}")).status_code == 404
