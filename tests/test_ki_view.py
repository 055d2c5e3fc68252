"""What the KI sees of a case through the API is what its case page shows (data minimisation).

The KI receives three categories on the person's consent (personal data, contact data,
residence status) and works its own tasks; the ABH's conversation, documents, stages and
tasks are not its business, in the API no more than on the page.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from tests.test_api import V1, person, to_follow_up
from web import labels

KI_FIELDS = {
    "case_id",
    "received_at",
    "personal_data",
    "contact_data",
    "residence_status",
    "open_tasks",
    "done_tasks",
}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_ki_api_view_is_its_case_page(
    http: httpx.AsyncClient, ki: httpx.AsyncClient
) -> None:
    case_id = await to_follow_up(http, ki)  # the KI contacted a partner: one task done
    response = await ki.get(f"{V1}/cases/{case_id}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    assert set(view) == KI_FIELDS
    sent = person("Kamen")
    assert view["personal_data"] == {
        key: sent[key]
        for key in ("given_name", "family_name", "date_of_birth", "nationality", "language")
    }
    assert view["contact_data"] == {"phone": sent["phone"], "email": None, **sent["address"]}
    assert view["residence_status"] == "ausreisepflichtig"
    tasks = view["open_tasks"] + view["done_tasks"]
    assert [task["kind"] for task in view["done_tasks"]] == ["ki_contact"]
    assert {task["kind"] for task in tasks} <= {"ki_contact", "follow_up"}  # the KI's kinds
    # Nothing of the ABH: its timeline, stages, its tasks and their kinds.
    flat = response.text
    for hidden in ("timeline", "stage", "information_conversation", "referral_consent", "abh"):
        assert hidden not in flat, hidden

    page = _text((await ki.get(f"/faelle/{case_id}")).text)
    for category in (view["personal_data"], view["contact_data"]):
        for key, value in category.items():
            if value is None:
                continue
            shown = {
                "date_of_birth": "01.04.1990",
                "nationality": labels.COUNTRY_NAMES.get(str(value), str(value)),
                "language": labels.CONVERSATION_LANGUAGES.get(str(value), str(value)),
            }.get(key, value)
            assert shown in page, key
    for task in tasks:
        assert labels.label(labels.TASK_KINDS, task["kind"]) in page


async def test_the_abh_view_is_unchanged(http: httpx.AsyncClient, ki: httpx.AsyncClient) -> None:
    case_id = await to_follow_up(http, ki)
    view = (await http.get(f"{V1}/cases/{case_id}")).json()
    assert set(view) == {
        "case_id",
        "stage",
        "residence_status",
        "outcome",
        "departure_deadline",
        "open_tasks",
        "timeline",
        "household",
    }
    assert view["stage"] == "follow_up"
    kinds = {entry["kind"] for entry in view["timeline"]}
    assert {"opened", "task_completed", "disclosure"} <= kinds
    assert "Testnachname" not in str(view)  # the ABH's view holds no personal data


async def test_openapi_documents_both_views(app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as anonymous:
        document = (await anonymous.get("/openapi.json")).json()
    answer = document["paths"][f"{V1}/cases/{{case_id}}"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    refs = {option["$ref"].rsplit("/", 1)[-1] for option in schema["anyOf"]}
    assert refs == {"CaseView", "KiCaseView"}
    ki_view = document["components"]["schemas"]["KiCaseView"]
    assert set(ki_view["properties"]) == KI_FIELDS


async def test_the_api_and_the_page_let_the_ki_read_a_case_by_one_rule(
    http: httpx.AsyncClient, ki: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Once the KI's copy is erased, neither the API nor the page shows it the case: both ask
    the one rule (``store.inbox.ki_referral``)."""
    case_id = await to_follow_up(http, ki)
    assert (await ki.get(f"{V1}/cases/{case_id}")).status_code == 200
    assert (await ki.get(f"/faelle/{case_id}")).status_code == 200
    await pool.execute("UPDATE ki_referrals SET erased_at = now() WHERE case_id = $1", case_id)
    assert (await ki.get(f"{V1}/cases/{case_id}")).status_code == 404
    assert (await ki.get(f"/faelle/{case_id}")).status_code == 404
