"""Finding a case (issue 14, point 1): by reference, by name (case- and accent-insensitive,
in part), by date of birth and town; the case list with filters, sort and keyset pagination.
The ABH finds every case, the KI only cases disclosed to it on a consent that stands."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.accounts import Role
from tests.test_api import V1, event, logged_in, person, serving, to_follow_up, today


@pytest.mark.parametrize(
    ("stored", "searched"),
    [
        ("Müller", "muller"),
        ("Müller", "MUELLER"),
        ("Şahin", "sahin"),
        ("Çelik", "celik"),
        ("Gülşen Yıldız", "yildiz"),
        ("Strauß", "strauss"),
        ("Élodie", "elodie"),
        ("Michael", "michael"),
        ("Łukasz", "lukasz"),
        ("Ahmed Al-Hassan", "al-hass"),
    ],
)
async def test_a_name_is_found_however_it_is_typed(
    pool: asyncpg.Pool, stored: str, searched: str
) -> None:
    found = await pool.fetchval(
        "SELECT position(search_fold($2) IN search_fold($1)) > 0", stored, searched
    )
    assert found, (stored, searched)


async def open_person(
    http: httpx.AsyncClient,
    given: str,
    family: str,
    *,
    town: str = "Unna",
    born: str = "1990-04-01",
    deadline_days: int = 90,
) -> str:
    case_id = f"SUCH-{uuid.uuid4().hex[:8]}"
    who = person(town) | {"given_name": given, "family_name": family, "date_of_birth": born}
    body = event(
        case_id,
        person=who,
        departure_deadline=(today() + timedelta(days=deadline_days)).isoformat(),
    )
    response = await http.post(f"{V1}/status-events", json=body)
    assert response.status_code == 202, response.text
    return case_id


async def found(http: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await http.get(f"{V1}/cases", params=params)
    assert response.status_code == 200, response.text
    return [item["case_id"] for item in response.json()["items"]]


async def test_the_abh_finds_cases_by_reference_name_birth_date_and_town(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH, token=True) as abh:
        mueller = await open_person(abh, "Jürgen", "Müller", town="Fröndenberg/Ruhr")
        sahin = await open_person(abh, "Ayşe", "Şahin", born="1985-02-03", deadline_days=10)
        other = await open_person(abh, "Karim", "Haddad", town="Kamen")

        assert await found(abh, q="mueller") == [mueller]
        assert await found(abh, q="JURG") == [mueller]
        assert await found(abh, q="ayse sah") == [sahin]
        assert await found(abh, q=mueller[-6:]) == [mueller]  # a part of the reference
        assert await found(abh, born_on="1985-02-03") == [sahin]
        assert await found(abh, town="froendenberg/ruhr") == [mueller]
        assert await found(abh, town="kamen") == [other]
        soon = (today() + timedelta(days=30)).isoformat()
        assert await found(abh, deadline_before=soon) == [sahin]
        assert set(await found(abh, stage="information_conversation")) == {mueller, sahin, other}

        listed = (await abh.get(f"{V1}/cases", params={"q": "haddad"})).json()["items"]
        assert listed[0]["family_name"] == "Haddad" and listed[0]["open_tasks"] == 1
        assert listed[0]["town"] == "Kamen" and listed[0]["stage"] == "information_conversation"

        # Wrong input is refused naming the field.
        for params, field in (
            ({"limit": 0}, "limit"),
            ({"sort": "salary"}, "sort"),
            ({"cursor": "kein-cursor"}, "cursor"),
            ({"born_on": "gestern"}, "born_on"),
        ):
            refused = await abh.get(f"{V1}/cases", params=params)
            assert refused.status_code == 422, refused.text
            assert [e["loc"][-1] for e in refused.json()["errors"]] == [field]


async def test_the_list_pages_through_every_case_once_in_order(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH, token=True) as abh:
        families = ["Becker", "Özdemir", "Adler", "Zimmer", "Celik", "Ivanova", "Demir"]
        opened = {await open_person(abh, "Test", family): family for family in families}

        for descending in (False, True):
            seen: list[str] = []
            cursor: str | None = None
            pages = 0
            while True:
                params: dict[str, Any] = {"sort": "name", "limit": 3}
                if descending:
                    params["descending"] = "true"
                if cursor is not None:
                    params["cursor"] = cursor
                page = (await abh.get(f"{V1}/cases", params=params)).json()
                seen += [item["case_id"] for item in page["items"]]
                pages += 1
                if not page["has_more"]:
                    assert page["next_cursor"] is None
                    break
                cursor = page["next_cursor"]
            by_name = sorted(opened, key=lambda case: opened[case].replace("Ö", "O"))
            assert seen == (by_name[::-1] if descending else by_name)
            assert pages == 3

        # A cursor of the name order does not continue a list sorted otherwise.
        first = (await abh.get(f"{V1}/cases", params={"sort": "name", "limit": 3})).json()
        mixed = await abh.get(
            f"{V1}/cases", params={"sort": "town", "cursor": first["next_cursor"]}
        )
        assert mixed.status_code == 422
        assert [e["loc"][-1] for e in mixed.json()["errors"]] == ["cursor"]


async def test_the_ki_finds_only_cases_disclosed_to_it(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    async with (
        serving(dev_env, pool) as app,
        logged_in(app, Role.ABH, token=True) as abh,
        logged_in(app, Role.KI) as ki,
    ):
        referred = await to_follow_up(abh, ki)
        await open_person(abh, "Nicht", "Übermittelt")
        listed = (await ki.get(f"{V1}/cases")).json()["items"]
        assert [item["case_id"] for item in listed] == [referred]
        assert listed[0]["family_name"] == "Testnachname"  # as the KI received it
        assert await found(ki, q="ubermittelt") == []
        assert await found(ki, q="testnach") == [referred]

        withdrawn = await abh.post(
            f"{V1}/cases/{referred}/consent-withdrawal", json={"withdrawn_on": str(today())}
        )
        assert withdrawn.status_code == 200
        assert await found(ki) == []
        async with logged_in(app, Role.OPS) as ops:
            assert (await ops.get(f"{V1}/cases")).status_code == 403


async def test_the_case_list_page_finds_sorts_and_pages(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH, token=True) as abh:
        for family in ("Becker", "Müller", "Adler"):
            await open_person(abh, "Test", family)
        page = await abh.get("/faelle", params={"q": "MUELLER"})
        assert page.status_code == 200
        assert "Müller, Test" in page.text and "Becker" not in page.text
        assert "<caption>1 Fall</caption>" in page.text

        by_name = await abh.get("/faelle", params={"sort": "name", "limit": "2"})
        text = by_name.text
        assert text.index("Adler") < text.index("Becker") and "Müller, Test" not in text
        assert 'aria-sort="ascending"' in text
        more = re.search(r'<a href="(/faelle\?[^"]*cursor=[^"]+)">Weitere Fälle</a>', text)
        assert more, text
        second = await abh.get(more.group(1).replace("&amp;", "&"))
        assert "Müller, Test" in second.text and "Adler" not in second.text
        assert "Zum Anfang der Liste" in second.text

        refused = await abh.get("/faelle", params={"born_on": "31.02.2020"})
        assert refused.status_code == 422
        assert "Bitte prüfen Sie Ihre Suche" in refused.text
        assert "Testnachname" not in refused.text
