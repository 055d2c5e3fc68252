"""``/api/v1/partners``: the directory of welfare associations and volunteer groups per town.

The KI picks a partner in the person's town from it; admins keep it current (CLI, later an
admin page). Removing a partner only deactivates it: past disclosures still name it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import Admin, Directory, PartnerIdPath, PartnerReader
from api.errors import CONFLICT, NOT_FOUND
from schemas.inputs import Line
from schemas.partners import Partner, PartnerDraft

router = APIRouter(prefix="/partners", tags=["partners"])


@router.get("", summary="List active partners")
async def list_partners(
    directory: Directory,
    reader: PartnerReader,
    town: Annotated[Line | None, Query(description="Only partners working in this town.")] = None,
) -> list[Partner]:
    return await directory.list_partners(town)


@router.get("/{partner_id}", responses=NOT_FOUND, summary="Show a partner")
async def get_partner(
    partner_id: PartnerIdPath, directory: Directory, reader: PartnerReader
) -> Partner:
    """Also a deactivated one: past disclosures name it."""
    return await directory.get_partner(partner_id)


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT, summary="Add a partner")
async def add_partner(draft: PartnerDraft, directory: Directory, admin: Admin) -> Partner:
    return await directory.create_partner(draft)


@router.put(
    "/{partner_id}", responses={**NOT_FOUND, **CONFLICT}, summary="Replace a partner's entry"
)
async def update_partner(
    partner_id: PartnerIdPath, draft: PartnerDraft, directory: Directory, admin: Admin
) -> Partner:
    return await directory.update_partner(partner_id, draft)


@router.delete(
    "/{partner_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Deactivate a partner",
)
async def remove_partner(partner_id: PartnerIdPath, directory: Directory, admin: Admin) -> Response:
    """The entry stays (past disclosures name it) but is no longer offered."""
    await directory.deactivate_partner(partner_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
