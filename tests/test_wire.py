"""What scripts/fuzz_api.py found besides server errors: the answers and the document agree.

These need no servers: routing, body parsing and the OpenAPI document come before any
dependency touches the pool or Temporal, so the app is built without its lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from config.settings import Settings
from runtime.app import create_app
from schemas.tasks import TaskKind

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


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", f"{V1}/partners", "GET, POST"),
        ("PATCH", f"{V1}/partners/1", "DELETE, GET, PUT"),
        ("POST", f"{V1}/offers/1", "DELETE, GET, PUT"),
        ("GET", f"{V1}/admin/cases/C-1/legal-hold", "DELETE, PUT"),
    ],
)
async def test_a_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


async def test_a_405_where_one_route_serves_the_path_is_unchanged(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{V1}/status-events")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["detail"] == "Method Not Allowed"


@pytest.mark.parametrize(
    "path", [f"{V1}/status-events", f"{V1}/partners", f"{V1}/cases/C-1/supporters"]
)
async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(
        path, content=b'{"name": "\xc3"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body"], "msg": "the body is not JSON in UTF-8", "type": "json_invalid"}
    ]


async def test_malformed_json_is_still_refused_as_before(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{V1}/partners", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


# Asked by load balancers and Prometheus, who have no session: no role to refuse.
PROBES = {"GET /healthz": set(), "GET /readyz": set(), "GET /metrics": {"401"}}


def test_every_operation_documents_the_refusals_of_login_and_role(
    document: dict[str, Any],
) -> None:
    undocumented = [
        f"{method} {path}"
        for method, path, operation in _operations(document)
        if f"{method} {path}" not in PROBES and not {"401", "403"} <= set(operation["responses"])
    ]
    assert undocumented == []
    # The probes document what they can answer, and only that: /metrics wants its token.
    for name, refusals in PROBES.items():
        method, path = name.split(" ")
        responses = set(document["paths"][path][method.lower()]["responses"])
        assert responses & {"401", "403"} == refusals, name


def test_the_codec_documents_a_refused_message_and_legal_holds_an_unknown_case(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    assert "422" in paths["/codec/decode"]["post"]["responses"]
    assert "422" in paths["/codec/encode"]["post"]["responses"]
    hold = paths[f"{V1}/admin/cases/{{case_id}}/legal-hold"]
    assert "404" in hold["put"]["responses"]
    assert "404" in hold["delete"]["responses"]


def test_every_kind_of_task_completion_requires_its_kind_in_the_document(
    document: dict[str, Any],
) -> None:
    body = document["paths"][f"{V1}/tasks/{{task_id}}/complete"]["post"]["requestBody"]
    members = body["content"]["application/json"]["schema"]["oneOf"]
    schemas = document["components"]["schemas"]
    names = [member["$ref"].rsplit("/", 1)[1] for member in members]
    assert len(names) == len(TaskKind)  # one completion per kind of task
    assert [name for name in names if "kind" not in schemas[name].get("required", [])] == []
