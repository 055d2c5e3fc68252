"""The inbox (Posteingang) of the ABH and the KI: its views, and claiming, releasing and
handing over a task."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Role
from service.errors import Invalid, Refused
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
    try:
        view = View(ansicht)
    except ValueError:
        view = View.MINE
    try:
        page = await inbox_of(request).page(account, view, cursor=weiter)
    except Invalid:
        raise PageRefused(404, "Diese Seite des Posteingangs gibt es nicht.") from None
    names = {a.account_id: a.display_name for a in await accounts_of(request).list_accounts()}
    return render(request, "inbox.html", account, page=page, names=names)


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
    colleagues = {a.account_id: a for a in await accounts_of(request).list_accounts()}
    try:
        to = colleagues.get(int(str(form.get("an", ""))))
    except ValueError:
        to = None
    if to is None:
        raise PageRefused(422, "Bitte eine Kollegin oder einen Kollegen auswählen.")
    comment = str(form.get("kommentar", ""))
    await _assignment(inbox_of(request).hand_over(task_id, account, to, comment))
    return redirect(_with_message(_back(form, "/posteingang"), "uebergeben"))


async def _assignment(change: Any) -> None:
    try:
        await change
    except Refused as refused:
        raise refusal(refused) from None
