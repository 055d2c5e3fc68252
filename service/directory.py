"""The partner and offer directories: the one way the API, the admin pages (and through the API
the CLI) read and keep them.

Partners are the welfare associations and volunteer groups per town the KI picks from; offers
are what the towns' flyers draw on (without a town: county-wide, on every flyer). Removing an
entry only deactivates it: past disclosures and stored flyer versions still name it. Refusals
are :class:`~service.errors.UnknownEntry` (no such id) and :class:`~service.errors.NameTaken`
(the name already in the town); the edge turns them into its answers (HTTP status, German
page).
"""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel

from schemas.offers import Offer, OfferDraft
from schemas.partners import Partner, PartnerDraft
from service.errors import NameTaken, UnknownEntry
from store import cases as case_store
from store import offers as offer_store
from store import partners as partner_store

_UNKNOWN_PARTNER = "unknown partner"
_UNKNOWN_OFFER = "unknown offer"
_PARTNER_TAKEN = "a partner with this name already exists in this town"
_OFFER_TAKEN = "an offer with this name already exists in this town (or county-wide)"


class PartnerChoice(BaseModel):
    """The partners the KI may choose for a person: those who speak the person's language
    first; ``none_speaks`` when the directory knows partners' languages in the town and none
    of them is the person's (the KI must then say how they will understand each other)."""

    partners: list[Partner]
    language: str | None
    speakers: int
    none_speaks: bool


class DirectoryService:
    """Every read and write of the partner and offer directories, on the process's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- partners ---------------------------------------------------------------------------

    async def list_partners(self, town: str | None = None) -> list[Partner]:
        """Active partners, of one town or all."""
        async with self._pool.acquire() as con:
            return await partner_store.list_partners(con, town)

    async def partners_for(self, town: str, case_id: str) -> PartnerChoice:
        """The town's active partners for the person of ``case_id`` (the KI received the
        person's language with the handover)."""
        async with self._pool.acquire() as con:
            partners = await partner_store.list_partners(con, town)
            language = await case_store.person_language(con, case_id)
        speaking = [p for p in partners if language in p.languages]
        known = any(p.languages for p in partners)
        return PartnerChoice(
            partners=speaking + [p for p in partners if p not in speaking],
            language=language,
            speakers=len(speaking),
            none_speaks=language is not None and known and not speaking,
        )

    async def get_partner(self, partner_id: int) -> Partner:
        """Also a deactivated one: past disclosures name it."""
        async with self._pool.acquire() as con:
            partner = await partner_store.get_partner(con, partner_id)
        if partner is None:
            raise UnknownEntry(_UNKNOWN_PARTNER)
        return partner

    async def create_partner(self, draft: PartnerDraft) -> Partner:
        try:
            async with self._pool.acquire() as con:
                return await partner_store.add_partner(con, draft)
        except asyncpg.UniqueViolationError:
            raise NameTaken(_PARTNER_TAKEN) from None

    async def update_partner(self, partner_id: int, draft: PartnerDraft) -> Partner:
        """Replace the entry (a seed example becomes a real one)."""
        try:
            async with self._pool.acquire() as con:
                partner = await partner_store.update_partner(con, partner_id, draft)
        except asyncpg.UniqueViolationError:
            raise NameTaken(_PARTNER_TAKEN) from None
        if partner is None:
            raise UnknownEntry(_UNKNOWN_PARTNER)
        return partner

    async def deactivate_partner(self, partner_id: int) -> None:
        async with self._pool.acquire() as con:
            found = await partner_store.deactivate_partner(con, partner_id)
        if not found:
            raise UnknownEntry(_UNKNOWN_PARTNER)

    # -- offers -----------------------------------------------------------------------------

    async def list_offers(self, town: str | None = None) -> list[Offer]:
        """Active offers; with ``town``, those of the town and the county-wide ones."""
        async with self._pool.acquire() as con:
            return await offer_store.list_offers(con, town)

    async def get_offer(self, offer_id: int) -> Offer:
        """Also a deactivated one: stored flyer versions name it."""
        async with self._pool.acquire() as con:
            offer = await offer_store.get_offer(con, offer_id)
        if offer is None:
            raise UnknownEntry(_UNKNOWN_OFFER)
        return offer

    async def create_offer(self, draft: OfferDraft) -> Offer:
        try:
            async with self._pool.acquire() as con:
                return await offer_store.add_offer(con, draft)
        except asyncpg.UniqueViolationError:
            raise NameTaken(_OFFER_TAKEN) from None

    async def update_offer(self, offer_id: int, draft: OfferDraft) -> Offer:
        """Replace the entry (a seed example becomes a real one)."""
        try:
            async with self._pool.acquire() as con:
                offer = await offer_store.update_offer(con, offer_id, draft)
        except asyncpg.UniqueViolationError:
            raise NameTaken(_OFFER_TAKEN) from None
        if offer is None:
            raise UnknownEntry(_UNKNOWN_OFFER)
        return offer

    async def deactivate_offer(self, offer_id: int) -> None:
        async with self._pool.acquire() as con:
            found = await offer_store.deactivate_offer(con, offer_id)
        if not found:
            raise UnknownEntry(_UNKNOWN_OFFER)
