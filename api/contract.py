"""The OpenAPI document as integrators and generators need it, on top of what FastAPI writes.

FastAPI describes the routes; this puts right what it cannot know:

- every refusal and failure is ``application/problem+json`` (:mod:`schemas.problems`), its
  422 the validation problem, not FastAPI's ``HTTPValidationError``;
- the discriminator of every union is a required property of each variant (pydantic leaves a
  tag with a default out of ``required``, and generators then cannot tell the variants apart);
- every request body has an example (:mod:`api.examples`);
- the notifications the back office can subscribe to are its ``webhooks``
  (:mod:`schemas.webhooks`, docs/webhooks.md), each with the Standard Webhooks headers;
- the document names its servers and its licence.

The security schemes come from the routes' own dependencies (:mod:`api.auth`), the operation
ids from the routes' function names (:func:`operation_id`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.examples import by_schema_name
from api.versioning import Deprecation, mark
from schemas.problems import MEDIA_TYPE
from schemas.webhooks import NOTIFICATIONS

JSON = "application/json"
_SCHEMAS = "#/components/schemas/"
_FASTAPI_VALIDATION = (f"{_SCHEMAS}HTTPValidationError", "HTTPValidationError", "ValidationError")

# No licence has been chosen for the code yet (the county's to decide; EUPL-1.2 is what German
# administrations commonly publish under): until then the document says so.
_PROBLEMS = frozenset(
    {f"{_SCHEMAS}Problem", f"{_SCHEMAS}ValidationProblem", _FASTAPI_VALIDATION[0]}
)
LICENSE = {"name": "Kreis Unna: licence not yet chosen, all rights reserved"}


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its function's name (``complete_task``), unique in the
    API (a test holds it so), and stable as long as the function keeps its name."""
    return route.name


def _problem_content(responses: dict[str, Any]) -> None:
    for code, response in responses.items():
        if not code.isdigit() or int(code) < 400:
            continue
        content = response.get("content", {})
        schema = content.get(JSON, {}).get("schema", {})
        reference = schema.get("$ref")
        if reference not in _PROBLEMS:  # a body of its own (the readiness report's 503)
            continue
        content[MEDIA_TYPE] = content.pop(JSON)
        if reference == _FASTAPI_VALIDATION[0]:
            schema["$ref"] = f"{_SCHEMAS}ValidationProblem"


def _discriminators_required(node: Any, schemas: dict[str, Any]) -> None:
    """Each variant a discriminator maps to has the discriminator among its required."""
    if isinstance(node, dict):
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict):
            name = discriminator["propertyName"]
            for reference in discriminator.get("mapping", {}).values():
                variant = schemas[reference.removeprefix(_SCHEMAS)]
                required = variant.setdefault("required", [])
                if name not in required:
                    required.insert(0, name)
                variant["properties"][name].pop("default", None)
        for value in node.values():
            _discriminators_required(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _discriminators_required(value, schemas)


_SIGNED = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "The same on every attempt of one notification: drop what you have seen."},
    {"name": "webhook-timestamp", "in": "header", "required": True,
     "schema": {"type": "integer"}, "description": "When it was sent, in Unix seconds."},
    {"name": "webhook-signature", "in": "header", "required": True,
     "schema": {"type": "string"},
     "description": "v1,base64(HMAC-SHA256(secret, id.timestamp.body)): Standard Webhooks."},
]  # fmt: skip


def _webhooks(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The ``webhooks`` of the document: one POST per notification type, its body's schema."""
    hooks: dict[str, Any] = {}
    for kind, model in NOTIFICATIONS.items():
        schema = model.model_json_schema(ref_template=_SCHEMAS + "{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
        hooks[kind.value] = {
            "post": {
                "operationId": f"notify_{kind.value.replace('.', '_')}",
                "summary": f"{kind.value}: {model.__doc__ or kind.value}".strip(),
                "description": "Sent to each subscribed endpoint (docs/webhooks.md), signed "
                "with its secret. Answer with a 2xx; anything else is tried again later "
                "(410 Gone ends the deliveries).",
                "security": [],
                "parameters": _SIGNED,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": {"$ref": _SCHEMAS + model.__name__}}},
                },
                "responses": {
                    "200": {"description": "Taken (any 2xx)"},
                    "410": {"description": "Gone: no more deliveries to this endpoint"},
                },
            }
        }
    doc["webhooks"] = hooks


def document(
    app: FastAPI, servers: list[dict[str, str]], deprecations: dict[str, Deprecation]
) -> dict[str, Any]:
    """The app's OpenAPI document, shaped as above (made once, then kept by the app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=servers,
        license_info=LICENSE,
    )
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            _problem_content(operation.get("responses", {}))
    schemas = doc.get("components", {}).get("schemas", {})
    _discriminators_required(doc, schemas)
    for name in _FASTAPI_VALIDATION[1:]:
        schemas.pop(name, None)
    for name, example in by_schema_name().items():
        if name in schemas:
            schemas[name]["examples"] = [example]
    _webhooks(doc, schemas)
    mark(doc, deprecations)
    app.openapi_schema = doc
    return doc
