"""``/api/v1/admin``: what only admins see. The access log of a case (who opened it, when) and
the disclosure register of a period."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import Accounts, Admin, Records
from schemas.accounts import AccessLogEntry
from schemas.events import CaseId
from schemas.gdpr import DisclosureRegister
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
