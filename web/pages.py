"""The pages: login, inbox, task forms, case pages, operations and admin.

Every page asks for the logged-in account first (none: redirect to ``/login?next=``) and
refuses with a German 403 page where the role has no business (never an empty page). Pages
that show personal data write an access-log row. URLs carry case and task ids only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError

from api.auth import (
    SESSION_COOKIE,
    clear_session_cookie,
    optional_account,
    same_origin,
    set_session_cookie,
)
from documents import LANGUAGES
from documents.texts import template_overview
from schemas.accounts import Account, Role
from schemas.documents import OfferCategory
from schemas.inputs import RowId, describe_de, forbidden_character
from schemas.local_time import BERLIN
from schemas.offers import COUNTY_TOWNS, Offer, OfferDraft
from schemas.partners import DEFAULT_ADDRESS, DEFAULT_HOURS, Partner, PartnerDraft, PartnerKind
from schemas.residence_routes import ResidenceRoutes
from service.accounts import AccountError, AccountService, LoginRefused
from service.availability import ServiceUnavailable
from service.cases import CaseService, CaseServiceError
from service.flyers import county_directories
from service.inbox import InboxError, InboxService, View, queue_of
from store import arrivals as arrival_store
from store import documents as documents_store
from store import flyers as flyer_store
from store import inbox as store
from store import offers as offer_store
from store import records
from store import repository as repo
from store.repository import Connection
from web import forms, labels
from workflows.arrival import arrival_workflow_id

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VIEW_TITLES = {
    View.MINE: "Meine Aufgaben",
    View.GROUP: "Offen in meiner Gruppe",
    View.OVERDUE: "Überfällig",
    View.THIS_WEEK: "Diese Woche fällig",
}


# ----------------------------------------------------------------- helpers


class LoginRequired(Exception):
    """No valid session. ``expired``: the browser still sent a cookie the server no longer knows
    (idle timeout, lifetime over, logged out elsewhere), so the login page can say why."""

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


class PageRefused(Exception):
    """Answer with the German error page: 403 no role for it, 404 unknown, 409 not possible."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


templates.env.filters["zeit"] = _berlin_time
templates.env.filters["datum"] = _german_date
templates.env.filters["sprache"] = lambda code: labels.label(labels.LANGUAGE_NAMES, code)
templates.env.globals.update(
    labels=labels, label=labels.label, VIEW_TITLES=VIEW_TITLES, Role=Role, View=View
)


def _routes(request: Request) -> ResidenceRoutes:
    routes: ResidenceRoutes = request.app.state.residence_routes  # read once per app
    return routes


def _accounts(request: Request) -> AccountService:
    service: AccountService = request.app.state.accounts
    return service


def _cases(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _inbox(request: Request) -> InboxService:
    return InboxService(_pool(request))


def _local(path: str | None, default: str = "/") -> str:
    """Only paths of this site: no scheme, no host, no protocol-relative ``//``."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


async def _login(request: Request, *roles: Role) -> Account:
    account = await optional_account(request)
    if account is None:
        raise LoginRequired(request.url.path, expired=bool(request.cookies.get(SESSION_COOKIE)))
    if roles and account.role not in roles:
        raise PageRefused(403, "Für diese Seite hat Ihre Rolle keine Berechtigung.")
    return account


def _page(
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


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


_ROW_ID: TypeAdapter[int] = TypeAdapter(RowId)


def _entry_id(raw: object) -> int:
    """An id of a directory entry or an account from a URL or a form. One that cannot name a
    row (not a number, beyond the int4 column) is an unknown entry: a query with it would
    fail in asyncpg."""
    try:
        return _ROW_ID.validate_python(raw)
    except ValidationError:
        raise PageRefused(404, "Diesen Eintrag gibt es nicht.") from None


def _task_id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        raise PageRefused(404, "Diese Aufgabe gibt es nicht.") from None


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------- login


@router.get("/login")
async def login_page(request: Request, next: str = "/", grund: str = "") -> Response:
    notice = labels.LOGIN_NOTICES.get(grund)
    return _page(
        request, "login.html", None, next=_local(next), username="", error=None, notice=notice
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
    next_path = _local(str(form.get("next", "/")))
    client = request.client.host if request.client else "unknown"
    # No account has such a name, and the failure could not even be recorded: refused
    # before the throttle looks it up.
    character = forbidden_character(username)
    try:
        if character is not None:
            raise LoginRefused("invalid")
        account = await _accounts(request).authenticate(username, password, client=client)
    except LoginRefused as refused:
        status = 429 if refused.reason == "throttled" else 401
        return _page(
            request,
            "login.html",
            None,
            status_code=422 if character else status,
            next=next_path,
            username="" if character else username,
            error=f"Benutzername: {describe_de(character)}" if character else refused.message,
            notice=None,
        )
    token = await _accounts(request).open_session(account)
    response = _redirect(next_path)
    set_session_cookie(response, token, secure=request.app.state.settings.cookie_secure)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await _accounts(request).close_session(token)
    response = _redirect("/login")
    clear_session_cookie(response)
    return response


@router.get("/")
async def home(request: Request) -> Response:
    account = await _login(request)
    if queue_of(account.role) is not None:
        return _redirect("/posteingang")
    if account.role is Role.OPS:
        return _redirect("/betrieb")
    return _redirect("/admin/konten")


# ------------------------------------------------------------------- inbox


@router.get("/posteingang")
async def inbox_page(request: Request, ansicht: str = View.MINE.value) -> Response:
    account = await _login(request, Role.ABH, Role.KI)
    try:
        view = View(ansicht)
    except ValueError:
        view = View.MINE
    page = await _inbox(request).page(account, view)
    names = {a.account_id: a.display_name for a in await _accounts(request).list_accounts()}
    return _page(request, "inbox.html", account, page=page, names=names)


def _back(form: Any, default: str) -> str:
    return _local(str(form.get("zurueck", "")), default)


def _with_message(url: str, code: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}meldung={code}"


@router.post("/aufgaben/{task_id}/uebernehmen")
async def claim(request: Request, task_id: str) -> Response:
    account = await _login(request, Role.ABH, Role.KI)
    form = await request.form()
    await _assignment(_inbox(request).claim(_task_id(task_id), account))
    return _redirect(_with_message(_back(form, "/posteingang"), "uebernommen"))


@router.post("/aufgaben/{task_id}/freigeben")
async def release(request: Request, task_id: str) -> Response:
    account = await _login(request, Role.ABH, Role.KI)
    form = await request.form()
    await _assignment(_inbox(request).release(_task_id(task_id), account))
    return _redirect(_with_message(_back(form, "/posteingang"), "freigegeben"))


@router.post("/aufgaben/{task_id}/uebergeben")
async def hand_over(request: Request, task_id: str) -> Response:
    account = await _login(request, Role.ABH, Role.KI)
    form = await request.form()
    task_id = _task_id(task_id)
    colleagues = {a.account_id: a for a in await _accounts(request).list_accounts()}
    try:
        to = colleagues.get(int(str(form.get("an", ""))))
    except ValueError:
        to = None
    if to is None:
        raise PageRefused(422, "Bitte eine Kollegin oder einen Kollegen auswählen.")
    comment = str(form.get("kommentar", ""))
    await _assignment(_inbox(request).hand_over(task_id, account, to, comment))
    return _redirect(_with_message(_back(form, "/posteingang"), "uebergeben"))


async def _assignment(change: Any) -> None:
    try:
        await change
    except InboxError as refused:
        raise PageRefused(refused.status, refused.message) from None


# -------------------------------------------------------------- task forms


async def _task_for(request: Request, account: Account, task_id: str) -> asyncpg.Record:
    async with _pool(request).acquire() as con:
        task = await store.task(con, task_id)
    if task is None:
        raise PageRefused(404, "Diese Aufgabe gibt es nicht.")
    queue = queue_of(account.role)
    if queue is None or task["queue"] != queue.value:
        raise PageRefused(403, "Diese Aufgabe gehört nicht zum Posteingang Ihrer Gruppe.")
    return task


async def _task_page(
    request: Request,
    account: Account,
    task: asyncpg.Record,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    unavailable: int | None = None,
    status_code: int = 200,
) -> Response:
    """``unavailable``: the completion was not confirmed; repeat after this many seconds."""
    partners = []
    if task["kind"] == "ki_contact":
        async with _pool(request).acquire() as con:
            partners = await repo.list_partners(con, task["town"])
    everyone = await _accounts(request).list_accounts()
    names = {a.account_id: a.display_name for a in everyone}
    colleagues = [
        a
        for a in everyone
        if a.active and a.role is account.role and a.account_id != account.account_id
    ]
    history = await _inbox(request).history(task["task_id"])
    consent_form = None
    if task["kind"] == "referral_consent":
        async with _pool(request).acquire() as con:
            made = await documents_store.documents_of_case(con, task["case_id"])
        consent_form = next((d for d in reversed(made) if d.kind == "einwilligung"), None)
    arrival = None
    if task["arrival_reference"] is not None:
        # Whom to hand the flyer to: the name is personal data, so the opening is logged.
        async with _pool(request).acquire() as con:
            arrival = await arrival_store.person_of_task(con, task["task_id"])
        await _accounts(request).record_access(
            account, arrival_workflow_id(task["arrival_reference"]), "Aufgabe Faltblatt"
        )
    return _page(
        request,
        "task.html",
        account,
        status_code=status_code,
        task=task,
        fields=forms.fields_for(
            task["kind"],
            _routes(request),
            _now().astimezone(BERLIN).date(),
        ),
        values=values or {},
        errors=errors or {},
        unavailable=unavailable,
        partners=partners,
        colleagues=colleagues,
        names=names,
        history=history,
        overdue=task["overdue"] or task["due_at"] < _now(),
        arrival=arrival,
        consent_form=consent_form,
    )


@router.get("/aufgaben/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    account = await _login(request, Role.ABH, Role.KI)
    task = await _task_for(request, account, _task_id(task_id))
    return await _task_page(request, account, task)


@router.post("/aufgaben/{task_id}")
async def complete_task(request: Request, task_id: str) -> Response:
    account = await _login(request, Role.ABH, Role.KI)
    task = await _task_for(request, account, _task_id(task_id))
    form = await request.form()
    kind = task["kind"]
    body = forms.parse(kind, form)
    values = {
        spec.name: form.getlist(spec.name) if spec.input == "checkboxes" else form.get(spec.name)
        for spec in forms.FORMS[kind]
    }
    completion, errors = forms.validate(body)
    # A completed task still takes the very completion it was completed with (the form sent
    # again after a 503): the case service answers that as the first time.
    if task["status"] == "cancelled" or (task["status"] != "open" and completion is None):
        raise PageRefused(409, "Die Aufgabe ist bereits abgeschlossen.")
    if completion is not None:
        try:
            await _cases(request).complete_task(task["task_id"], completion)
        except ServiceUnavailable:
            # The form again with what was entered, so nothing has to be typed twice.
            seconds = request.app.state.settings.retry_after_seconds
            page = await _task_page(
                request, account, task, values=values, unavailable=seconds, status_code=503
            )
            page.headers["Retry-After"] = str(seconds)
            return page
        except CaseServiceError as refused:
            if refused.status != 422:
                raise PageRefused(refused.status, _refusal(refused)) from None
            for error in refused.errors or []:
                errors.setdefault(error.field, []).append(labels.reason(error.field, error.reason))
            if not errors:
                errors["kind"] = [refused.message]
        else:
            if task["case_id"] is None:  # an arrival's task: no case page to go to
                return _redirect("/posteingang?meldung=ausgehaendigt")
            return _redirect(f"/faelle/{quote(task['case_id'])}?meldung=erledigt")
    return await _task_page(request, account, task, values=values, errors=errors, status_code=422)


@router.get("/aufgaben/{task_id}/faltblatt.pdf")
async def flyer_of_task(request: Request, task_id: str) -> Response:
    """The flyer a hand-over task is about, to print (ABH only; no personal data in it)."""
    account = await _login(request, Role.ABH)
    task = await _task_for(request, account, _task_id(task_id))
    async with _pool(request).acquire() as con:
        flyer_id = await arrival_store.flyer_of_task(con, task["task_id"])
        pdf = await flyer_store.flyer_pdf(con, flyer_id) if flyer_id else None
    if pdf is None:
        raise PageRefused(404, "Zu dieser Aufgabe gibt es kein Faltblatt.")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="faltblatt-{flyer_id}.pdf"'},
    )


def _refusal(error: CaseServiceError) -> str:
    if error.status == 404:
        return "Diese Aufgabe oder diesen Fall gibt es nicht."
    if error.message == "the case is closed":
        return "Der Fall ist abgeschlossen."
    return "Die Aufgabe ist bereits abgeschlossen oder entfallen."


# -------------------------------------------------------------- case pages


@router.get("/faelle/{case_id}")
async def case_page(request: Request, case_id: str) -> Response:
    account = await _login(request)
    if account.role not in (Role.ABH, Role.KI):
        raise PageRefused(403, "Ihre Rolle darf keine Fälle mit personenbezogenen Daten sehen.")
    if not _CASE_ID.fullmatch(case_id):
        raise PageRefused(404, "Diesen Fall gibt es nicht.")
    if account.role is Role.KI:
        return await _ki_case_page(request, account, case_id)
    try:
        case = await _cases(request).case_view(case_id)
    except CaseServiceError:
        raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
    async with _pool(request).acquire() as con:
        person = await records.person(con, case_id)
        supporters = await records.supporters(con, case_id)
        representative = await store.representative(con, case_id)
        tasks = await store.tasks_of_case(con, case_id)
        retention = await store.retention_of(con, case_id)
        disclosures = await records.disclosures_of_case(con, case_id)
        erasure_requests = await records.erasure_requests(con, case_id)
        case_documents = await documents_store.documents_of_case(con, case_id)
    await _accounts(request).record_access(account, case_id, "Fallseite")
    return _page(
        request,
        "case.html",
        account,
        case=case,
        person=person,
        supporters=supporters,
        representative=representative,
        open_tasks=[t for t in tasks if t["status"] == "open"],
        done_tasks=[t for t in tasks if t["status"] != "open"],
        retention=retention,
        disclosures=disclosures,
        erasure_requests=erasure_requests,
        documents=case_documents,
    )


@router.get("/faelle/{case_id}/schriftstuecke/{document_id}")
async def case_document(request: Request, case_id: str, document_id: str) -> Response:
    """A document of the case as PDF, to print and hand over; the ABH only (the KI receives
    three categories of data, and these documents hold more)."""
    account = await _login(request, Role.ABH)
    try:
        if not _CASE_ID.fullmatch(case_id):
            raise ValueError(case_id)
        wanted = UUID(document_id)
    except ValueError:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.") from None
    async with _pool(request).acquire() as con:
        pdf = await documents_store.document_pdf(con, case_id, wanted)
    if pdf is None:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.")
    await _accounts(request).record_access(account, case_id, "Schriftstück")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{document_id}.pdf"',
        },
    )


async def _ki_case_page(request: Request, account: Account, case_id: str) -> Response:
    # The same view as the KI's GET /api/v1/cases/{case_id}: what the page shows, the API does.
    try:
        view = await _cases(request).ki_case_view(case_id)
    except CaseServiceError:
        # Without a consent the KI must not even learn that the case exists.
        raise PageRefused(
            404, "Diesen Fall gibt es nicht oder er wurde dem KI nicht übermittelt."
        ) from None
    await _accounts(request).record_access(account, case_id, "Fallseite KI")
    return _page(request, "ki_case.html", account, case_id=case_id, view=view)


# -------------------------------------------------------------- operations


@router.get("/betrieb")
async def operations(request: Request) -> Response:
    account = await _login(request, Role.OPS, Role.ADMIN)
    async with _pool(request).acquire() as con:
        stages = await store.cases_per_stage(con)
        queues = await store.open_tasks_per_queue(con, _now())
        failures = await store.open_step_failures(con)
    return _page(
        request, "operations.html", account, stages=stages, queues=queues, failures=failures
    )


# ------------------------------------------------------------------- admin


async def _accounts_page(
    request: Request, account: Account, *, error: str | None = None, values: Any = None
) -> Response:
    return _page(
        request,
        "admin_accounts.html",
        account,
        status_code=422 if error else 200,
        accounts=await _accounts(request).list_accounts(),
        error=error,
        values=values or {},
    )


@router.get("/admin/konten")
async def accounts_page(request: Request) -> Response:
    account = await _login(request, Role.ADMIN)
    return await _accounts_page(request, account)


@router.post("/admin/konten")
async def create_account(request: Request) -> Response:
    account = await _login(request, Role.ADMIN)
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("username", "display_name", "role")}
    try:
        role = Role(values["role"])
        await _accounts(request).create_account(
            values["username"],
            values["display_name"],
            role,
            str(form.get("password", "")),
            by=account,
        )
    except ValueError as refused:  # AccountError is a ValueError, so is an unknown role
        message = str(refused) if isinstance(refused, AccountError) else "Bitte eine Rolle wählen."
        return await _accounts_page(request, account, error=message, values=values)
    return _redirect("/admin/konten?meldung=konto")


@router.post("/admin/konten/{account_id}/aktiv")
async def set_active(request: Request, account_id: str) -> Response:
    admin = await _login(request, Role.ADMIN)
    form = await request.form()
    wanted = _entry_id(account_id)
    try:
        await _accounts(request).set_active(wanted, form.get("aktiv") == "ja", by=admin)
    except AccountError as refused:
        raise PageRefused(404, str(refused)) from None
    return _redirect("/admin/konten?meldung=konto_geaendert")


async def _partners_page(
    request: Request,
    account: Account,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    editing: int | None = None,
) -> Response:
    async with _pool(request).acquire() as con:
        partners = await repo.list_partners(con)
    return _page(
        request,
        "admin_partners.html",
        account,
        status_code=422 if errors else 200,
        partners=partners,
        errors=errors or {},
        values=values or {"address": DEFAULT_ADDRESS, "hours": DEFAULT_HOURS},
        editing=editing,
        kinds=list(PartnerKind),
        towns=COUNTY_TOWNS,
    )


_Draft = TypeVar("_Draft", PartnerDraft, OfferDraft)
_Entry = TypeVar("_Entry", Partner, Offer)


def _form_draft(
    model: type[_Draft], form: Any, fields: tuple[str, ...], *, unset_when_empty: tuple[str, ...]
) -> tuple[_Draft | None, dict[str, Any], dict[str, list[str]]]:
    """The model from a form: the entered values (kept for the page) and German refusals per
    field. Fields in ``unset_when_empty`` left empty take the model's default."""
    values = {key: str(form.get(key, "")).strip() for key in (*fields, "languages")}
    data: dict[str, Any] = {
        key: value for key, value in values.items() if value or key not in unset_when_empty
    }
    data["languages"] = [part for part in re.split(r"[\s,]+", values["languages"]) if part]
    try:
        return model.model_validate(data), values, {}
    except ValidationError as error:
        errors: dict[str, list[str]] = {}
        for detail in error.errors():
            name = str(detail["loc"][0])
            message = labels.reason(name, detail["msg"], detail["type"])
            if name == "languages":
                message = "Sprachen als ISO-639-Kürzel, z. B. de, ar, fa."
            if message not in errors.get(name, []):
                errors.setdefault(name, []).append(message)
        return None, values, errors


def _partner_draft(form: Any) -> tuple[PartnerDraft | None, dict[str, Any], dict[str, list[str]]]:
    return _form_draft(
        PartnerDraft,
        form,
        ("name", "kind", "town", "contact", "address", "hours"),
        unset_when_empty=("address", "hours"),
    )


@router.get("/admin/partner")
async def partners_page(request: Request, bearbeiten: str | None = None) -> Response:
    account = await _login(request, Role.ADMIN)
    values: dict[str, Any] = {}
    editing = None if bearbeiten is None else _entry_id(bearbeiten)
    if editing is not None:
        partner = await _load_entry(request, repo.get_partner, editing)
        values = {**partner.model_dump(mode="json"), "languages": ", ".join(partner.languages)}
    return await _partners_page(request, account, values=values, editing=editing)


@router.post("/admin/partner")
async def save_partner(request: Request) -> Response:
    account = await _login(request, Role.ADMIN)
    form = await request.form()
    editing = _entry_id(form["partner_id"]) if form.get("partner_id") else None
    draft, values, errors = _partner_draft(form)
    if draft is not None:
        if await _save_entry(request, editing, draft, repo.add_partner, repo.update_partner):
            return _redirect("/admin/partner?meldung=partner#inhalt")
        errors = {"name": ["Diesen Namen gibt es in diesem Ort schon."]}
    return await _partners_page(request, account, errors=errors, values=values, editing=editing)


@router.post("/admin/partner/{partner_id}/entfernen")
async def remove_partner(request: Request, partner_id: str) -> Response:
    await _remove_entry(request, repo.deactivate_partner, partner_id)
    return _redirect("/admin/partner?meldung=partner_entfernt#inhalt")


async def _load_entry(
    request: Request,
    get: Callable[[Connection, int], Awaitable[_Entry | None]],
    entry_id: int,
) -> _Entry:
    """A directory entry to edit, or the 404 page."""
    async with _pool(request).acquire() as con:
        entry = await get(con, entry_id)
    if entry is None:
        raise PageRefused(404, "Diesen Eintrag gibt es nicht.")
    return entry


async def _save_entry(
    request: Request,
    editing: int | None,
    draft: _Draft,
    add: Callable[[Connection, _Draft], Awaitable[object]],
    update: Callable[[Connection, int, _Draft], Awaitable[object | None]],
) -> bool:
    """Add or change a directory entry (partner or offer); False when the name is taken."""
    try:
        async with _pool(request).acquire() as con:
            if editing is None:
                await add(con, draft)
            elif await update(con, editing, draft) is None:
                raise PageRefused(404, "Diesen Eintrag gibt es nicht.")
    except asyncpg.UniqueViolationError:
        return False
    return True


async def _remove_entry(
    request: Request, deactivate: Callable[[Connection, int], Awaitable[bool]], entry_id: str
) -> None:
    """Deactivate a directory entry: past disclosures and flyers still name it."""
    await _login(request, Role.ADMIN)
    wanted = _entry_id(entry_id)
    async with _pool(request).acquire() as con:
        if not await deactivate(con, wanted):
            raise PageRefused(404, "Diesen Eintrag gibt es nicht.")


@dataclass(frozen=True)
class TownFlyer:
    """One row of the flyer table: the town's directory now, and what is stored for it."""

    town: str
    entries: int
    directory_version: str
    made_at: datetime | None  # the first stored flyer of this directory version
    languages_made: list[str]
    versions: int  # every stored version of the town, all languages


async def _town_flyers(pool: asyncpg.Pool) -> list[TownFlyer]:
    directories = await county_directories(pool)
    async with pool.acquire() as con:
        stored = await flyer_store.list_flyers(con)
    rows = []
    for directory in directories:
        of_town = [flyer for flyer in stored if flyer.town == directory.town]
        current = [flyer for flyer in of_town if flyer.directory_version == directory.version]
        rows.append(
            TownFlyer(
                town=directory.town,
                entries=len(directory.offers),
                directory_version=directory.version,
                made_at=min((flyer.created_at for flyer in current), default=None),
                languages_made=sorted({flyer.requested_language for flyer in current}),
                versions=len(of_town),
            )
        )
    return rows


async def _offers_page(
    request: Request,
    account: Account,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    editing: int | None = None,
) -> Response:
    async with _pool(request).acquire() as con:
        offers = await offer_store.list_offers(con)
    return _page(
        request,
        "admin_offers.html",
        account,
        status_code=422 if errors else 200,
        offers=offers,
        flyers=await _town_flyers(_pool(request)),
        languages=LANGUAGES,
        errors=errors or {},
        values=values or {},
        editing=editing,
        categories=list(OfferCategory),
        towns=COUNTY_TOWNS,
    )


def _offer_draft(form: Any) -> tuple[OfferDraft | None, dict[str, Any], dict[str, list[str]]]:
    return _form_draft(
        OfferDraft,
        form,
        ("name", "category", "town", "address", "hours", "contact"),
        unset_when_empty=("town", "contact"),
    )


@router.get("/admin/angebote")
async def offers_page(request: Request, bearbeiten: str | None = None) -> Response:
    account = await _login(request, Role.ADMIN)
    values: dict[str, Any] = {}
    editing = None if bearbeiten is None else _entry_id(bearbeiten)
    if editing is not None:
        offer = await _load_entry(request, offer_store.get_offer, editing)
        values = {
            **offer.model_dump(mode="json"),
            "town": offer.town or "",
            "contact": offer.contact or "",
            "languages": ", ".join(offer.languages),
        }
    return await _offers_page(request, account, values=values, editing=editing)


@router.post("/admin/angebote")
async def save_offer(request: Request) -> Response:
    account = await _login(request, Role.ADMIN)
    form = await request.form()
    editing = _entry_id(form["offer_id"]) if form.get("offer_id") else None
    draft, values, errors = _offer_draft(form)
    if draft is not None:
        if await _save_entry(
            request, editing, draft, offer_store.add_offer, offer_store.update_offer
        ):
            return _redirect("/admin/angebote?meldung=angebot#inhalt")
        errors = {"name": ["Diesen Namen gibt es in diesem Ort (oder kreisweit) schon."]}
    return await _offers_page(request, account, errors=errors, values=values, editing=editing)


@router.post("/admin/angebote/{offer_id}/entfernen")
async def remove_offer(request: Request, offer_id: str) -> Response:
    await _remove_entry(request, offer_store.deactivate_offer, offer_id)
    return _redirect("/admin/angebote?meldung=angebot_entfernt#inhalt")


@router.get("/admin/texte")
async def texts_page(request: Request) -> Response:
    """Which texts the documents are made of, and which are reviewed by a person: drafted
    translations are printed as such, and the Bleiberechtsregelungen await legal review."""
    account = await _login(request, Role.ADMIN)
    return _page(
        request,
        "admin_texts.html",
        account,
        templates=template_overview(),
        routes=_routes(request).versions,
        review_by=_routes(request).review_by,
    )


@router.get("/admin/zugriffe")
async def access_log(request: Request, case_id: str = "") -> Response:
    account = await _login(request, Role.ADMIN)
    case_id = case_id.strip()
    entries = []
    if case_id and _CASE_ID.fullmatch(case_id):
        entries = await _accounts(request).access_log(case_id)
    return _page(request, "admin_access.html", account, case_id=case_id, entries=entries)


# ----------------------------------------------------------------- install


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    url = "/login?next=" + quote(_local(exc.next_path), safe="/")
    if not exc.expired:
        return _redirect(url)
    # The stale cookie goes, so the next request is plainly anonymous, not "expired" again.
    response = _redirect(url + "&grund=abgelaufen")
    clear_session_cookie(response)
    return response


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
    response = _page(request, "error.html", None, status_code=503, status=503, text=text)
    response.headers["Retry-After"] = str(seconds)
    return response


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    account = await optional_account(request)
    return _page(
        request, "error.html", account, status_code=exc.status, status=exc.status, text=exc.message
    )


def install(app: FastAPI) -> None:
    """Add the pages, ``/static`` and the German error pages to the app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageRefused, _refused)
