"""The pages: login, inbox, task forms, case pages, operations and admin.

Every page asks for the logged-in account first (none: redirect to ``/login?next=``) and
refuses with a German 403 page where the role has no business (never an empty page). Pages
that show personal data write an access-log row. URLs carry case and task ids only.

Each area has its module in :mod:`web.routes`; the helpers they share are in :mod:`web.common`.
Here the areas' routers become one :data:`router`, in the order of :data:`AREAS` (the order
the routes are matched in), and :func:`install` adds it, ``/static`` and the German error
pages to the app.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api.auth import clear_session_cookie, optional_account
from service.availability import ServiceUnavailable
from web.common import (
    HERE,
    LoginRequired,
    PageRefused,
    PasswordChangeRequired,
    local_path,
    password_page,
    redirect,
    render,
)
from web.routes import admin, cases, inbox, login, operations, problems, reports, tasks

AREAS = (login, inbox, tasks, cases, operations, admin, reports, problems)
router = APIRouter(include_in_schema=False)
for area in AREAS:
    router.include_router(area.router)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    url = "/login?next=" + quote(local_path(exc.next_path), safe="/")
    if not exc.expired:
        return redirect(url)
    # The stale cookie goes, so the next request is plainly anonymous, not "expired" again.
    response = redirect(url + "&grund=abgelaufen")
    clear_session_cookie(response)
    return response


async def _password_change_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PasswordChangeRequired)
    return redirect(password_page(exc.next_path))


async def unavailable_page(request: Request, exc: ServiceUnavailable) -> Response:
    """503 for a person, in German, with Retry-After.

    Without the account in the header: looking it up needs the database, which may be the
    very server that is gone.
    """
    seconds = request.app.state.settings.retry_after_seconds
    text = (
        "Der Dienst ist gerade nicht erreichbar. "
        f"Bitte versuchen Sie es in {seconds} Sekunden noch einmal."
    )
    response = render(request, "error.html", None, status_code=503, status=503, text=text)
    response.headers["Retry-After"] = str(seconds)
    return response


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    account = await optional_account(request)
    return render(
        request, "error.html", account, status_code=exc.status, status=exc.status, text=exc.message
    )


def install(app: FastAPI) -> None:
    """Add the pages, ``/static`` and the German error pages to the app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PasswordChangeRequired, _password_change_required)
    app.add_exception_handler(PageRefused, _refused)
