"""Households (issue 13, point 9): members each obliged to leave are linked by the back
office's household reference; each case keeps its own conversation and consent, the case
page lists the other members' cases, and an enforcement decision sees every minor of the
household, the members' own cases included. Real API, worker, dev server and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from schemas.events import StatusEvent
from schemas.local_time import BERLIN
from store import cases as case_store
from tests.test_api import V1, complete, conversation, event, logged_in, person, serving, today
from tests.test_canary import task_of


def household_ref() -> str:
    return f"HH-{uuid.uuid4().hex[:10]}"


def member(
    case_id: str, reference: str | None, *, born: date, children: tuple[date, ...] = ()
) -> dict[str, Any]:
    """The opening event of one member's case."""
    return event(
        case_id,
        person=person("Kamen") | {"date_of_birth": born.isoformat()},
        household={
            "reference": reference,
            "children": [{"date_of_birth": child.isoformat()} for child in children],
        },
    )


def years_ago(years: int) -> date:
    day = today()
    return day.replace(year=day.year - years, day=min(day.day, 28))


@pytest.fixture
def short_follow_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check-ins after a second, one miss escalates: the escalation within seconds."""
    monkeypatch.setenv("CASE_FOLLOW_UP_INTERVAL", "PT1S")
    monkeypatch.setenv("CASE_UNREACHABLE_AFTER", "1")


async def escalate(abh: httpx.AsyncClient, case_id: str) -> str:
    """Conversation, no interest in a referral, a check-in that did not reach the person:
    the ABH's escalation task."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("information_conversation", conversation()),
        ("referral_consent", {"kind": "referral_consent", "interested": False}),
        ("follow_up", {"kind": "follow_up", "reached": False}),
    ]
    for kind, body in steps:
        response = await complete(abh, await task_of(abh, case_id, "abh", kind), body)
        assert response.status_code == 200, response.text
    return await task_of(abh, case_id, "abh", "escalation")


def evening_enforcement() -> dict[str, Any]:
    """Tomorrow 20:00 to 23:00: into the night for anyone under 18."""
    start = datetime.combine(today() + timedelta(days=1), time(20), BERLIN)
    return {
        "kind": "escalation",
        "decision": "enforcement",
        "enforcement_at": start.isoformat(),
        "enforcement_until": (start + timedelta(hours=3)).isoformat(),
    }


async def test_an_enforcement_sees_the_minor_of_another_members_case(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, short_follow_up: None
) -> None:
    reference = household_ref()
    parent, son = f"HH-{uuid.uuid4().hex[:8]}", f"HH-{uuid.uuid4().hex[:8]}"
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH, token=True) as abh:
        # The father's case lists no children: his son, 16, has a case of his own.
        for body in (
            member(parent, reference, born=years_ago(45)),
            member(son, reference, born=years_ago(16)),
        ):
            response = await abh.post(f"{V1}/status-events", json=body)
            assert response.status_code == 202, response.text

        escalation = await escalate(abh, parent)
        refused = await complete(abh, escalation, evening_enforcement())
        assert refused.status_code == 422, refused.text
        reasons = {(e["loc"][-1], e["msg"]) for e in refused.json()["errors"]}
        assert any(
            field == "enforcement_at" and "Minderjährigen zur Nachtzeit" in message
            for field, message in reasons
        ), reasons
        # The son's own case is untouched by the father's: its conversation is still open.
        son_case = (await abh.get(f"{V1}/cases/{son}")).json()
        assert son_case["stage"] == "information_conversation"
        assert son_case["household"] == [
            {"case_id": parent, "stage": "escalation", "outcome": None}
        ]

        # The son has left the country: he no longer lives in the household.
        departed = event(son, 2, status="ausgereist", departure_deadline=None)
        response = await abh.post(f"{V1}/status-events", json=departed)
        assert response.status_code == 202, response.text
        accepted = await complete(abh, escalation, evening_enforcement())
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["stage"] == "enforcement_planned"

        # The father's page lists the son's case, with its outcome, linked.
        page = await abh.get(f"/faelle/{parent}")
        assert page.status_code == 200
        assert f'href="/faelle/{son}"' in page.text
        assert "Haushalt" in page.text and "freiwillig ausgereist" in page.text.lower()


async def test_the_household_beyond_a_case_is_its_members_and_their_children(
    pool: asyncpg.Pool,
) -> None:
    reference = household_ref()
    ids = {name: f"HB-{uuid.uuid4().hex[:8]}" for name in ("own", "son", "aunt", "moved", "other")}
    born = {
        "own": date(1980, 1, 1),
        "son": date(2010, 5, 5),
        "aunt": date(1975, 3, 3),
        "moved": date(1999, 9, 9),
        "other": date(2012, 2, 2),
    }
    niece, baby = date(2015, 6, 6), date(2020, 1, 1)
    events = {
        "own": member(ids["own"], reference, born=born["own"]),
        "son": member(ids["son"], reference, born=born["son"]),
        "aunt": member(ids["aunt"], reference, born=born["aunt"], children=(niece,)),
        "moved": member(ids["moved"], reference, born=born["moved"], children=(baby,)),
        "other": member(ids["other"], household_ref(), born=born["other"]),
    }
    at = datetime.now(BERLIN)
    async with pool.acquire() as con:
        for body in events.values():
            parsed = StatusEvent.model_validate(body)
            assert parsed.person is not None
            await case_store.insert_case(con, parsed, at)
            await case_store.upsert_person(con, parsed.case_id, parsed.person)
            await case_store.replace_household(con, parsed.case_id, parsed)
        await con.execute(
            "UPDATE cases SET stage = 'closed', outcome = 'moved_away' WHERE case_id = $1",
            ids["moved"],
        )
        household = await case_store.household_born(con, ids["own"])
        members = await case_store.household_members(con, ids["own"])

        assert household == sorted([born["son"], born["aunt"], niece])
        assert [row.case_id for row in members] == sorted([ids["son"], ids["aunt"], ids["moved"]])
        # Reported again without a reference, the aunt's case is no longer linked.
        unlinked = StatusEvent.model_validate(
            event(ids["aunt"], 2, household={"children": [{"date_of_birth": niece.isoformat()}]})
        )
        await case_store.replace_household(con, ids["aunt"], unlinked)
        assert await case_store.household_born(con, ids["own"]) == [born["son"]]
