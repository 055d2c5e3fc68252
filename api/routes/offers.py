"""``/api/v1/offers``: the offer directory the flyers draw on, besides the partners.

Same rules as the partner directory: abh, ki and admin read, admins write; removing only
deactivates (stored flyer versions still name the entry). Every change reaches the next flyer
of the towns concerned (a county-wide offer: every town) as a new flyer version.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import Admin, Directory, OfferIdPath, PartnerReader
from api.errors import CONFLICT, NOT_FOUND
from schemas.inputs import Line
from schemas.offers import Offer, OfferDraft
from service.flyers import resolve_town

router = APIRouter(prefix="/offers", tags=["offers"])


@router.get("", summary="List active offers")
async def list_offers(
    directory: Directory,
    reader: PartnerReader,
    town: Annotated[
        Line | None,
        Query(description="Only what the flyer of this town draws on: its own and county-wide."),
    ] = None,
) -> list[Offer]:
    return await directory.list_offers(None if town is None else resolve_town(town))


@router.get("/{offer_id}", responses=NOT_FOUND, summary="Show an offer")
async def get_offer(offer_id: OfferIdPath, directory: Directory, reader: PartnerReader) -> Offer:
    """Also a deactivated one: stored flyer versions name it."""
    return await directory.get_offer(offer_id)


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT, summary="Add an offer")
async def add_offer(draft: OfferDraft, directory: Directory, admin: Admin) -> Offer:
    """Without ``town`` the offer is county-wide: it appears on every town's flyer."""
    return await directory.create_offer(draft)


@router.put("/{offer_id}", responses={**NOT_FOUND, **CONFLICT}, summary="Replace an offer")
async def update_offer(
    offer_id: OfferIdPath, draft: OfferDraft, directory: Directory, admin: Admin
) -> Offer:
    """An example entry of the seed becomes a real one (``example`` false)."""
    return await directory.update_offer(offer_id, draft)


@router.delete(
    "/{offer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Deactivate an offer",
)
async def remove_offer(offer_id: OfferIdPath, directory: Directory, admin: Admin) -> Response:
    """The entry stays (stored flyer versions name it) but is on no new flyer."""
    await directory.deactivate_offer(offer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
