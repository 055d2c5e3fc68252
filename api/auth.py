"""Who is asking: session cookies for people, bearer tokens for back-office intake.

- A person logs in (the web inbox's login page) and gets the ``sitzung`` cookie: HttpOnly,
  SameSite=Lax, Path=/, Secure unless ``CASE_COOKIE_SECURE`` is off (only the plain-http
  loopback development run turns it off). The cookie holds a random token; the database
  keeps only its sha256 (:mod:`service.accounts`).
- Routes state the roles they allow with ``require_roles(...)``; no session is a 401, a
  session with another role a 403. Both are JSON ``{"detail": "..."}``. A session of an
  account whose password an admin reset is a 403 everywhere until the person has set a new
  password (the web page :data:`PASSWORD_PAGE`).
- Back-office systems send ``Authorization: Bearer <token>``; such tokens open only the
  status intake (:data:`IntakeCaller`), nothing else.
- :class:`SameOriginMiddleware` refuses every state-changing request that carries the session
  cookie unless its ``Origin`` (or, without one, its ``Referer``) is this very site: a page
  elsewhere cannot make a logged-in browser post here. Requests without the cookie (bearer
  tokens, the login form itself) are not affected.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ProblemException, problem_response
from schemas.accounts import Account, BackOffice, Role
from schemas.problems import ProblemType, problem
from service.accounts import AccountService

SESSION_COOKIE = "sitzung"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def accounts(request: Request) -> AccountService:
    service: AccountService = request.app.state.accounts
    return service


async def optional_account(request: Request) -> Account | None:
    """The logged-in account, or None (no cookie, unknown or expired session, inactive)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await accounts(request).session_account(token)


# The two ways in, as the OpenAPI document names them (their values are read below, by the
# functions that check them; these only declare them on the routes that take them).
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The session of a person's login at /login (roles abh, ki, ops, admin, reporting).",
    auto_error=False,
)
API_TOKEN = HTTPBearer(
    scheme_name="apiToken",
    description="A back-office system's API token (made by an admin: "
    "python -m commands.accounts token --name NAME).",
    auto_error=False,
)


def _not_logged_in() -> ProblemException:
    return ProblemException(ProblemType.UNAUTHENTICATED, "login required")


PASSWORD_PAGE = "/konto/passwort"


def _password_change_required() -> ProblemException:
    return ProblemException(
        ProblemType.PASSWORD_CHANGE_REQUIRED,
        f"password change required: the password was reset; set a new one at {PASSWORD_PAGE}",
    )


async def require_account(
    account: Annotated[Account | None, Depends(optional_account)],
    _session: Annotated[str | None, Security(SESSION)],
) -> Account:
    """The logged-in account. A session of an account whose password was reset opens nothing
    of the API (403) until the person has set a new one on the password page."""
    if account is None:
        raise _not_logged_in()
    if account.must_change_password:
        raise _password_change_required()
    return account


CurrentAccount = Annotated[Account, Depends(require_account)]
"""The logged-in account; 401 when there is none."""


def require_roles(*roles: Role) -> Any:
    """``Depends`` giving the logged-in account when its role is one of ``roles``; else 403."""
    allowed = frozenset(roles)

    async def checked(account: CurrentAccount) -> Account:
        if account.role not in allowed:
            raise ProblemException(ProblemType.FORBIDDEN, "your role may not do this")
        return account

    return Depends(checked)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _invalid_token() -> ProblemException:
    return ProblemException(
        ProblemType.UNAUTHENTICATED, "invalid API token", headers={"WWW-Authenticate": "Bearer"}
    )


async def _intake_caller(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(API_TOKEN)],
    _session: Annotated[str | None, Security(SESSION)],
) -> Account | BackOffice:
    """A valid API token (its back-office system) or a logged-in admin (the account)."""
    token = _bearer(request)
    if token is not None:
        system = await accounts(request).token_caller(token)
        if system is None:
            raise _invalid_token()
        return system
    account = await optional_account(request)
    if account is None:
        raise ProblemException(
            ProblemType.UNAUTHENTICATED,
            "an API token or an admin login is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if account.must_change_password:
        raise _password_change_required()
    if account.role is not Role.ADMIN:
        raise ProblemException(ProblemType.FORBIDDEN, "your role may not do this")
    return account


async def _back_office(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(API_TOKEN)],
) -> BackOffice:
    """A valid API token's back-office system; anything else is a 401."""
    token = _bearer(request)
    system = None if not token else await accounts(request).token_caller(token)
    if system is None:
        raise _invalid_token()
    return system


BackOfficeCaller = Annotated[BackOffice, Depends(_back_office)]
"""A back-office system by its API token (reading back the cases it reported)."""

IntakeCaller = Annotated[Account | BackOffice, Depends(_intake_caller)]
"""Status intake: a back-office system (its API token) or a logged-in admin (the account)."""


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", path="/", secure=secure
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


# ------------------------------------------------------------ same origin


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _has_session_cookie(scope: Scope) -> bool:
    raw = _header(scope, b"cookie")
    if not raw:
        return False
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:  # an unparsable cookie header may still carry ours: check
        return SESSION_COOKIE in raw
    return SESSION_COOKIE in cookie


def _origin_of(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), parts.netloc.lower()


def same_origin(scope: Scope) -> bool:
    """Does the request's Origin (or Referer) name this site, scheme and host:port alike?"""
    host = _header(scope, b"host")
    if not host:
        return False
    own = (str(scope.get("scheme", "http")).lower(), host.lower())
    origin = _header(scope, b"origin")
    if origin is not None:  # "null" (sandboxed or privacy-restricted pages) never matches
        return _origin_of(origin) == own
    referer = _header(scope, b"referer")
    if referer is not None:
        return _origin_of(referer) == own
    return False


class SameOriginMiddleware:
    """403 for a state-changing request with the session cookie from another origin.

    ``trusted`` maps a path prefix to the other origins allowed there: the Temporal UI may
    post to ``/codec/`` with a caseworker's session, and nowhere else.
    """

    def __init__(self, app: ASGIApp, trusted: dict[str, tuple[str, ...]] | None = None) -> None:
        self.app = app
        self.trusted = trusted or {}

    def _trusted_origin(self, scope: Scope) -> bool:
        origin = _header(scope, b"origin")
        path = str(scope.get("path", ""))
        return origin is not None and any(
            path.startswith(prefix) and origin in origins
            for prefix, origins in self.trusted.items()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _UNSAFE_METHODS
            and _has_session_cookie(scope)
            and not same_origin(scope)
            and not self._trusted_origin(scope)
        ):
            path = str(scope.get("path", ""))
            response = problem_response(
                problem(ProblemType.CROSS_ORIGIN, "cross-origin request refused", instance=path)
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
