"""``/api/v1/partners``: the directory of welfare associations and volunteer groups per town.

The KI picks a partner in the person's town from it; admins keep it current (CLI, later an
admin page). Removing a partner only deactivates it: past disclosures still name it.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from api.deps import Admin, Cases, PartnerIdPath, PartnerReader, Pool
from api.errors import CONFLICT, NOT_FOUND
from schemas.inputs import Line
from schemas.partners import Partner, PartnerDraft
from store import repository as repo

router = APIRouter(prefix="/partners", tags=["partners"])

_DUPLICATE = "a partner with this name already exists in this town"


class PartnerDirectory:
    """Writes to the directory; turns a missing row or a duplicate name into HTTP answers."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, partner_id: int) -> Partner:
        async with self._pool.acquire() as con:
            partner = await repo.get_partner(con, partner_id)
        if partner is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown partner")
        return partner

    async def add(self, draft: PartnerDraft) -> Partner:
        try:
            async with self._pool.acquire() as con:
                return await repo.add_partner(con, draft)
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE) from None

    async def update(self, partner_id: int, draft: PartnerDraft) -> Partner:
        try:
            async with self._pool.acquire() as con:
                partner = await repo.update_partner(con, partner_id, draft)
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE) from None
        if partner is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown partner")
        return partner

    async def deactivate(self, partner_id: int) -> None:
        async with self._pool.acquire() as con:
            found = await repo.deactivate_partner(con, partner_id)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown partner")


def _directory(pool: Pool) -> PartnerDirectory:
    return PartnerDirectory(pool)


Directory = Annotated[PartnerDirectory, Depends(_directory)]


@router.get("", summary="List active partners")
async def list_partners(
    cases: Cases,
    reader: PartnerReader,
    town: Annotated[Line | None, Query(description="Only partners working in this town.")] = None,
) -> list[Partner]:
    return await cases.partners(town)


@router.get("/{partner_id}", responses=NOT_FOUND, summary="Show a partner")
async def get_partner(
    partner_id: PartnerIdPath, directory: Directory, reader: PartnerReader
) -> Partner:
    """Also a deactivated one: past disclosures name it."""
    return await directory.get(partner_id)


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT, summary="Add a partner")
async def add_partner(draft: PartnerDraft, directory: Directory, admin: Admin) -> Partner:
    return await directory.add(draft)


@router.put(
    "/{partner_id}", responses={**NOT_FOUND, **CONFLICT}, summary="Replace a partner's entry"
)
async def update_partner(
    partner_id: PartnerIdPath, draft: PartnerDraft, directory: Directory, admin: Admin
) -> Partner:
    return await directory.update(partner_id, draft)


@router.delete(
    "/{partner_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Deactivate a partner",
)
async def remove_partner(partner_id: PartnerIdPath, directory: Directory, admin: Admin) -> Response:
    """The entry stays (past disclosures name it) but is no longer offered."""
    await directory.deactivate(partner_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
