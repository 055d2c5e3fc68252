"""What each kind of problem of the API means, in German: the pages its ``type`` URIs name
(``/problems/conflict``, :mod:`schemas.problems`). Open to everyone: they describe the API,
nothing of a case."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import optional_account
from schemas.problems import DESCRIPTIONS, PROBLEM_PATH, ProblemType
from web.common import PageRefused, render

router = APIRouter(include_in_schema=False)


@router.get(PROBLEM_PATH)
async def problem_types(request: Request) -> Response:
    account = await optional_account(request)
    return render(request, "problems.html", account, kinds=DESCRIPTIONS, shown=None)


@router.get(PROBLEM_PATH + "/{kind}")
async def problem_type(request: Request, kind: str) -> Response:
    try:
        shown = ProblemType(kind)
    except ValueError:
        raise PageRefused(404, "Diese Art von Fehlermeldung gibt es nicht.") from None
    account = await optional_account(request)
    return render(request, "problems.html", account, kinds=DESCRIPTIONS, shown=shown)
