"""The case pages: the ABH's full page, the KI's view of a consented case, and a case's
documents as PDF. Every opening is written to the access log."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from api.uploads import read_upload
from schemas.accounts import Account, Role
from schemas.attachments import AttachmentDraft
from schemas.case import (
    ConsentWithdrawal,
    DeadlineExtension,
    KiCaseView,
    Reopening,
    RouteFailure,
    Stage,
    SupporterReport,
)
from schemas.case_list import CaseQuery, CaseSort
from schemas.departure import DepartureKind, DepartureRecord, ProofKind, ReturnProgramme
from schemas.events import ResidenceStatus
from schemas.notes import NoteDraft
from schemas.offers import COUNTY_TOWNS
from service.errors import CaseClosed, Conflict, Damaged, Invalid, NotFound
from web import labels
from web.common import (
    CASE_ID,
    PageRefused,
    access_of,
    attachments_of,
    cases_of,
    logged_in,
    notes_of,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)


@router.get("/faelle/{case_id}")
async def case_page(request: Request, case_id: str) -> Response:
    account = await logged_in(request)
    if account.role not in (Role.ABH, Role.KI):
        raise PageRefused(403, "Ihre Rolle darf keine Fälle mit personenbezogenen Daten sehen.")
    if not CASE_ID.fullmatch(case_id):
        raise PageRefused(404, "Diesen Fall gibt es nicht.")
    if account.role is Role.KI:
        return await _ki_case_page(request, account, case_id)
    return await _abh_case_page(request, account, case_id)


async def _abh_case_page(
    request: Request,
    account: Account,
    case_id: str,
    refused: RefusedForm | None = None,
) -> Response:
    """``refused``: the form of the page that was sent and refused (answered 422)."""
    try:
        found = await access_of(request).case_file(account, case_id, "Fallseite")
        # Part of the page whose opening was just logged.
        attachments = await attachments_of(request).attachments(account, case_id, None)
    except NotFound:
        raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
    return render(
        request,
        "case.html",
        account,
        status_code=422 if refused else 200,
        **_form_context(refused),
        case=found.case,
        person=found.person,
        supporters=found.supporters,
        representative=found.representative,
        open_tasks=[t for t in found.tasks if t.status == "open"],
        done_tasks=[t for t in found.tasks if t.status != "open"],
        retention=found.retention,
        disclosures=found.disclosures,
        erasure_requests=found.erasure_requests,
        documents=found.documents,
        children=found.children,
        notes=found.notes,
        attachments=attachments,
        attachment_max_bytes=attachments_of(request).max_bytes,
    )


@router.get("/faelle/{case_id}/schriftstuecke/{document_id}")
async def case_document(request: Request, case_id: str, document_id: str) -> Response:
    """A document of the case as PDF, to print and hand over; the ABH only (the KI receives
    three categories of data, and these documents hold more)."""
    account = await logged_in(request, Role.ABH)
    try:
        if not CASE_ID.fullmatch(case_id):
            raise ValueError(case_id)
        wanted = UUID(document_id)
    except ValueError:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.") from None
    try:
        found = await access_of(request).document_pdf(account, case_id, wanted, "Schriftstück")
    except NotFound:
        raise PageRefused(404, "Dieses Schriftstück gibt es nicht.") from None
    return Response(
        found.pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{found.file_name}"',
        },
    )


@dataclass(frozen=True)
class RefusedForm:
    """A form of a case page that was sent and refused: its name, what was entered, and the
    German refusals per field (``form``: of the form as a whole)."""

    action: str
    values: dict[str, str]
    errors: dict[str, list[str]]


def _form_context(
    refused: RefusedForm | None, actions: dict[str, CaseAction] | None = None
) -> dict[str, object]:
    """What a case page's template needs of its forms: which it offers, and the refused one."""
    return {
        "actions": ACTIONS if actions is None else actions,
        "action": refused.action if refused else None,
        "values": refused.values if refused else {},
        "errors": refused.errors if refused else {},
    }


@dataclass(frozen=True)
class CaseAction:
    """A form of the case page: what it records, who may send it, and the German words for
    a refusal of its kind (a refusal with fields is shown at them)."""

    title: str
    model: type[BaseModel]
    roles: frozenset[Role]
    done: str  # the message code after it (labels.MESSAGES)
    refused: str  # a Conflict: why the case cannot take it now
    # A field chosen from a list: its values and their German words (a select).
    choices: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    hints: dict[str, str] = dataclasses.field(default_factory=dict)  # help beside a field
    note: str | None = None  # said at the top of the form
    # What a missing field of this form says (a field name other forms use too: "kind").
    missing: dict[str, str] = dataclasses.field(default_factory=dict)
    closed: bool = False  # offered on a closed case (the others: on an open one)


def _words(values: Iterable[StrEnum], words: dict[str, str]) -> dict[str, str]:
    """The German words of an enum's values, in its order."""
    return {value.value: words.get(value.value, value.value) for value in values}


ACTIONS: dict[str, CaseAction] = {
    "notiz": CaseAction(
        "Notiz hinzufügen",
        NoteDraft,
        frozenset({Role.ABH}),
        "notiz_gespeichert",
        "Die Notiz konnte nicht gespeichert werden.",
    ),
    "ausreisefrist": CaseAction(
        "Ausreisefrist verlängern (§ 59 Abs. 1 AufenthG)",
        DeadlineExtension,
        frozenset({Role.ABH}),
        "frist_verlaengert",
        "Die Ausreisefrist kann jetzt nicht verlängert werden: Während eine Abschiebung "
        "geplant ist, entscheidet die ABH in ihrer Aufgabe.",
    ),
    "bleiberechtsweg": CaseAction(
        "Bleiberechtsweg gescheitert",
        RouteFailure,
        frozenset({Role.ABH}),
        "weg_gescheitert",
        "In diesem Fall wird gerade kein Bleiberechtsweg verfolgt.",
    ),
    "unterstuetzer": CaseAction(
        "Unterstützer*in oder Bevollmächtigte*n melden",
        SupporterReport,
        frozenset({Role.ABH, Role.KI}),
        "unterstuetzer_gemeldet",
        "Die Meldung konnte nicht aufgenommen werden.",
    ),
    "ausreise": CaseAction(
        "Ausreise erfassen",
        DepartureRecord,
        frozenset({Role.ABH}),
        "ausreise_erfasst",
        "Die Ausreise kann in diesem Fall nicht erfasst werden.",
        choices={
            "kind": _words(DepartureKind, labels.DEPARTURE_KINDS),
            "programme": _words(ReturnProgramme, labels.RETURN_PROGRAMMES),
            "proof": _words(ProofKind, labels.PROOF_KINDS),
        },
        missing={
            "kind": "Bitte angeben, wie die Person das Land verlassen hat.",
            "proof": "Bitte den Nachweis der Ausreise wählen.",
        },
        hints={
            "programme": "Nur bei einer Ausreise mit Rückkehrförderung.",
            "crossed_on": "Der Tag des Grenzübertritts; nicht in der Zukunft.",
            "place": "Bei der Grenzübertrittsbescheinigung: Grenzübergang oder Flughafen.",
            "description": "Bei einem anderen Nachweis, z. B. Bestätigung der Botschaft.",
        },
        note="Wie bei einer Meldung „ausgereist“ aus dem Fachverfahren: Der Fall schließt "
        "(freiwillig ausgereist, oder abgeschoben bzw. überstellt); ist das Ergebnis einer "
        "Abschiebung noch offen, wartet er auf dessen Erfassung.",
    ),
    "wiedereroeffnung": CaseAction(
        "Fall wieder eröffnen",
        Reopening,
        frozenset({Role.ABH}),
        "wieder_eroeffnet",
        "Nur ein abgeschlossener, nicht gelöschter Fall kann wieder eröffnet werden (ein "
        "gelöschter Fall wird unter einem neuen Aktenzeichen eröffnet).",
        choices={
            "status": _words(
                (ResidenceStatus.AUSREISEPFLICHTIG, ResidenceStatus.GEDULDET),
                labels.RESIDENCE_STATUSES,
            )
        },
        missing={"status": "Bitte den neuen Aufenthaltsstatus wählen."},
        hints={
            "effective_date": "Der Tag, an dem die neue Entscheidung wirksam wurde.",
            "departure_deadline": "Die Ausreisefrist der neuen Entscheidung (bei einer "
            "Duldung oft keine); nicht vor dem Wirksamwerden.",
        },
        note="Eine neue Ausreisepflicht: Der Fall geht unter demselben Aktenzeichen weiter, "
        "mit der Person und dem Haushalt, wie die Fallakte sie führt.",
        closed=True,
    ),
    "widerruf": CaseAction(
        "Widerruf der Einwilligung erfassen (Art. 7 Abs. 3 DSGVO)",
        ConsentWithdrawal,
        frozenset({Role.ABH}),
        "widerruf_erfasst",
        "Es gibt keine unterschriebene Einwilligung, die widerrufen werden könnte (oder sie "
        "ist schon widerrufen).",
    ),
}


@router.post("/faelle/{case_id}/aktionen/{name}")
async def case_action(request: Request, case_id: str, name: str) -> Response:
    """One of the case page's forms: what the API lets the role do to a case, on the page."""
    account = await logged_in(request, Role.ABH, Role.KI)
    action = ACTIONS.get(name)
    if action is None or not CASE_ID.fullmatch(case_id):
        raise PageRefused(404, "Diese Seite gibt es nicht.")
    if account.role not in action.roles:
        raise PageRefused(403, "Ihre Rolle darf das in diesem Fall nicht.")
    form = await request.form()
    fields = action.model.model_fields
    values = {field: str(form.get(field, "")).strip() for field in fields}
    data: dict[str, object] = {key: value for key, value in values.items() if value}
    if "is_representative" in fields:
        data["is_representative"] = form.get("is_representative") == "on"
    errors: dict[str, list[str]] = {}
    try:
        entry = action.model.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            field = str(detail["loc"][0])
            text = labels.reason(field, detail["msg"], detail["type"])
            if detail["type"] == "missing":
                text = action.missing.get(field, text)
            errors.setdefault(field, []).append(text)
    else:
        try:
            await _carry_out(request, account, case_id, entry)
        except NotFound:
            raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
        except Invalid as refused:
            for fault in refused.fields:
                errors.setdefault(fault.field, []).append(labels.reason(fault.field, fault.reason))
        except CaseClosed:
            errors["form"] = ["Der Fall ist abgeschlossen."]
        except Conflict:
            errors["form"] = [action.refused]
        else:
            return redirect(f"/faelle/{quote(case_id)}?meldung={action.done}")
    page = _ki_case_page if account.role is Role.KI else _abh_case_page
    return await page(request, account, case_id, RefusedForm(name, values, errors))


async def _carry_out(request: Request, account: Account, case_id: str, entry: BaseModel) -> None:
    cases = cases_of(request)
    if isinstance(entry, DeadlineExtension):
        await cases.extend_deadline(case_id, entry)
    elif isinstance(entry, RouteFailure):
        await cases.record_route_failure(case_id, entry)
    elif isinstance(entry, SupporterReport):
        await cases.register_supporter(case_id, entry, account)
    elif isinstance(entry, ConsentWithdrawal):
        await cases.withdraw_consent(case_id, entry)
    elif isinstance(entry, NoteDraft):
        await notes_of(request).add(account, case_id, entry)
    elif isinstance(entry, DepartureRecord):
        await cases.record_departure(account, case_id, entry)
    elif isinstance(entry, Reopening):
        await cases.reopen(account, case_id, entry)


_NO_ATTACHMENT = "Diese Anlage gibt es nicht."
ATTACHMENT_FORM = "anlage"  # the name of the attachment form in RefusedForm


@router.post("/faelle/{case_id}/anlagen")
async def add_attachment(request: Request, case_id: str) -> Response:
    """The case page's upload form (multipart): refused like the page's other forms, with
    the page again (422) and the reasons at the fields."""
    account = await logged_in(request, Role.ABH, Role.KI)
    if not CASE_ID.fullmatch(case_id):
        raise PageRefused(404, "Diesen Fall gibt es nicht.")
    service = attachments_of(request)
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    try:
        form = await read_upload(request, service.max_bytes, ("kind", "description"))
    except Invalid as refused:
        _add_refusals(errors, refused)
    else:
        values = form.fields
        draft: AttachmentDraft | None = None
        try:
            draft = AttachmentDraft.model_validate({k: v for k, v in values.items() if v})
        except ValidationError as error:
            for detail in error.errors():
                field = str(detail["loc"][0])
                errors.setdefault(field, []).append(
                    labels.reason(field, detail["msg"], detail["type"])
                )
        if form.upload is None:
            errors.setdefault("file", []).append(labels.reason("file", "required"))
        if draft is not None and form.upload is not None:
            try:
                await service.add(account, case_id, draft, form.upload)
            except NotFound:
                raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
            except Invalid as refused:
                _add_refusals(errors, refused)
            except Conflict:
                errors["form"] = [
                    "Die Daten dieses Falls sind gelöscht: Es kommen keine Anlagen mehr hinzu."
                ]
            else:
                return redirect(f"/faelle/{quote(case_id)}?meldung=anlage_gespeichert")
    page = _ki_case_page if account.role is Role.KI else _abh_case_page
    return await page(request, account, case_id, RefusedForm(ATTACHMENT_FORM, values, errors))


def _add_refusals(errors: dict[str, list[str]], refused: Invalid) -> None:
    """A service's refusal at its fields; one about the whole body is the form's."""
    for fault in refused.fields:
        field = "form" if fault.field == "body" else fault.field
        errors.setdefault(field, []).append(labels.reason(fault.field, fault.reason))


@router.get("/faelle/{case_id}/anlagen/{attachment_id}")
async def attachment_file(request: Request, case_id: str, attachment_id: str) -> Response:
    """An attachment's file, to save (never shown inline); every download is logged."""
    account = await logged_in(request, Role.ABH, Role.KI)
    try:
        if not CASE_ID.fullmatch(case_id):
            raise ValueError(case_id)
        wanted = UUID(attachment_id)
    except ValueError:
        raise PageRefused(404, _NO_ATTACHMENT) from None
    try:
        found = await attachments_of(request).file(account, case_id, wanted, "Anlage")
    except NotFound:
        raise PageRefused(404, _NO_ATTACHMENT) from None
    except Damaged:
        raise PageRefused(
            409,
            "Diese Anlage lässt sich nicht öffnen: Ihre gespeicherten Daten sind beschädigt. "
            "Bitte melden Sie das dem Betrieb; laden Sie das Papier bei Bedarf erneut hoch.",
        ) from None
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{found.file_name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _ki_case_page(
    request: Request,
    account: Account,
    case_id: str,
    refused: RefusedForm | None = None,
) -> Response:
    # The same view as the KI's GET /api/v1/cases/{case_id}: what the page shows, the API does.
    try:
        view = await access_of(request).case(account, case_id, "Fallseite KI")
    except NotFound:
        # Without a consent the KI must not even learn that the case exists.
        raise PageRefused(
            404, "Diesen Fall gibt es nicht oder er wurde dem KI nicht übermittelt."
        ) from None
    assert isinstance(view, KiCaseView)  # what the KI's role sees
    try:
        attachments = await attachments_of(request).attachments(account, case_id, None)
    except NotFound:  # the consent was withdrawn in between
        raise PageRefused(
            404, "Diesen Fall gibt es nicht oder er wurde dem KI nicht übermittelt."
        ) from None
    return render(
        request,
        "ki_case.html",
        account,
        case_id=case_id,
        view=view,
        attachments=attachments,
        attachment_max_bytes=attachments_of(request).max_bytes,
        status_code=422 if refused else 200,
        **_form_context(refused, {"unterstuetzer": ACTIONS["unterstuetzer"]}),
    )


# The list's columns: how each is sorted (schemas.case_list.CaseSort) and its German heading.
CASE_LIST_COLUMNS: tuple[tuple[str, CaseSort | None], ...] = (
    ("Fall", CaseSort.CASE_ID),
    ("Name", CaseSort.NAME),
    ("Geburtsdatum", None),
    ("Ort", CaseSort.TOWN),
    ("Phase", CaseSort.STAGE),
    ("Ausreisefrist", CaseSort.DEPARTURE_DEADLINE),
    ("Nächste Fälligkeit", CaseSort.NEXT_DUE),
    ("Eröffnet", CaseSort.OPENED),
)
_FILTERS = ("q", "born_on", "town", "stage", "deadline_before", "sort", "limit")
_CHECKBOXES = ("open_only", "overdue", "mine", "descending")


@router.get("/faelle")
async def case_list(request: Request) -> Response:
    """Find a case and the case list: search, filters, sortable columns, a page at a time."""
    account = await logged_in(request, Role.ABH, Role.KI)
    params = request.query_params
    values = {name: params.get(name, "").strip() for name in (*_FILTERS, "cursor")}
    checked = {name for name in _CHECKBOXES if params.get(name) == "on"}
    data: dict[str, object] = {name: value for name, value in values.items() if value}
    data["open_only"] = "open_only" in checked
    data["descending"] = "descending" in checked
    if "overdue" in checked:
        data["overdue"] = True
    if "mine" in checked:
        data["assigned_to"] = account.account_id
    errors: dict[str, list[str]] = {}
    page = None
    try:
        query = CaseQuery.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            name = str(detail["loc"][0])
            errors.setdefault(name, []).append(labels.reason(name, detail["msg"], detail["type"]))
    else:
        page = await access_of(request).list_cases(account, query)
    # The links of the page keep its search and filters (the cursor is the page's own).
    kept = [(name, value) for name, value in values.items() if value and name != "cursor"]
    kept += [(name, "on") for name in sorted(checked)]
    return render(
        request,
        "case_list.html",
        account,
        status_code=422 if errors else 200,
        page=page,
        values=values,
        checked=checked,
        errors=errors,
        next_href=_href(kept, cursor=page.next_cursor) if page and page.next_cursor else None,
        first_href=_href(kept) if values["cursor"] else None,
        columns=_sortable(kept, values["sort"] or CaseSort.NEXT_DUE.value, "descending" in checked),
        towns=COUNTY_TOWNS,
        stages=[stage for stage in Stage if stage is not Stage.OPENING],
    )


def _href(params: list[tuple[str, str]], **more: str) -> str:
    return "/faelle?" + urlencode([*params, *more.items()])


def _sortable(
    kept: list[tuple[str, str]], sorted_by: str, descending: bool
) -> list[tuple[str, str | None, str | None]]:
    """Each column's heading, the link that sorts by it (the same column again: the other
    way round), and its aria-sort state."""
    others = [(name, value) for name, value in kept if name not in ("sort", "descending")]
    columns: list[tuple[str, str | None, str | None]] = []
    for heading, sort in CASE_LIST_COLUMNS:
        if sort is None:
            columns.append((heading, None, None))
            continue
        current = sort.value == sorted_by
        flip = [("descending", "on")] if current and not descending else []
        state = ("descending" if descending else "ascending") if current else None
        columns.append((heading, _href([*others, ("sort", sort.value), *flip]), state))
    return columns
