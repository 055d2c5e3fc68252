"""The admin pages: accounts, partners, offers (and the flyers of their towns), the texts the
documents are made of, the access log, and the back office's webhooks."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from schemas.accounts import Account, Role
from schemas.documents import OfferCategory
from schemas.inputs import RowId, describe_de, forbidden_character
from schemas.offers import COUNTY_TOWNS, Offer, OfferDraft
from schemas.partners import DEFAULT_ADDRESS, DEFAULT_HOURS, Partner, PartnerDraft, PartnerKind
from schemas.rule_sets import RuleSetContent, RuleSetProposal, RuleSetState
from service.errors import (
    AccountError,
    Conflict,
    Forbidden,
    Invalid,
    NameTaken,
    NotFound,
    UnknownEntry,
)
from service.flyers import FLYER_LANGUAGES
from service.texts import template_overview
from web import labels
from web.common import (
    CASE_ID,
    PageRefused,
    accounts_of,
    directory_of,
    flyers_of,
    logged_in,
    redirect,
    render,
    retention_of,
    rules_of,
    webhooks_of,
)

router = APIRouter(include_in_schema=False)


_ROW_ID: TypeAdapter[int] = TypeAdapter(RowId)


def _entry_id(raw: object) -> int:
    """An id of a directory entry or an account from a URL or a form. One that cannot name a
    row (not a number, beyond the int4 column) is an unknown entry: a query with it would
    fail in asyncpg."""
    try:
        return _ROW_ID.validate_python(raw)
    except ValidationError:
        raise PageRefused(404, "Diesen Eintrag gibt es nicht.") from None


async def _accounts_page(
    request: Request,
    account: Account,
    *,
    error: str | None = None,
    values: Any = None,
    email_error: tuple[int, str] | None = None,
    reset: tuple[Account, str] | None = None,
) -> Response:
    """``reset``: an account just reset and its one-time password, shown on this answer only
    (it is not stored; the answer, like every page, is ``Cache-Control: no-store``)."""
    return render(
        request,
        "admin_accounts.html",
        account,
        status_code=422 if error or email_error else 200,
        accounts=await accounts_of(request).list_accounts(),
        emails=await accounts_of(request).emails(),
        email_error=email_error,
        error=error,
        values=values or {},
        reset=reset,
    )


@router.get("/admin/konten")
async def accounts_page(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    return await _accounts_page(request, account)


@router.post("/admin/konten")
async def create_account(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("username", "display_name", "role")}
    try:
        role = Role(values["role"])
        await accounts_of(request).create_account(
            values["username"],
            values["display_name"],
            role,
            str(form.get("password", "")),
            by=account,
        )
    except AccountError as refused:
        return await _accounts_page(request, account, error=refused.message, values=values)
    except ValueError:  # an unknown role
        return await _accounts_page(
            request, account, error="Bitte eine Rolle wählen.", values=values
        )
    return redirect("/admin/konten?meldung=konto")


@router.post("/admin/konten/{account_id}/aktiv")
async def set_active(request: Request, account_id: str) -> Response:
    admin = await logged_in(request, Role.ADMIN)
    form = await request.form()
    wanted = _entry_id(account_id)
    try:
        await accounts_of(request).set_active(wanted, form.get("aktiv") == "ja", by=admin)
    except AccountError as refused:
        raise PageRefused(404, refused.message) from None
    return redirect("/admin/konten?meldung=konto_geaendert")


@router.post("/admin/konten/{account_id}/email")
async def set_email(request: Request, account_id: str) -> Response:
    """The address the account's notices go to (empty: none)."""
    admin = await logged_in(request, Role.ADMIN)
    form = await request.form()
    wanted = _entry_id(account_id)
    try:
        await accounts_of(request).set_email(wanted, str(form.get("email", "")), by=admin)
    except NotFound as refused:
        raise PageRefused(404, refused.message) from None
    except AccountError as refused:
        return await _accounts_page(request, admin, email_error=(wanted, refused.message))
    return redirect("/admin/konten?meldung=konto_geaendert")


@router.post("/admin/konten/{account_id}/teamleitung")
async def set_team_lead(request: Request, account_id: str) -> Response:
    """An ABH or KI account leads its team (``teamleitung=ja``) or no longer (``nein``)."""
    admin = await logged_in(request, Role.ADMIN)
    form = await request.form()
    wanted = _entry_id(account_id)
    try:
        await accounts_of(request).set_team_lead(wanted, form.get("teamleitung") == "ja", by=admin)
    except NotFound as refused:
        raise PageRefused(404, refused.message) from None
    except AccountError as refused:
        raise PageRefused(409, refused.message) from None
    return redirect("/admin/konten?meldung=konto_geaendert")


@router.post("/admin/konten/{account_id}/passwort")
async def reset_password(request: Request, account_id: str) -> Response:
    """A one-time password for the account, shown once; its sessions end, and at its next
    login the person must set a password of their own."""
    admin = await logged_in(request, Role.ADMIN)
    wanted = _entry_id(account_id)
    try:
        reset = await accounts_of(request).reset_password(wanted, by=admin)
    except AccountError as refused:
        raise PageRefused(409 if wanted == admin.account_id else 404, refused.message) from None
    return await _accounts_page(request, admin, reset=reset)


async def _partners_page(
    request: Request,
    account: Account,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    editing: int | None = None,
) -> Response:
    partners = await directory_of(request).list_partners()
    return render(
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
    account = await logged_in(request, Role.ADMIN)
    values: dict[str, Any] = {}
    editing = None if bearbeiten is None else _entry_id(bearbeiten)
    if editing is not None:
        partner = await _load_entry(directory_of(request).get_partner, editing)
        values = {**partner.model_dump(mode="json"), "languages": ", ".join(partner.languages)}
    return await _partners_page(request, account, values=values, editing=editing)


@router.post("/admin/partner")
async def save_partner(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    form = await request.form()
    editing = _entry_id(form["partner_id"]) if form.get("partner_id") else None
    draft, values, errors = _partner_draft(form)
    if draft is not None:
        directory = directory_of(request)
        if await _save_entry(editing, draft, directory.create_partner, directory.update_partner):
            return redirect("/admin/partner?meldung=partner#inhalt")
        errors = {"name": ["Diesen Namen gibt es in diesem Ort schon."]}
    return await _partners_page(request, account, errors=errors, values=values, editing=editing)


@router.post("/admin/partner/{partner_id}/entfernen")
async def remove_partner(request: Request, partner_id: str) -> Response:
    await _remove_entry(request, directory_of(request).deactivate_partner, partner_id)
    return redirect("/admin/partner?meldung=partner_entfernt#inhalt")


async def _load_entry(get: Callable[[int], Awaitable[_Entry]], entry_id: int) -> _Entry:
    """A directory entry to edit, or the 404 page."""
    try:
        return await get(entry_id)
    except UnknownEntry:
        raise PageRefused(404, "Diesen Eintrag gibt es nicht.") from None


async def _save_entry(
    editing: int | None,
    draft: _Draft,
    create: Callable[[_Draft], Awaitable[object]],
    update: Callable[[int, _Draft], Awaitable[object]],
) -> bool:
    """Add or change a directory entry (partner or offer); False when the name is taken."""
    try:
        if editing is None:
            await create(draft)
        else:
            await update(editing, draft)
    except NameTaken:
        return False
    except UnknownEntry:
        raise PageRefused(404, "Diesen Eintrag gibt es nicht.") from None
    return True


async def _remove_entry(
    request: Request, deactivate: Callable[[int], Awaitable[None]], entry_id: str
) -> None:
    """Deactivate a directory entry: past disclosures and flyers still name it."""
    await logged_in(request, Role.ADMIN)
    wanted = _entry_id(entry_id)
    try:
        await deactivate(wanted)
    except UnknownEntry:
        raise PageRefused(404, "Diesen Eintrag gibt es nicht.") from None


async def _offers_page(
    request: Request,
    account: Account,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    editing: int | None = None,
) -> Response:
    offers = await directory_of(request).list_offers()
    return render(
        request,
        "admin_offers.html",
        account,
        status_code=422 if errors else 200,
        offers=offers,
        flyers=await flyers_of(request).towns(),
        languages=FLYER_LANGUAGES,
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
    account = await logged_in(request, Role.ADMIN)
    values: dict[str, Any] = {}
    editing = None if bearbeiten is None else _entry_id(bearbeiten)
    if editing is not None:
        offer = await _load_entry(directory_of(request).get_offer, editing)
        values = {
            **offer.model_dump(mode="json"),
            "town": offer.town or "",
            "contact": offer.contact or "",
            "languages": ", ".join(offer.languages),
        }
    return await _offers_page(request, account, values=values, editing=editing)


@router.post("/admin/angebote")
async def save_offer(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    form = await request.form()
    editing = _entry_id(form["offer_id"]) if form.get("offer_id") else None
    draft, values, errors = _offer_draft(form)
    if draft is not None:
        directory = directory_of(request)
        if await _save_entry(editing, draft, directory.create_offer, directory.update_offer):
            return redirect("/admin/angebote?meldung=angebot#inhalt")
        errors = {"name": ["Diesen Namen gibt es in diesem Ort (oder kreisweit) schon."]}
    return await _offers_page(request, account, errors=errors, values=values, editing=editing)


@router.post("/admin/angebote/{offer_id}/entfernen")
async def remove_offer(request: Request, offer_id: str) -> Response:
    await _remove_entry(request, directory_of(request).deactivate_offer, offer_id)
    return redirect("/admin/angebote?meldung=angebot_entfernt#inhalt")


@router.get("/admin/texte")
async def texts_page(request: Request) -> Response:
    """Which texts the documents are made of, and which are reviewed by a person: drafted
    translations are printed as such, and the Bleiberechtsregelungen await legal review."""
    account = await logged_in(request, Role.ADMIN)
    routes = (await rules_of(request).in_force()).content.residence_routes
    return render(
        request,
        "admin_texts.html",
        account,
        templates=template_overview(),
        routes=routes.versions,
        review_by=routes.review_by,
    )


@router.get("/admin/zugriffe")
async def access_log(request: Request, case_id: str = "") -> Response:
    account = await logged_in(request, Role.ADMIN)
    case_id = case_id.strip()
    entries = []
    if case_id and CASE_ID.fullmatch(case_id):
        entries = await accounts_of(request).access_log(case_id)
    return render(request, "admin_access.html", account, case_id=case_id, entries=entries)


@router.post("/admin/zugriffe/sperre")
async def legal_hold(request: Request) -> Response:
    """Stop the erasure of a case (a reason given) or allow it again (none): the API's
    legal hold, on the admin's page of the case's accesses."""
    account = await logged_in(request, Role.ADMIN)
    form = await request.form()
    case_id = str(form.get("case_id", "")).strip()
    reason = str(form.get("reason", "")).strip() or None
    if not CASE_ID.fullmatch(case_id):
        raise PageRefused(404, "Diesen Fall gibt es nicht.")
    if reason is not None and (len(reason) > 500 or forbidden_character(reason) is not None):
        raise PageRefused(422, "Bitte einen kurzen Grund in einer Zeile angeben.")
    try:
        await retention_of(request).set_legal_hold(case_id, reason, by=account)
    except NotFound:
        raise PageRefused(404, "Diesen Fall gibt es nicht.") from None
    code = "sperre_gesetzt" if reason else "sperre_aufgehoben"
    return redirect(f"/admin/zugriffe?case_id={case_id}&meldung={code}")


# ------------------------------------------------------------------ the rule set


async def _rules_page(
    request: Request,
    account: Account,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    """Every version, the one in force, and each open proposal with its simulation over the
    running cases, shown before its adopt button."""
    service = rules_of(request)
    versions = await service.versions()
    in_force = await service.in_force()
    simulations = {
        version.version: await service.simulate(version.version)
        for version in versions
        if version.state is RuleSetState.PROPOSED
    }
    names = {a.account_id: a.display_name for a in await accounts_of(request).list_accounts()}
    timings = in_force.content.timings
    durations = {
        name: f"{getattr(timings, name).total_seconds() / 86400:g}"
        for name in labels.RULE_DURATIONS
    }
    return render(
        request,
        "admin_rules.html",
        account,
        status_code=status_code,
        versions=versions,
        in_force=in_force,
        simulations=simulations,
        names=names,
        durations=durations,
        unreachable_after=timings.unreachable_after,
        values=values or {},
        error=error,
    )


@router.get("/admin/regeln")
async def rules_page(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    return await _rules_page(request, account)


def _proposal_from(
    raw: bytes, form_day: str, base: RuleSetContent, form: dict[str, str]
) -> RuleSetProposal:
    """A proposal from an uploaded JSON file (a whole proposal, or a set without its day), or
    from the form's durations over the version in force. Raises ValueError in German."""
    day = form_day.strip()
    if raw.strip():
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValueError("Die Datei ist kein JSON.") from None
        if isinstance(data, dict) and "content" not in data:
            data = {"content": data}
        if isinstance(data, dict) and "adopted_from" not in data:
            data["adopted_from"] = day
        try:
            return RuleSetProposal.model_validate(data)
        except ValidationError as invalid:
            first = invalid.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"Die Datei passt nicht: {where}: {first['msg']}") from None
    try:
        adopted_from = date.fromisoformat(day)
    except ValueError:
        raise ValueError("Bitte den Tag des Inkrafttretens angeben.") from None
    changes: dict[str, object] = {}
    for name, title in labels.RULE_DURATIONS.items():
        try:
            days = float(form.get(name, "").replace(",", "."))
        except ValueError:
            raise ValueError(f"{title}: bitte eine Zahl von Tagen angeben.") from None
        if not 0 < days <= 3650:
            raise ValueError(f"{title}: mehr als 0 und höchstens 3650 Tage.")
        changes[name] = timedelta(days=days)
    unreachable = form.get("unreachable_after", "")
    if not unreachable.isdigit() or not 1 <= int(unreachable) <= 20:
        raise ValueError("Nicht erreichbar: bitte eine Zahl von 1 bis 20 angeben.")
    changes["unreachable_after"] = int(unreachable)
    return RuleSetProposal(
        adopted_from=adopted_from,
        content=base.model_copy(update={"timings": base.timings.model_copy(update=changes)}),
    )


RULE_FILE_MAX_BYTES = 1_000_000


@router.post("/admin/regeln")
async def propose_rules(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    async with request.form(max_files=1, max_fields=50) as form:
        upload = form.get("datei")
        raw = await upload.read(RULE_FILE_MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
        values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    in_force = await rules_of(request).in_force()
    try:
        if len(raw) > RULE_FILE_MAX_BYTES:
            raise ValueError("Die Datei ist größer als 1 MB; ein Regelwerk ist viel kleiner.")
        proposal = _proposal_from(raw, values.get("adopted_from", ""), in_force.content, values)
        await rules_of(request).propose(proposal, by=account)
    except ValueError as wrong:
        return await _rules_page(request, account, error=str(wrong), values=values, status_code=422)
    except Invalid as refused:
        message = "; ".join(field.reason for field in refused.fields) or refused.message
        return await _rules_page(request, account, error=message, values=values, status_code=422)
    return redirect("/admin/regeln?meldung=regeln_vorgeschlagen")


@router.post("/admin/regeln/{version}/annehmen")
async def adopt_rules(request: Request, version: str) -> Response:
    """Four eyes: who proposed it cannot adopt it (403, said on the page)."""
    account = await logged_in(request, Role.ADMIN)
    try:
        await rules_of(request).adopt(_entry_id(version), by=account)
    except (Forbidden, Conflict, Invalid) as refused:
        message = (
            "; ".join(field.reason for field in refused.fields)
            if isinstance(refused, Invalid)
            else refused.message
        )
        status = 403 if isinstance(refused, Forbidden) else 409
        return await _rules_page(request, account, error=message, status_code=status)
    except NotFound as refused:
        raise PageRefused(404, refused.message) from None
    return redirect("/admin/regeln?meldung=regeln_angenommen")


@router.post("/admin/regeln/{version}/zurueckziehen")
async def withdraw_rules(request: Request, version: str) -> Response:
    account = await logged_in(request, Role.ADMIN)
    try:
        await rules_of(request).withdraw(_entry_id(version), by=account)
    except Conflict as refused:
        return await _rules_page(request, account, error=refused.message, status_code=409)
    return redirect("/admin/regeln?meldung=regeln_zurueckgezogen")


# The refusals of a subscription, for the page (the service's reasons are English).
_WEBHOOK_REASONS = {
    "name": "Bitte einen Namen aus Buchstaben, Ziffern, Punkt, Binde- oder Unterstrich angeben.",
    "url": "Bitte eine Adresse angeben, die mit https:// oder http:// beginnt.",
    "secret": "Das Geheimnis beginnt mit whsec_ und enthält 24 bis 64 Byte in Base64.",
}
_WEBHOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


async def _webhooks_page(
    request: Request,
    account: Account,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    made: Any = None,
) -> Response:
    return render(
        request,
        "admin_webhooks.html",
        account,
        status_code=422 if errors else 200,
        subscriptions=await webhooks_of(request).subscriptions(),
        errors=errors or {},
        values=values or {},
        made=made,
    )


@router.get("/admin/webhooks")
async def webhooks_page(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    return await _webhooks_page(request, account)


@router.post("/admin/webhooks")
async def subscribe_webhook(request: Request) -> Response:
    account = await logged_in(request, Role.ADMIN)
    form = await request.form()
    values = {key: str(form.get(key, "")).strip() for key in ("name", "url", "secret")}
    errors: dict[str, list[str]] = {}
    for field, value in values.items():
        character = forbidden_character(value)
        if character is not None:
            errors[field] = [describe_de(character)]
    if "name" not in errors and not _WEBHOOK_NAME.match(values["name"]):
        errors["name"] = [_WEBHOOK_REASONS["name"]]
    if errors:
        return await _webhooks_page(request, account, errors=errors, values=values)
    try:
        made = await webhooks_of(request).subscribe(
            values["name"], values["url"], values["secret"] or None, by=account
        )
    except Invalid as refused:
        fields = [fault.field for fault in refused.fields] or ["url"]
        errors = {field: [_WEBHOOK_REASONS.get(field, _WEBHOOK_REASONS["url"])] for field in fields}
        return await _webhooks_page(request, account, errors=errors, values=values)
    except NameTaken:
        errors = {"name": ["Ein Abonnement dieses Namens gibt es schon."]}
        return await _webhooks_page(request, account, errors=errors, values=values)
    # The secret is shown on this answer only (pages are Cache-Control: no-store).
    return await _webhooks_page(request, account, made=made)


@router.post("/admin/webhooks/{name}/beenden")
async def unsubscribe_webhook(request: Request, name: str) -> Response:
    account = await logged_in(request, Role.ADMIN)
    try:
        if not _WEBHOOK_NAME.match(name):
            raise NotFound(name)
        await webhooks_of(request).unsubscribe(name, by=account)
    except NotFound:
        raise PageRefused(404, "Dieses Abonnement gibt es nicht (mehr).") from None
    return redirect("/admin/webhooks?meldung=webhook_beendet")
