"""Two answers of the framework put right for every route (found by ``scripts/fuzz_api.py``).

- 405: Starlette answers from the first route whose path matched, so ``Allow`` named only
  that route's methods (``DELETE /api/v1/partners`` said ``Allow: GET`` though POST works
  there too). RFC 9110 (15.5.6) asks for every method the resource supports.
- A body that is not UTF-8: FastAPI answers 400 ``{"detail": "There was an error parsing the
  body"}``, while malformed JSON is a 422 naming ``body``. Every refusal of a body has that one
  shape (:mod:`api.errors`), so this one has too.

Every other HTTPException of the API is answered as a problem (RFC 9457): of its own kind when
the API raised it (:class:`~api.errors.ProblemException`: a login, a role), else by its
status (the framework's 404, 405, 413, …). Elsewhere FastAPI's own handler answers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from api.errors import JSON_PATHS, ProblemException, problem_response
from schemas.problems import FieldProblem, ProblemType, problem, validation_problem

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


# The kind of a framework refusal, by its status; any other status is ``OTHER``.
_KIND_OF_STATUS = {
    401: ProblemType.UNAUTHENTICATED,
    403: ProblemType.FORBIDDEN,
    404: ProblemType.NOT_FOUND,
    405: ProblemType.METHOD_NOT_ALLOWED,
    409: ProblemType.CONFLICT,
    413: ProblemType.TOO_LARGE,
    415: ProblemType.UNSUPPORTED_MEDIA_TYPE,
    422: ProblemType.INVALID,
}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        body = FieldProblem(loc=["body"], msg=NOT_UTF8, type="json_invalid")
        return problem_response(validation_problem([body], instance=path))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = allowed_methods(request.app.router.routes, request.scope)
        if methods:
            headers["Allow"] = ", ".join(methods)
    if not path.startswith(JSON_PATHS):
        return await http_exception_handler(
            request, HTTPException(exc.status_code, exc.detail, headers=headers or None)
        )
    if isinstance(exc, ProblemException):
        kind = exc.kind
    else:
        kind = _KIND_OF_STATUS.get(exc.status_code, ProblemType.OTHER)
    if kind is ProblemType.INVALID:  # a route's own 422 (the codec's): the body at fault
        body = FieldProblem(loc=["body"], msg=str(exc.detail), type="value_error")
        return problem_response(validation_problem([body], instance=path))
    answer = problem(kind, str(exc.detail), status=exc.status_code, instance=path)
    return problem_response(answer, headers=headers or None)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
