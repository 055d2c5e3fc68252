"""The inbox (Posteingang) of the ABH and the KI: its views, claiming, releasing and handing
over a task, and a team lead's reassignment of the selected tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from schemas.accounts import Account, Role
from schemas.reassignment import TaskReassignment
from service.errors import Conflict, Forbidden, Invalid, Refused
from service.inbox import View
from web.common import (
    PageRefused,
    accounts_of,
    inbox_of,
    local_path,
    logged_in,
    parse_task_id,
    redirect,
    refusal,
    render,
)

router = APIRouter(include_in_schema=False)


@router.get("/posteingang")
async def inbox_page(
    request: Request, ansicht: str = View.MINE.value, weiter: str | None = None
) -> Response:
    """A view of the inbox, a page at a time (``weiter``: where the previous page ended)."""
    account = await logged_in(request, Role.ABH, Role.KI)
    return await _inbox(request, account, ansicht, weiter)


async def _inbox(
    request: Request,
    account: Account,
    ansicht: str,
    weiter: str | None,
    *,
    refused: str | None = None,
    status_code: int = 200,
    selected: frozenset[str] = frozenset(),
    values: dict[str, str] | None = None,
) -> Response:
    """The inbox page; ``refused``: why the team lead's reassignment was not carried out
    (the selection and the form's values are kept)."""
    try:
        view = View(ansicht)
    except ValueError:
        view = View.MINE
    if not view.open_to(account):
        view = View.MINE
    try:
        page = await inbox_of(request).page(account, view, cursor=weiter)
    except Invalid:
        raise PageRefused(404, "Diese Seite des Posteingangs gibt es nicht.") from None
    names = {a.account_id: a.display_name for a in await accounts_of(request).list_accounts()}
    colleagues = await inbox_of(request).colleagues(account) if account.team_lead else []
    return render(
        request,
        "inbox.html",
        account,
        status_code=status_code,
        page=page,
        names=names,
        colleagues=colleagues,
        refused=refused,
        selected=selected,
        values=values or {},
        weiter=weiter,
    )


# A refusal of the reassignment, in German, by kind (the service's messages are English).
_REASSIGN_REFUSALS: dict[type[Refused], str] = {
    Forbidden: "Nur die Teamleitung weist Aufgaben gesammelt zu, und nur Aufgaben der eigenen "
    "Gruppe. Es wurde nichts geändert.",
    Conflict: "Mindestens eine ausgewählte Aufgabe ist inzwischen erledigt oder entfallen. Es "
    "wurde nichts geändert; bitte die Auswahl prüfen.",
}
_REASSIGN_FIELDS = {
    "task_ids": "Mindestens eine ausgewählte Aufgabe gibt es nicht mehr. Es wurde nichts geändert.",
    "assignee": "Bitte eine aktive Kollegin oder einen aktiven Kollegen der eigenen Gruppe wählen.",
    "comment": "Der Kommentar darf höchstens 500 Zeichen und keine Steuerzeichen enthalten.",
}


@router.post("/posteingang/zuweisen")
async def reassign(request: Request) -> Response:
    """The team lead's form: the selected tasks (``aufgabe``, the checkboxes) to a colleague
    (``an``, an account id) or, empty, back to the group; one transaction, all or none.
    Refused, the inbox comes back with the reason at the form and the selection kept."""
    account = await logged_in(request, Role.ABH, Role.KI)
    if not account.team_lead:
        raise PageRefused(403, _REASSIGN_REFUSALS[Forbidden])
    form = await request.form()
    selected = [str(value) for value in form.getlist("aufgabe")]
    values = {name: str(form.get(name, "")).strip() for name in ("an", "kommentar")}
    try:
        view = View(str(form.get("ansicht", "")))
    except ValueError:
        view = View.TEAM
    weiter = str(form.get("weiter", "")) or None

    async def again(text: str, status_code: int = 422) -> Response:
        return await _inbox(
            request,
            account,
            view.value,
            weiter,
            refused=text,
            status_code=status_code,
            selected=frozenset(selected),
            values=values,
        )

    if not selected:
        return await again("Bitte mindestens eine Aufgabe auswählen (Kästchen „Auswählen“).")
    data = {
        "task_ids": selected,
        "assignee": values["an"] or None,
        "comment": values["kommentar"] or None,
    }
    try:
        done = await inbox_of(request).reassign(account, TaskReassignment.model_validate(data))
    except ValidationError as error:
        field = str(error.errors()[0]["loc"][0])
        return await again(_REASSIGN_FIELDS.get(field, _REASSIGN_FIELDS["task_ids"]))
    except Invalid as refused:
        field = refused.fields[0].field.split(".")[0] if refused.fields else "task_ids"
        return await again(_REASSIGN_FIELDS.get(field, _REASSIGN_FIELDS["task_ids"]))
    except Refused as refused:
        page = refusal(refused, _REASSIGN_REFUSALS)
        return await again(page.message, page.status)
    code = "freigegeben_alle" if done.assignee is None else "zugewiesen_alle"
    return redirect(f"/posteingang?ansicht={view.value}&meldung={code}")


def _back(form: Any, default: str) -> str:
    return local_path(str(form.get("zurueck", "")), default)


def _with_message(url: str, code: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}meldung={code}"


@router.post("/aufgaben/{task_id}/uebernehmen")
async def claim(request: Request, task_id: str) -> Response:
    """Claiming a task opens it: the caseworker goes on with it."""
    account = await logged_in(request, Role.ABH, Role.KI)
    task = parse_task_id(task_id)
    await _assignment(inbox_of(request).claim(task, account))
    return redirect(f"/aufgaben/{task}?meldung=uebernommen")


@router.post("/aufgaben/{task_id}/vertreten")
async def deputise(request: Request, task_id: str) -> Response:
    """A colleague takes an absent one's task (with the reason), and goes on with it."""
    account = await logged_in(request, Role.ABH, Role.KI)
    task = parse_task_id(task_id)
    form = await request.form()
    await _assignment(inbox_of(request).deputise(task, account, str(form.get("grund", ""))))
    return redirect(f"/aufgaben/{task}?meldung=vertreten")


@router.post("/aufgaben/{task_id}/freigeben")
async def release(request: Request, task_id: str) -> Response:
    account = await logged_in(request, Role.ABH, Role.KI)
    form = await request.form()
    await _assignment(inbox_of(request).release(parse_task_id(task_id), account))
    return redirect(_with_message(_back(form, "/posteingang"), "freigegeben"))


@router.post("/aufgaben/{task_id}/uebergeben")
async def hand_over(request: Request, task_id: str) -> Response:
    account = await logged_in(request, Role.ABH, Role.KI)
    form = await request.form()
    task_id = parse_task_id(task_id)
    try:
        to = int(str(form.get("an", "")))
    except ValueError:
        raise PageRefused(422, "Bitte eine Kollegin oder einen Kollegen auswählen.") from None
    comment = str(form.get("kommentar", ""))
    await _assignment(inbox_of(request).hand_over(task_id, account, to, comment))
    return redirect(_with_message(_back(form, "/posteingang"), "uebergeben"))


async def _assignment(change: Any) -> None:
    try:
        await change
    except Refused as refused:
        raise refusal(refused) from None
