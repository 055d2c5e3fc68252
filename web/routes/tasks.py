"""A task's form: showing it, completing it (again after a 503), and the flyer of a hand-over
task."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Account, Role
from schemas.local_time import BERLIN
from service.availability import ServiceUnavailable
from service.cases import CaseServiceError
from service.inbox import queue_of
from store import arrivals as arrival_store
from store import documents as documents_store
from store import flyers as flyer_store
from store import inbox as store
from store import repository as repo
from web import forms, labels
from web.common import (
    PageRefused,
    accounts_of,
    cases_of,
    inbox_of,
    logged_in,
    now,
    parse_task_id,
    pool_of,
    redirect,
    render,
    residence_routes_of,
)
from workflows.arrival import arrival_workflow_id

router = APIRouter(include_in_schema=False)


async def _task_for(request: Request, account: Account, task_id: str) -> asyncpg.Record:
    async with pool_of(request).acquire() as con:
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
        async with pool_of(request).acquire() as con:
            partners = await repo.list_partners(con, task["town"])
    everyone = await accounts_of(request).list_accounts()
    names = {a.account_id: a.display_name for a in everyone}
    colleagues = [
        a
        for a in everyone
        if a.active and a.role is account.role and a.account_id != account.account_id
    ]
    history = await inbox_of(request).history(task["task_id"])
    consent_form = None
    if task["kind"] == "referral_consent":
        async with pool_of(request).acquire() as con:
            made = await documents_store.documents_of_case(con, task["case_id"])
        consent_form = next((d for d in reversed(made) if d.kind == "einwilligung"), None)
    arrival = None
    if task["arrival_reference"] is not None:
        # Whom to hand the flyer to: the name is personal data, so the opening is logged.
        async with pool_of(request).acquire() as con:
            arrival = await arrival_store.person_of_task(con, task["task_id"])
        await accounts_of(request).record_access(
            account, arrival_workflow_id(task["arrival_reference"]), "Aufgabe Faltblatt"
        )
    return render(
        request,
        "task.html",
        account,
        status_code=status_code,
        task=task,
        fields=forms.fields_for(
            task["kind"],
            residence_routes_of(request),
            now().astimezone(BERLIN).date(),
        ),
        values=values or {},
        errors=errors or {},
        unavailable=unavailable,
        partners=partners,
        colleagues=colleagues,
        names=names,
        history=history,
        overdue=task["overdue"] or task["due_at"] < now(),
        arrival=arrival,
        consent_form=consent_form,
    )


@router.get("/aufgaben/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    account = await logged_in(request, Role.ABH, Role.KI)
    task = await _task_for(request, account, parse_task_id(task_id))
    return await _task_page(request, account, task)


@router.post("/aufgaben/{task_id}")
async def complete_task(request: Request, task_id: str) -> Response:
    account = await logged_in(request, Role.ABH, Role.KI)
    task = await _task_for(request, account, parse_task_id(task_id))
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
            await cases_of(request).complete_task(task["task_id"], completion)
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
                return redirect("/posteingang?meldung=ausgehaendigt")
            return redirect(f"/faelle/{quote(task['case_id'])}?meldung=erledigt")
    return await _task_page(request, account, task, values=values, errors=errors, status_code=422)


@router.get("/aufgaben/{task_id}/faltblatt.pdf")
async def flyer_of_task(request: Request, task_id: str) -> Response:
    """The flyer a hand-over task is about, to print (ABH only; no personal data in it)."""
    account = await logged_in(request, Role.ABH)
    task = await _task_for(request, account, parse_task_id(task_id))
    async with pool_of(request).acquire() as con:
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
