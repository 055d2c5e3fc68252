"""Two answers of the framework put right for every route (found by ``scripts/fuzz_api.py``).

- 405: Starlette answers from the first route whose path matched, so ``Allow`` named only
  that route's methods (``DELETE /api/v1/partners`` said ``Allow: GET`` though POST works
  there too). RFC 9110 (15.5.6) asks for every method the resource supports.
- A body that is not UTF-8: FastAPI answers 400 ``{"detail": "There was an error parsing the
  body"}``, while malformed JSON is a 422 naming ``body``. Every refusal of a body has that one
  shape (:mod:`api.errors`), so this one has too.

Every other HTTPException goes on to FastAPI's own handler unchanged.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

NOT_UTF8 = "the body is not JSON in UTF-8"


# What a resource here might serve; asked route by route, as the router itself asks.
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at the request's path."""
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        return JSONResponse(
            {"detail": [{"loc": ["body"], "msg": NOT_UTF8, "type": "json_invalid"}]},
            status_code=422,
        )
    if exc.status_code == 405:
        methods = allowed_methods(request.app.router.routes, request.scope)
        if methods:
            exc = HTTPException(
                405, exc.detail, headers={**(exc.headers or {}), "Allow": ", ".join(methods)}
            )
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
