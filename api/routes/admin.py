"""``/api/v1/admin``: what only admins see. The access log of a case (who opened it, when),
the disclosure register of a period, and the back office's webhook subscriptions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import Accounts, Admin, Records, Webhooks
from api.errors import CONFLICT, NOT_FOUND
from schemas.accounts import AccessLogEntry
from schemas.events import CaseId
from schemas.gdpr import DisclosureRegister
from schemas.webhooks import Subscription, SubscriptionDraft, SubscriptionMade, SubscriptionName
from service.records import register_csv

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/access-log", summary="Who opened a case")
async def access_log(
    admin: Admin, service: Accounts, case_id: Annotated[CaseId, Query()]
) -> list[AccessLogEntry]:
    """Every opening of the case's data: account, role, what was opened, when; oldest first."""
    return await service.access_log(case_id)


@router.get(
    "/disclosures",
    summary="The disclosure register of a period (GDPR Art. 30)",
    response_model=DisclosureRegister,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "JSON, or with format=csv CSV as German Excel opens it"
            " (UTF-8 with BOM, `;` between cells)",
        },
    },
)
async def disclosures(
    admin: Admin,
    records: Records,
    first: Annotated[date, Query(alias="from", description="First day, Europe/Berlin.")],
    last: Annotated[date, Query(alias="to", description="Last day (inclusive), Europe/Berlin.")],
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> DisclosureRegister | Response:
    """Every disclosure of the period: recipient, categories, purpose, the consent it was made
    on, and whether that consent was withdrawn and the recipient asked to erase.

    No name or contact data of a person: the register answers the data protection officer's
    questions about disclosures; the case id leads to the case. 422 names ``from`` or ``to``
    when a date is malformed or the period ends before it starts.
    """
    register = await records.disclosure_register(first, last)
    if output == "json":
        return register
    filename = f"offenlegungen_{first.isoformat()}_{last.isoformat()}.csv"
    return Response(
        register_csv(register),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/webhooks", summary="The back office's webhook subscriptions")
async def webhook_subscriptions(admin: Admin, webhooks: Webhooks) -> list[Subscription]:
    """Every subscription, active or ended; never a secret (docs/webhooks.md)."""
    return await webhooks.subscriptions()


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Subscribe an endpoint to the notifications",
)
async def subscribe_webhook(
    admin: Admin, webhooks: Webhooks, draft: SubscriptionDraft
) -> SubscriptionMade:
    """From now on every notification is posted to ``url``, signed with the secret. The
    answer holds the secret once (the one given, or a new one); it is stored sealed. 409: the
    name is taken. 422: not an http(s) URL, or not a ``whsec_`` secret."""
    return await webhooks.subscribe(draft.name, draft.url, draft.secret, by=admin)


@router.delete(
    "/webhooks/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="End a webhook subscription",
)
async def unsubscribe_webhook(
    admin: Admin, webhooks: Webhooks, name: Annotated[SubscriptionName, Path()]
) -> Response:
    """No more notifications to it; what was queued for it is dropped. 404: no active
    subscription of this name."""
    await webhooks.unsubscribe(name, by=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
