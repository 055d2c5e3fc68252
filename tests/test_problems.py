"""Refusals as problem details (RFC 9457): one shape, a type per kind, a German page per type.

Without servers: the refusals here come before any dependency touches the pool or Temporal
(routing, the login check, body parsing, the same-origin check). The refusals of the services
(404, 409, 422 of a workflow) are asserted in the tests of their routes.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape

import service.errors as tree
from api.errors import kind_of, status_of
from config.settings import Settings
from runtime.app import create_app
from schemas.problems import DESCRIPTIONS, MEDIA_TYPE, ProblemType
from service.errors import LoginRefused, Refused, SsoRefused

V1 = "/api/v1"


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings())


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


def problem_of(response: httpx.Response, kind: ProblemType) -> dict[str, Any]:
    assert response.headers["content-type"] == MEDIA_TYPE, response.text
    body: dict[str, Any] = response.json()
    described = DESCRIPTIONS[kind]
    assert body["type"] == f"/problems/{kind.value}"
    assert body["title"] == described.title
    assert body["status"] == response.status_code == described.status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_no_login_is_an_unauthenticated_problem(client: httpx.AsyncClient) -> None:
    body = problem_of(await client.get(f"{V1}/cases"), ProblemType.UNAUTHENTICATED)
    assert body["instance"] == f"{V1}/cases"
    assert set(body) == {"type", "title", "status", "detail", "instance"}


async def test_an_unknown_path_and_a_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    problem_of(await client.get(f"{V1}/nothing-here"), ProblemType.NOT_FOUND)
    response = await client.delete(f"{V1}/partners")
    problem_of(response, ProblemType.METHOD_NOT_ALLOWED)
    assert response.headers["allow"] == "GET, POST"


async def test_a_body_that_is_no_utf8_is_a_validation_problem_naming_the_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{V1}/status-events",
        content=b'{"case_id": "\xff"}',
        headers={"content-type": "application/json", "authorization": "Bearer x"},
    )
    body = problem_of(response, ProblemType.INVALID)
    assert body["errors"] == [
        {"loc": ["body"], "msg": "the body is not JSON in UTF-8", "type": "json_invalid"}
    ]
    assert body["detail"] == "1 field is invalid: body"


async def test_a_cross_origin_change_with_a_session_is_a_problem_of_its_own(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{V1}/partners",
        json={},
        headers={"origin": "https://elsewhere.example", "cookie": "sitzung=x"},
    )
    problem_of(response, ProblemType.CROSS_ORIGIN)


def test_every_refusal_of_the_services_has_a_kind_and_the_kind_its_status() -> None:
    samples: dict[type[Refused], str] = {LoginRefused: "invalid", SsoRefused: "no_role"}
    for _, refusal in inspect.getmembers(tree, inspect.isclass):
        if not issubclass(refusal, Refused) or refusal is Refused:
            continue
        error = refusal(samples.get(refusal, "x"))
        assert DESCRIPTIONS[kind_of(error)].status == status_of(error), refusal


async def test_every_type_has_a_german_page_and_an_unknown_one_is_404(
    client: httpx.AsyncClient,
) -> None:
    listing = await client.get("/problems")
    assert listing.status_code == 200 and 'lang="de"' in listing.text
    for kind, described in DESCRIPTIONS.items():
        assert f'href="/problems/{kind.value}"' in listing.text
        page = await client.get(f"/problems/{kind.value}")
        assert page.status_code == 200, kind
        assert page.headers["content-type"].startswith("text/html")
        assert str(escape(described.german)) in page.text, kind
    unknown = await client.get("/problems/no-such-kind")
    assert unknown.status_code == 404 and "gibt es nicht" in unknown.text
