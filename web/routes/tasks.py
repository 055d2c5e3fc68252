"""A task's form: showing it, completing it (again after a 503), and the flyer of a hand-over
task."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.accounts import Account, Role
from schemas.local_time import BERLIN
from service.errors import (
    CaseClosed,
    Invalid,
    NotFound,
    Refused,
    RulesChanged,
    ServiceUnavailable,
)
from service.inbox import TaskDetail
from web import forms, labels
from web.common import (
    PageRefused,
    access_of,
    accounts_of,
    cases_of,
    directory_of,
    flyers_of,
    inbox_of,
    logged_in,
    now,
    parse_task_id,
    redirect,
    refusal,
    render,
    rules_of,
)

router = APIRouter(include_in_schema=False)

# A completion the case service refused, in the task form's words (the first kind that fits).
_COMPLETION_REFUSED: dict[type[Refused], str] = {
    NotFound: "Diese Aufgabe oder diesen Fall gibt es nicht.",
    CaseClosed: "Der Fall ist abgeschlossen.",
    Refused: "Die Aufgabe ist bereits abgeschlossen oder entfallen.",
}


async def _task_for(request: Request, account: Account, task_id: str) -> TaskDetail:
    try:
        return await inbox_of(request).task(account, task_id)
    except Refused as refused:
        raise refusal(refused) from None


async def _task_page(
    request: Request,
    account: Account,
    task: TaskDetail,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    unavailable: int | None = None,
    status_code: int = 200,
) -> Response:
    """``unavailable``: the completion was not confirmed; repeat after this many seconds."""
    choice = None
    if task.kind == "ki_contact" and task.case_id is not None and task.town is not None:
        choice = await directory_of(request).partners_for(task.town, task.case_id)
    everyone = await accounts_of(request).list_accounts()
    names = {a.account_id: a.display_name for a in everyone}
    colleagues = [
        a
        for a in everyone
        if a.active and a.role is account.role and a.account_id != account.account_id
    ]
    history = await inbox_of(request).history(task.task_id)
    consent_form = None
    if task.kind == "referral_consent" and task.case_id is not None:
        consent_form = await inbox_of(request).consent_form(task.case_id)
    context = None
    if task.case_id is not None:
        # Who the person is: personal data, so the opening is logged.
        context = await access_of(request).task_context(account, task.case_id, "Aufgabe")
    arrival = None
    if task.arrival_reference is not None:
        # Whom to hand the flyer to: the name is personal data, so the opening is logged.
        arrival = await access_of(request).arrival_person(
            account, task.task_id, task.arrival_reference, "Aufgabe Faltblatt"
        )
    # The routes of the rule-set version in force; the form sends its number back, so the
    # case checks the conversation against the very version it showed.
    rules = await rules_of(request).in_force()
    return render(
        request,
        "task.html",
        account,
        status_code=status_code,
        task=task,
        rule_version=rules.version,
        fields=forms.fields_for(
            task.kind,
            rules.content.residence_routes,
            now().astimezone(BERLIN).date(),
        ),
        values=values or {},
        errors=errors or {},
        unavailable=unavailable,
        partners=choice.partners if choice else [],
        partner_choice=choice,
        colleagues=colleagues,
        names=names,
        history=history,
        overdue=task.overdue or task.due_at < now(),
        arrival=arrival,
        context=context,
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
    kind = task.kind
    body = forms.parse(kind, form)
    values = {
        spec.name: form.getlist(spec.name) if spec.input == "checkboxes" else form.get(spec.name)
        for spec in forms.FORMS[kind]
    }
    completion, errors = forms.validate(body)
    shown = str(form.get("rule_version", ""))
    # Only the conversation's form shows what a version says (its routes).
    rule_version = (
        int(shown)
        if kind == "information_conversation" and shown.isdigit() and len(shown) < 9
        else None
    )
    # A completed task still takes the very completion it was completed with (the form sent
    # again after a 503): the case service answers that as the first time.
    if task.status == "cancelled" or (task.status != "open" and completion is None):
        raise PageRefused(409, "Die Aufgabe ist bereits abgeschlossen.")
    if completion is not None:
        try:
            await cases_of(request).complete_task(
                task.task_id, completion, rule_version=rule_version
            )
        except ServiceUnavailable:
            # The form again with what was entered, so nothing has to be typed twice.
            seconds = request.app.state.settings.retry_after_seconds
            page = await _task_page(
                request, account, task, values=values, unavailable=seconds, status_code=503
            )
            page.headers["Retry-After"] = str(seconds)
            return page
        except RulesChanged as refused:
            # The form again, with the routes of the version in force now.
            errors[forms.RULES_FIELD] = [refused.message]
            return await _task_page(
                request, account, task, values=values, errors=errors, status_code=409
            )
        except Invalid as refused:
            for error in refused.fields:
                name = forms.input_of(error.field)
                errors.setdefault(name, []).append(labels.reason(name, error.reason))
            if not errors:
                errors["kind"] = [refused.message]
        except Refused as refused:
            raise refusal(refused, _COMPLETION_REFUSED) from None
        else:
            if task.case_id is None:  # an arrival's task: no case page to go to
                return redirect("/posteingang?meldung=ausgehaendigt")
            return redirect(f"/faelle/{quote(task.case_id)}?meldung=erledigt")
    return await _task_page(request, account, task, values=values, errors=errors, status_code=422)


@router.get("/aufgaben/{task_id}/faltblatt.pdf")
async def flyer_of_task(request: Request, task_id: str) -> Response:
    """The flyer a hand-over task is about, to print (ABH only; no personal data in it)."""
    account = await logged_in(request, Role.ABH)
    task = await _task_for(request, account, parse_task_id(task_id))
    found = await flyers_of(request).of_task(task.task_id)
    if found is None:
        raise PageRefused(404, "Zu dieser Aufgabe gibt es kein Faltblatt.")
    return Response(
        found.pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{found.file_name}"'},
    )
