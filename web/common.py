"""What every page area shares: the templates and their filters, the login check, the
German refusal (:class:`PageRefused`) and the one mapper of the services' refusals to it
(:func:`refusal`), the redirect after a form, and the app's services (the pages reach data
only through them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import PASSWORD_PAGE, SESSION_COOKIE, optional_account
from api.errors import status_of
from schemas.accounts import Account, Role
from schemas.local_time import BERLIN
from schemas.residence_routes import ResidenceRoutes
from service.access import AccessService
from service.accounts import AccountService
from service.attachments import AttachmentService
from service.cases import CaseService
from service.directory import DirectoryService
from service.errors import Refused
from service.flyers import FlyerService
from service.inbox import InboxService, View
from service.notes import NoteService
from service.retention import RetentionService
from service.rules import RuleService
from service.webhooks import WebhookService
from web import labels

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VIEW_TITLES = {
    View.MINE: "Meine Aufgaben",
    View.GROUP: "Offen in meiner Gruppe",
    View.OVERDUE: "Überfällig",
    View.THIS_WEEK: "Diese Woche fällig",
    View.TEAM: "Alle offenen der Gruppe",
}


class LoginRequired(Exception):
    """No valid session. ``expired``: the browser still sent a cookie the server no longer knows
    (idle timeout, lifetime over, logged out elsewhere), so the login page can say why."""

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


class PasswordChangeRequired(Exception):
    """The session's password was reset by an admin: every page but the password page sends
    the person there, and from there on to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageRefused(Exception):
    """Answer with the German error page: 403 no role for it, 404 unknown, 409 not possible."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refusal(error: Refused, texts: Mapping[type[Refused], str] | None = None) -> PageRefused:
    """The German error page for a refusal of the services, with the status its kind has.

    ``texts``: the page's own words per kind (the first that ``error`` is an instance of);
    without one, the refusal's message, which the services that speak to people (inbox,
    accounts) write in German.
    """
    text = next(
        (words for kind, words in (texts or {}).items() if isinstance(error, kind)),
        error.message,
    )
    return PageRefused(status_of(error), text)


def _berlin_time(value: datetime | None) -> str:
    return value.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr") if value else "–"


def _german_date(value: date | str | None) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d.%m.%Y")
        except ValueError:
            return value
    return value.strftime("%d.%m.%Y")


def _hours(value: float | None) -> str:
    """A duration in hours as a caseworker reads it: hours under two days, else days."""
    if value is None:
        return "–"
    if value < 48:
        return f"{value:.1f} Stunden".replace(".", ",")
    return f"{value / 24:.1f} Tagen".replace(".", ",")


templates.env.filters["zeit"] = _berlin_time
templates.env.filters["stunden"] = _hours
templates.env.filters["datum"] = _german_date
templates.env.filters["sprache"] = lambda code: labels.label(labels.CONVERSATION_LANGUAGES, code)
templates.env.filters["land"] = lambda code: labels.label(labels.COUNTRY_NAMES, code)
templates.env.globals.update(
    labels=labels, label=labels.label, VIEW_TITLES=VIEW_TITLES, Role=Role, View=View
)


def residence_routes_of(request: Request) -> ResidenceRoutes:
    routes: ResidenceRoutes = request.app.state.residence_routes  # read once per app
    return routes


def rules_of(request: Request) -> RuleService:
    service: RuleService = request.app.state.rules
    return service


def accounts_of(request: Request) -> AccountService:
    service: AccountService = request.app.state.accounts
    return service


def cases_of(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def directory_of(request: Request) -> DirectoryService:
    service: DirectoryService = request.app.state.directory
    return service


def inbox_of(request: Request) -> InboxService:
    service: InboxService = request.app.state.inbox
    return service


def access_of(request: Request) -> AccessService:
    service: AccessService = request.app.state.access
    return service


def notes_of(request: Request) -> NoteService:
    service: NoteService = request.app.state.notes
    return service


def attachments_of(request: Request) -> AttachmentService:
    service: AttachmentService = request.app.state.attachments
    return service


def retention_of(request: Request) -> RetentionService:
    service: RetentionService = request.app.state.retention
    return service


def webhooks_of(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


def flyers_of(request: Request) -> FlyerService:
    service: FlyerService = request.app.state.flyers
    return service


def local_path(path: str | None, default: str = "/") -> str:
    """Only paths of this site: no scheme, no host, no protocol-relative ``//``."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


def password_page(next_path: str = "/") -> str:
    """The password page, going on to ``next_path`` (a path of this site) once it is done."""
    target = local_path(next_path)
    if target in ("/", PASSWORD_PAGE):
        return PASSWORD_PAGE
    return f"{PASSWORD_PAGE}?next={quote(target, safe='/')}"


def _coming_back(request: Request) -> str:
    """Where the login leads back to: a page asked for with its query (a search, a case on
    the admin's access page), so a link followed without a session still shows what it names;
    a form sent without one comes back to its page, not to a repeated POST."""
    if request.method == "GET" and request.url.query:
        return f"{request.url.path}?{request.url.query}"
    return request.url.path


async def logged_in(
    request: Request, *roles: Role, before_password_change: bool = False
) -> Account:
    """The logged-in account, of one of ``roles`` (any, without). An account whose password
    was reset reaches only the pages that say ``before_password_change`` (the password page);
    every other one sends it to the password page."""
    account = await optional_account(request)
    if account is None:
        raise LoginRequired(
            _coming_back(request), expired=bool(request.cookies.get(SESSION_COOKIE))
        )
    if account.must_change_password and not before_password_change:
        raise PasswordChangeRequired(_coming_back(request))
    if roles and account.role not in roles:
        raise PageRefused(403, "Für diese Seite hat Ihre Rolle keine Berechtigung.")
    return account


def render(
    request: Request,
    name: str,
    account: Account | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    message = labels.MESSAGES.get(request.query_params.get("meldung", ""))
    return templates.TemplateResponse(
        request,
        name,
        {"account": account, "message": message, **context},
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def parse_task_id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        raise PageRefused(404, "Diese Aufgabe gibt es nicht.") from None


def now() -> datetime:
    return datetime.now(UTC)
