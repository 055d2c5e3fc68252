"""Logging in and out, and ``/``: where each role starts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import SESSION_COOKIE, clear_session_cookie, same_origin, set_session_cookie
from schemas.accounts import Role
from schemas.inputs import describe_de, forbidden_character
from service.errors import LoginRefused
from service.inbox import queue_of
from web import labels
from web.common import PageRefused, accounts_of, local_path, logged_in, redirect, render

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
    client = request.client.host if request.client else "unknown"
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
    response = redirect(next_path)
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


@router.get("/")
async def home(request: Request) -> Response:
    account = await logged_in(request)
    if queue_of(account.role) is not None:
        return redirect("/posteingang")
    if account.role is Role.OPS:
        return redirect("/betrieb")
    return redirect("/admin/konten")
