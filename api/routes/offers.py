"""``/api/v1/offers``: the offer directory the flyers draw on, besides the partners.

Same rules as the partner directory: abh, ki and admin read, admins write; removing only
deactivates (stored flyer versions still name the entry). Every change reaches the next flyer
of the towns concerned (a county-wide offer: every town) as a new flyer version.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from api.deps import Admin, OfferIdPath, PartnerReader, Pool
from api.errors import CONFLICT, NOT_FOUND
from api.routes.flyers import town_or_422
from schemas.inputs import Line
from schemas.offers import Offer, OfferDraft
from store import offers as store

router = APIRouter(prefix="/offers", tags=["offers"])

_DUPLICATE = "an offer with this name already exists in this town (or county-wide)"


class OfferDirectory:
    """Reads and writes of the directory; a missing row or a duplicate name as HTTP answers."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list(self, town: str | None) -> list[Offer]:
        async with self._pool.acquire() as con:
            return await store.list_offers(con, town)

    async def get(self, offer_id: int) -> Offer:
        async with self._pool.acquire() as con:
            offer = await store.get_offer(con, offer_id)
        if offer is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown offer")
        return offer

    async def add(self, draft: OfferDraft) -> Offer:
        try:
            async with self._pool.acquire() as con:
                return await store.add_offer(con, draft)
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE) from None

    async def update(self, offer_id: int, draft: OfferDraft) -> Offer:
        try:
            async with self._pool.acquire() as con:
                offer = await store.update_offer(con, offer_id, draft)
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, _DUPLICATE) from None
        if offer is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown offer")
        return offer

    async def deactivate(self, offer_id: int) -> None:
        async with self._pool.acquire() as con:
            found = await store.deactivate_offer(con, offer_id)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown offer")


def _directory(pool: Pool) -> OfferDirectory:
    return OfferDirectory(pool)


Directory = Annotated[OfferDirectory, Depends(_directory)]


@router.get("", summary="List active offers")
async def list_offers(
    directory: Directory,
    reader: PartnerReader,
    town: Annotated[
        Line | None,
        Query(description="Only what the flyer of this town draws on: its own and county-wide."),
    ] = None,
) -> list[Offer]:
    return await directory.list(None if town is None else town_or_422(town, "query"))


@router.get("/{offer_id}", responses=NOT_FOUND, summary="Show an offer")
async def get_offer(offer_id: OfferIdPath, directory: Directory, reader: PartnerReader) -> Offer:
    """Also a deactivated one: stored flyer versions name it."""
    return await directory.get(offer_id)


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT, summary="Add an offer")
async def add_offer(draft: OfferDraft, directory: Directory, admin: Admin) -> Offer:
    """Without ``town`` the offer is county-wide: it appears on every town's flyer."""
    return await directory.add(draft)


@router.put("/{offer_id}", responses={**NOT_FOUND, **CONFLICT}, summary="Replace an offer")
async def update_offer(
    offer_id: OfferIdPath, draft: OfferDraft, directory: Directory, admin: Admin
) -> Offer:
    """An example entry of the seed becomes a real one (``example`` false)."""
    return await directory.update(offer_id, draft)


@router.delete(
    "/{offer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Deactivate an offer",
)
async def remove_offer(offer_id: OfferIdPath, directory: Directory, admin: Admin) -> Response:
    """The entry stays (stored flyer versions name it) but is on no new flyer."""
    await directory.deactivate(offer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
