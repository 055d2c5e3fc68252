"""How refusals and failures look on the wire: the one mapper of the service layer's error
tree (:mod:`service.errors`) to JSON, as problem details (RFC 9457, :mod:`schemas.problems`).

A refusal of a service is answered by its class: ``NotFound`` 404, ``Forbidden`` 403,
``Conflict`` (``CaseClosed``, ``NameTaken``, …) 409, ``Invalid`` 422, each as a problem of its
own ``type`` with the refusal's message as ``detail``. Every 422 is a validation problem with
the fields at fault in ``errors`` (``loc``, ``msg``, ``type``), whether pydantic refused the
request or a service / workflow did, so a client needs one parser. ``input`` and ``ctx`` are
dropped from pydantic's errors: they echo the submitted values, which here are personal data,
back into responses (and any proxy log of them). The framework's own refusals (401, 403, 404,
405, …) are problems too (:mod:`api.wire`).

A server that cannot be reached, or an update that brought no outcome in time
(:class:`~service.availability.ServiceUnavailable`, and the database failures it stands for),
is a 503 with ``Retry-After``: a problem here, the German page for the pages (``web.pages``,
handed to :func:`install`). The caller repeats the same request; it is carried out at most once.

Unexpected exceptions end in :class:`CatchAllMiddleware`, not in an exception handler:
Starlette re-raises after its handler ran, so the server would log the exception text (which
may quote a query argument) beside our line. The middleware logs the exception's type and
where it was raised, never its message or the request body, and answers a generic 500.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from config.logging import get_logger
from schemas.errors import FieldError
from schemas.problems import (
    DESCRIPTIONS,
    MEDIA_TYPE,
    FieldProblem,
    Problem,
    ProblemType,
    ValidationProblem,
    problem,
    validation_problem,
)
from schemas.tasks import TaskKind
from service.availability import DATABASE_ERRORS, database_unavailable
from service.errors import (
    CaseClosed,
    Conflict,
    Damaged,
    EventIdReused,
    Forbidden,
    Invalid,
    LoginRefused,
    NameTaken,
    NotFound,
    Refused,
    RulesChanged,
    ServiceUnavailable,
)

log = get_logger(__name__)

# pydantic names the union, not the field, when the discriminator is missing or unknown.
_DISCRIMINATOR_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})
# ...and puts the tag into the path of every other error inside a discriminated union
# (["body", "ki_contact", "partner_id"]). TaskCompletion is the one such body, and its form
# has no level named after its kind, so the tag is dropped: ["body", "partner_id"].
_UNION_TAGS = frozenset(kind.value for kind in TaskKind)


class ProblemException(HTTPException):
    """A refusal of the API's own layer (a login, a role) as a problem of ``kind``."""

    def __init__(
        self, kind: ProblemType, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(DESCRIPTIONS[kind].status, detail, headers=headers)
        self.kind = kind


def _answer(kind: ProblemType, description: str) -> dict[str, Any]:
    """A ``responses=`` entry: the answer of ``kind``, as a problem."""
    model = ValidationProblem if kind is ProblemType.INVALID else Problem
    return {"model": model, "description": description}


# For ``responses=`` in the routes, so /docs shows what else can come back. The media type of
# every problem is put right in the document (api.contract).
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _answer(ProblemType.NOT_FOUND, "Unknown")}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _answer(ProblemType.CONFLICT, "Not possible in the current state")
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        **_answer(
            ProblemType.UNAVAILABLE,
            "A server is unreachable, or no outcome came within the deadline "
            "(CASE_UPDATE_TIMEOUT). Repeat the same request after Retry-After seconds: with "
            "the same event id (or task and completion) it is carried out at most once.",
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before repeating the request.",
                "schema": {"type": "integer"},
            }
        },
    }
}

# Paths that answer JSON; every other one is a page for a person and gets the German page.
JSON_PATHS = ("/api/", "/codec", "/docs", "/openapi.json")

UnavailablePage = Callable[[Request, ServiceUnavailable], Awaitable[Response]]

# Every route of the API and the codec, so the document names what a caller without a login,
# or with the wrong role or token, gets back.
REFUSED: dict[int | str, dict[str, Any]] = {
    401: _answer(ProblemType.UNAUTHENTICATED, "No login (or no valid API token)"),
    403: _answer(ProblemType.FORBIDDEN, "The role (or the token) may not do this"),
}


def problem_response(answer: Problem, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """``answer`` as ``application/problem+json``, without the members it leaves out."""
    return JSONResponse(
        answer.model_dump(mode="json", exclude_none=True),
        status_code=answer.status,
        headers=headers,
        media_type=MEDIA_TYPE,
    )


def _location(request: Request, field: str) -> list[str | int]:
    """Where a refused field came from: a path or query parameter, else the body (``body``
    itself: the body as a whole, as FastAPI names a body that is no JSON)."""
    if field == "body":
        return ["body"]
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in field.split(".")]
    head = parts[0]
    if head in request.path_params:
        return ["path", *parts]
    if head in request.query_params:
        return ["query", *parts]
    return ["body", *parts]


def field_errors(request: Request, errors: list[FieldError]) -> list[FieldProblem]:
    return [
        FieldProblem(loc=_location(request, error.field), msg=error.reason, type="value_error")
        for error in errors
    ]


# The kind of problem of each kind of refusal: the first class the refusal is an instance of.
_KINDS: tuple[tuple[type[Refused], ProblemType], ...] = (
    (NotFound, ProblemType.NOT_FOUND),
    (Forbidden, ProblemType.FORBIDDEN),
    (CaseClosed, ProblemType.CASE_CLOSED),
    (EventIdReused, ProblemType.EVENT_ID_REUSED),
    (NameTaken, ProblemType.NAME_TAKEN),
    (RulesChanged, ProblemType.RULES_CHANGED),
    (Damaged, ProblemType.DAMAGED),
    (Conflict, ProblemType.CONFLICT),
    (Invalid, ProblemType.INVALID),
    (LoginRefused, ProblemType.LOGIN_REFUSED),
)


def kind_of(error: Refused) -> ProblemType:
    """The kind of problem a refusal of the services is answered as."""
    for refusal, kind in _KINDS:
        if isinstance(error, refusal):
            return kind
    raise TypeError(f"no problem type for {type(error).__qualname__}")


def status_of(error: Refused) -> int:
    """The HTTP status a refusal of the services is answered with."""
    return DESCRIPTIONS[kind_of(error)].status


async def refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    kind = kind_of(exc)
    # A refusal is an answer, not a failure: one info line without a traceback, naming the
    # kind and the fields at fault, never the message (it may quote what was sent).
    route = request.scope.get("route")
    log.info(
        "request refused",
        refusal=type(exc).__name__,
        status=DESCRIPTIONS[kind].status,
        method=request.method,
        route=getattr(route, "path", None),
        fields=[error.field for error in exc.fields] if isinstance(exc, Invalid) else None,
    )
    if isinstance(exc, Invalid):
        errors = exc.fields or [FieldError(field="body", reason=exc.message)]
        return problem_response(
            validation_problem(field_errors(request, errors), instance=request.url.path)
        )
    return problem_response(problem(kind, exc.message, instance=request.url.path))


def retry_after(request: Request) -> str:
    """The Retry-After value, in seconds (``CASE_RETRY_AFTER_SECONDS``)."""
    return str(request.app.state.settings.retry_after_seconds)


def unavailable_json(request: Request, exc: ServiceUnavailable) -> JSONResponse:
    seconds = retry_after(request)
    return problem_response(
        problem(
            ProblemType.UNAVAILABLE,
            f"{exc.message}; repeat the same request after {seconds} s",
            instance=request.url.path,
        ),
        headers={"Retry-After": seconds},
    )


def _unavailable_handler(
    page: UnavailablePage | None,
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        unavailable = exc if isinstance(exc, ServiceUnavailable) else database_unavailable(exc)
        assert unavailable is not None
        route = request.scope.get("route")
        # Which server and where, never the exception's text (it may name a host or a path).
        log.warning(
            "service unavailable",
            backend=unavailable.backend.value,
            error_type=type(exc).__qualname__,
            method=request.method,
            route=getattr(route, "path", None),
        )
        if page is not None and not request.url.path.startswith(JSON_PATHS):
            return await page(request, unavailable)
        return unavailable_json(request, unavailable)

    return handle


def _without_input(error: Any) -> FieldProblem:
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "body" and loc[1] in _UNION_TAGS:
        del loc[1]
    if error["type"] in _DISCRIMINATOR_ERRORS:
        discriminator = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
        if discriminator:
            loc.append(discriminator)
    return FieldProblem(loc=loc, msg=error["msg"], type=error["type"])


async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_without_input(error) for error in exc.errors()]
    return problem_response(validation_problem(errors, instance=request.url.path))


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


class CatchAllMiddleware:
    """Turn any unhandled exception into a 500 that says nothing about it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: ASGIMessage) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            route = scope.get("route")
            log.error(
                "unhandled error",
                error_type=type(exc).__qualname__,
                where=_where(exc),
                method=scope.get("method"),
                route=getattr(route, "path", None),
            )
            if started:  # too late for a response; the server closes the connection
                return
            path = scope.get("path")
            response = problem_response(
                problem(
                    ProblemType.INTERNAL,
                    "internal server error",
                    instance=path if isinstance(path, str) else None,
                )
            )
            await response(scope, receive, send)


def install(app: FastAPI, *, unavailable_page: UnavailablePage | None = None) -> None:
    """The handlers and the catch-all; ``unavailable_page`` answers a 503 on the pages."""
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    unavailable = _unavailable_handler(unavailable_page)
    outages: tuple[type[Exception], ...] = (ServiceUnavailable, *DATABASE_ERRORS)
    for outage in outages:
        app.add_exception_handler(outage, unavailable)
    app.add_middleware(CatchAllMiddleware)
