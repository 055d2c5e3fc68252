"""The OpenAPI document as a generator reads it: security, problems, ids, examples, unions.

Built from the app without servers (the document needs none); Redocly's CLI (pinned, from the
npm registry, installed by manage.py) lints it with its recommended rules.
"""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import build_app
from api.examples import REQUEST_EXAMPLES, by_schema_name
from api.versioning import DEPRECATIONS, Deprecation
from config.settings import Settings
from runtime.app import create_app
from schemas.problems import MEDIA_TYPE
from schemas.webhooks import NOTIFICATIONS, WebhookType

ROOT = Path(__file__).resolve().parent.parent
REDOCLY = ROOT / ".data" / "npm" / "node_modules" / ".bin" / "redocly"
OPEN = {"/healthz", "/readyz"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    app = build_app(Settings(), services=None)  # type: ignore[arg-type]
    return app.openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _schema(doc: dict[str, Any], reference: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return found


def test_every_protected_operation_names_its_way_in_and_its_refusals(
    doc: dict[str, Any],
) -> None:
    schemes = doc["components"]["securitySchemes"]
    session = schemes["session"]
    assert (session["type"], session["in"], session["name"]) == ("apiKey", "cookie", "sitzung")
    assert schemes["apiToken"]["type"] == "http" and schemes["apiToken"]["scheme"] == "bearer"
    for method, path, operation in operations(doc):
        where = f"{method.upper()} {path}"
        if path in OPEN:
            assert operation["security"] == [], where
            continue
        assert operation["security"], where
        if path == "/metrics":
            continue
        for status in ("401", "403"):
            answer = operation["responses"][status]
            assert list(answer["content"]) == [MEDIA_TYPE], where
    intake = next(o for m, p, o in operations(doc) if p == "/api/v1/status-events")
    assert intake["security"] == [{"apiToken": []}, {"session": []}]
    cases = next(o for m, p, o in operations(doc) if p == "/api/v1/cases")
    assert cases["security"] == [{"session": []}]


def test_every_refusal_is_a_problem_and_a_422_names_its_fields(doc: dict[str, Any]) -> None:
    for method, path, operation in operations(doc):
        for status, answer in operation["responses"].items():
            if int(status) < 400 or path == "/readyz":
                continue
            schema = answer["content"][MEDIA_TYPE]["schema"]
            wanted = "ValidationProblem" if status == "422" else "Problem"
            assert schema == {"$ref": f"#/components/schemas/{wanted}"}, (method, path, status)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_operation_ids_are_the_routes_names(doc: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(doc)]
    assert len(ids) == len(set(ids))
    assert all(id_.isidentifier() and "api_v1" not in id_ for id_ in ids), ids
    assert {"submit_event", "complete_task", "list_cases", "get_case"} <= set(ids)


def _body_schemas(doc: dict[str, Any]) -> set[str]:
    """The schema of every request body in JSON, each variant of a union one of its own."""
    names = set()
    for _, _, operation in operations(doc):
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            continue
        for part in schema.get("oneOf", [schema]):
            names.add(part["$ref"].rsplit("/", 1)[-1])
    return names


def test_every_request_body_has_an_example_its_model_takes(doc: dict[str, Any]) -> None:
    bodies = _body_schemas(doc)
    assert len(bodies) >= 20
    assert bodies <= set(by_schema_name())
    for name in bodies:
        assert doc["components"]["schemas"][name]["examples"] == [by_schema_name()[name]]
    for model, example in REQUEST_EXAMPLES.items():
        model.model_validate(example)


def test_the_discriminator_of_every_union_is_required(doc: dict[str, Any]) -> None:
    unions = [
        schema
        for _, _, operation in operations(doc)
        for schema in [
            operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        ]
        if "discriminator" in schema.get("schema", {})
    ]
    assert unions, "the task completion is a union"
    for union in unions:
        discriminator = union["schema"]["discriminator"]
        name = discriminator["propertyName"]
        for reference in discriminator["mapping"].values():
            variant = _schema(doc, reference)
            assert name in variant["required"], reference
            assert "default" not in variant["properties"][name], reference


def test_the_document_names_its_servers_and_licence(doc: dict[str, Any]) -> None:
    assert doc["servers"] == [{"url": Settings().site_url(), "description": "this service"}]
    assert doc["info"]["license"]["name"]


def test_redocly_finds_no_error(doc: dict[str, Any], tmp_path: Path) -> None:
    assert REDOCLY.exists(), f"{REDOCLY} is missing: run the tests with python3 manage.py test"
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(doc), encoding="utf-8")
    result = subprocess.run(
        [str(REDOCLY), "lint", str(document), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    assert report["totals"]["errors"] == 0


async def test_a_deprecated_operation_says_so_on_every_answer_and_in_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    going = Deprecation(since=date(2027, 1, 1), sunset=date(2027, 7, 1), notes="/docs/v2")
    monkeypatch.setitem(DEPRECATIONS, "list_cases", going)
    app = create_app(Settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        refused = await client.get("/api/v1/cases")  # no login: still announced
        other = await client.get("/api/v1/tasks")
    assert refused.status_code == 401
    assert refused.headers["deprecation"] == "@1798761600"
    assert refused.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert refused.headers["link"] == '</docs/v2>; rel="deprecation"; type="text/html"'
    assert "deprecation" not in other.headers
    listed = app.openapi()["paths"]["/api/v1/cases"]["get"]
    assert listed["deprecated"] is True and "goes on 2027-07-01" in listed["description"]
    with pytest.raises(ValueError, match="six months"):
        Deprecation(since=date(2027, 1, 1), sunset=date(2027, 3, 1), notes="/x")


def test_every_notification_is_a_documented_signed_webhook(doc: dict[str, Any]) -> None:
    hooks = doc["webhooks"]
    assert set(hooks) == {kind.value for kind in WebhookType}
    for kind, model in NOTIFICATIONS.items():
        post = hooks[kind.value]["post"]
        assert {p["name"] for p in post["parameters"]} == {
            "webhook-id", "webhook-timestamp", "webhook-signature"
        }  # fmt: skip
        reference = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert _schema(doc, reference)["properties"]["type"]["const"] == kind.value
        assert reference.endswith(model.__name__)
