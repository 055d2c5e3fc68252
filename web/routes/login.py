"""Logging in and out, one's own password (``/konto/passwort``), and ``/``: where each role
starts.

With single sign-on configured (``CASE_OIDC_ISSUER``), the login page offers "Mit dem
Kreis-Konto anmelden": :data:`SSO_START` sends the browser to the county's provider, which
sends it back to :data:`SSO_ANSWER`; the login's ``state``, ``nonce`` and PKCE verifier wait
in the browser meanwhile (the HttpOnly cookie :data:`SSO_FLOW_COOKIE`, only on these two
paths, 10 minutes). The session cookie it ends with is the local login's.

After an admin's reset the login leads to the password page, and every other page sends the
person back there (:func:`web.common.logged_in`) until they have set a password of their own.
A change ends the account's other sessions; the one it was made in goes on.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.auth import (
    PASSWORD_PAGE,
    SESSION_COOKIE,
    clear_session_cookie,
    same_origin,
    set_session_cookie,
)
from config.logging import get_logger
from schemas.accounts import Account, Role
from schemas.inputs import describe_de, forbidden_character
from schemas.sso import SsoFlow
from service.accounts import MIN_PASSWORD_LENGTH, NO_LOCAL_PASSWORD, PASSWORD_FIELDS
from service.errors import (
    AccountError,
    Backend,
    LoginRefused,
    ServiceUnavailable,
    SsoRefused,
)
from service.inbox import queue_of
from service.sso import FLOW_LIFETIME
from web import labels
from web.common import (
    PageRefused,
    accounts_of,
    local_path,
    logged_in,
    password_page,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
log = get_logger(__name__)

SSO_START = "/login/kreis-konto"
SSO_ANSWER = "/login/kreis-konto/antwort"  # the redirect URI registered at the provider
SSO_FLOW_COOKIE = "sso_anmeldung"
# The page's status per refusal of a single sign-on (others: 403).
_SSO_STATUS = {"not_configured": 404, "state": 400, "aborted": 401, "token": 401}
_SSO_UNREACHABLE = (
    "Der Anmeldedienst des Kreises ist gerade nicht erreichbar. Bitte versuchen Sie es in "
    "einigen Minuten noch einmal."
)


def _login_form(
    request: Request,
    next_path: str,
    *,
    status_code: int = 200,
    username: str = "",
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    return render(
        request,
        "login.html",
        None,
        status_code=status_code,
        next=next_path,
        username=username,
        error=error,
        notice=notice,
        sso=accounts_of(request).sso is not None,
        sso_start=SSO_START,
    )


@router.get("/login")
async def login_page(request: Request, next: str = "/", grund: str = "") -> Response:
    notice = labels.LOGIN_NOTICES.get(grund)
    return _login_form(request, local_path(next), notice=notice)


@router.post("/login")
async def login(request: Request) -> Response:
    # Login CSRF: another site's form must not log a browser in here (into an account of the
    # attacker's, whose inbox the person would then fill). The login has no session cookie
    # yet, so SameOriginMiddleware does not look at it: the same rule is applied here.
    if not same_origin(request.scope):
        raise PageRefused(
            403, "Die Anmeldung ist nur über das Anmeldeformular dieser Seite möglich."
        )
    form = await request.form()
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    next_path = local_path(str(form.get("next", "/")))
    client = _client(request)
    # No account has such a name, and the failure could not even be recorded: refused
    # before the throttle looks it up.
    character = forbidden_character(username)
    try:
        if character is not None:
            raise LoginRefused("invalid")
        account = await accounts_of(request).authenticate(username, password, client=client)
    except LoginRefused as refused:
        status = 429 if refused.reason == "throttled" else 401
        return _login_form(
            request,
            next_path,
            status_code=422 if character else status,
            username="" if character else username,
            error=f"Benutzername: {describe_de(character)}" if character else refused.message,
        )
    token = await accounts_of(request).open_session(account, login="password")
    response = redirect(password_page(next_path) if account.must_change_password else next_path)
    set_session_cookie(response, token, secure=request.app.state.settings.cookie_secure)
    return response


def _redirect_uri(request: Request) -> str:
    """Where the provider sends the browser back: under ``CASE_PUBLIC_URL`` when it is set
    (behind a proxy), else under the address this request came to."""
    base = request.app.state.settings.public_url or str(request.base_url)
    return base.rstrip("/") + SSO_ANSWER


def _flow_cookie(flow: SsoFlow) -> str:
    return base64.urlsafe_b64encode(flow.model_dump_json().encode()).decode("ascii")


def _flow_of(request: Request) -> SsoFlow | None:
    raw = request.cookies.get(SSO_FLOW_COOKIE)
    if not raw or len(raw) > 4096:
        return None
    try:
        return SsoFlow.model_validate_json(base64.urlsafe_b64decode(raw.encode("ascii")))
    except (ValueError, binascii.Error, ValidationError):
        return None


def _sso_refused(request: Request, refused: SsoRefused, next_path: str) -> Response:
    log.info("single sign-on refused", reason=refused.reason, why=refused.detail)
    response = _login_form(
        request,
        next_path,
        status_code=_SSO_STATUS.get(refused.reason, 403),
        error=refused.message,
    )
    response.delete_cookie(SSO_FLOW_COOKIE, path=SSO_START, httponly=True, samesite="lax")
    return response


def _sso_unreachable(request: Request, unavailable: ServiceUnavailable, next_path: str) -> Response:
    log.warning("single sign-on: identity provider unavailable", why=unavailable.message)
    response = _login_form(request, next_path, status_code=503, error=_SSO_UNREACHABLE)
    response.headers["Retry-After"] = str(request.app.state.settings.retry_after_seconds)
    return response


@router.get(SSO_START)
async def sso_start(request: Request, next: str = "/") -> Response:
    """Off to the county's provider, with a fresh flow kept in this browser."""
    next_path = local_path(next)
    try:
        url, flow = await accounts_of(request).sso_begin(_redirect_uri(request), next_path)
    except SsoRefused as refused:
        return _sso_refused(request, refused, next_path)
    except ServiceUnavailable as unavailable:
        if unavailable.backend is not Backend.IDENTITY_PROVIDER:
            raise
        return _sso_unreachable(request, unavailable, next_path)
    response = redirect(url)
    response.set_cookie(
        SSO_FLOW_COOKIE,
        _flow_cookie(flow),
        max_age=int(FLOW_LIFETIME.total_seconds()),
        path=SSO_START,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, not on a post
        secure=request.app.state.settings.cookie_secure,
    )
    return response


@router.get(SSO_ANSWER)
async def sso_answer(request: Request) -> Response:
    """The provider's answer: the person's session, or the login page saying why not."""
    flow = _flow_of(request)
    next_path = local_path(flow.next_path) if flow else "/"
    answer = dict(request.query_params)
    accounts = accounts_of(request)
    try:
        account = await accounts.sso_login(flow, answer, _redirect_uri(request))
    except SsoRefused as refused:
        return _sso_refused(request, refused, next_path)
    except ServiceUnavailable as unavailable:
        if unavailable.backend is not Backend.IDENTITY_PROVIDER:
            raise
        return _sso_unreachable(request, unavailable, next_path)
    token = await accounts.open_session(account, login="sso")
    response = redirect(next_path)
    set_session_cookie(response, token, secure=request.app.state.settings.cookie_secure)
    response.delete_cookie(SSO_FLOW_COOKIE, path=SSO_START, httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await accounts_of(request).close_session(token)
    response = redirect("/login")
    clear_session_cookie(response)
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _with_message(path: str, message: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}meldung={message}"


def _password_form(
    request: Request,
    account: Account,
    next_path: str,
    *,
    errors: dict[str, list[str]] | None = None,
    status_code: int | None = None,
) -> Response:
    return render(
        request,
        "password.html",
        account,
        status_code=status_code or (422 if errors else 200),
        next=next_path,
        errors=errors or {},
        min_length=MIN_PASSWORD_LENGTH,
        no_local_password=NO_LOCAL_PASSWORD,
    )


@router.get(PASSWORD_PAGE)
async def password_page_form(request: Request, next: str = "") -> Response:
    account = await logged_in(request, before_password_change=True)
    return _password_form(request, account, local_path(next, ""))


@router.post(PASSWORD_PAGE)
async def change_password(request: Request) -> Response:
    """The account's own new password. A cross-site post is refused before this runs (the
    session cookie's same-origin check, :class:`api.auth.SameOriginMiddleware`)."""
    account = await logged_in(request, before_password_change=True)
    form = await request.form()
    entered = {name: str(form.get(name, "")) for name in PASSWORD_FIELDS}
    next_path = local_path(str(form.get("next", "")), "")
    try:
        await accounts_of(request).change_own_password(
            account,
            entered["current_password"],
            entered["new_password"],
            entered["new_password_repeated"],
            client=_client(request),
            keep_session=request.cookies.get(SESSION_COOKIE, ""),
        )
    except AccountError as refused:
        errors: dict[str, list[str]] = {}
        for problem in refused.fields:
            errors.setdefault(problem.field, []).append(problem.reason)
        return _password_form(
            request, account, next_path, errors=errors or {"new_password": [refused.message]}
        )
    except LoginRefused as throttled:  # too many wrong passwords for this account
        return _password_form(
            request,
            account,
            next_path,
            errors={"current_password": [throttled.message]},
            status_code=429,
        )
    # After a reset the person goes on where they were going (the start page, without a
    # goal); a change of their own choosing stays on the page, which says it is done.
    done = next_path or ("/" if account.must_change_password else PASSWORD_PAGE)
    return redirect(_with_message(done, "passwort"))


@router.get("/")
async def home(request: Request, meldung: str = "") -> Response:
    account = await logged_in(request)
    if queue_of(account.role) is not None:
        start = "/posteingang"
    elif account.role is Role.OPS:
        start = "/betrieb"
    elif account.role is Role.REPORTING:
        start = "/admin/bericht"
    else:
        start = "/admin/konten"
    # A message for the start page (after a password change) goes on with it.
    return redirect(_with_message(start, meldung) if meldung in labels.MESSAGES else start)
