"""Logging in and out, one's own password (``/konto/passwort``), and ``/``: where each role
starts.

After an admin's reset the login leads to the password page, and every other page sends the
person back there (:func:`web.common.logged_in`) until they have set a password of their own.
A change ends the account's other sessions; the one it was made in goes on.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import (
    PASSWORD_PAGE,
    SESSION_COOKIE,
    clear_session_cookie,
    same_origin,
    set_session_cookie,
)
from schemas.accounts import Account, Role
from schemas.inputs import describe_de, forbidden_character
from service.accounts import MIN_PASSWORD_LENGTH, PASSWORD_FIELDS
from service.errors import AccountError, LoginRefused
from service.inbox import queue_of
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


@router.get("/login")
async def login_page(request: Request, next: str = "/", grund: str = "") -> Response:
    notice = labels.LOGIN_NOTICES.get(grund)
    return render(
        request, "login.html", None, next=local_path(next), username="", error=None, notice=notice
    )


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
        return render(
            request,
            "login.html",
            None,
            status_code=422 if character else status,
            next=next_path,
            username="" if character else username,
            error=f"Benutzername: {describe_de(character)}" if character else refused.message,
            notice=None,
        )
    token = await accounts_of(request).open_session(account)
    response = redirect(password_page(next_path) if account.must_change_password else next_path)
    set_session_cookie(response, token, secure=request.app.state.settings.cookie_secure)
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
    else:
        start = "/admin/konten"
    # A message for the start page (after a password change) goes on with it.
    return redirect(_with_message(start, meldung) if meldung in labels.MESSAGES else start)
