"""Queries for the offer directory (``offers``, migration 010); one function per query.

Removing an offer only deactivates it: a stored flyer version names it, and the row shows what
was offered when. An admin's change clears ``example`` (the seed rows are sample data until
someone who knows the offer confirms or corrects it).
"""

from __future__ import annotations

import asyncpg

from schemas.offers import Offer, OfferDraft
from store.db import Connection

_COLUMNS = "offer_id, name, category, town, address, hours, contact, languages, active, example"


def _offer(row: asyncpg.Record) -> Offer:
    return Offer.model_validate(dict(row))


async def list_offers(con: Connection, town: str | None = None) -> list[Offer]:
    """Active offers; with ``town``, those of the town and the county-wide ones (its flyer's)."""
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM offers WHERE active"
        " AND ($1::text IS NULL OR town = $1 OR town IS NULL)"
        " ORDER BY town NULLS FIRST, category, name",
        town,
    )
    return [_offer(row) for row in rows]


async def get_offer(con: Connection, offer_id: int) -> Offer | None:
    row = await con.fetchrow(f"SELECT {_COLUMNS} FROM offers WHERE offer_id = $1", offer_id)
    return _offer(row) if row else None


async def add_offer(con: Connection, draft: OfferDraft) -> Offer:
    row = await con.fetchrow(
        "INSERT INTO offers (name, category, town, address, hours, contact, languages)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        draft.name,
        draft.category.value,
        draft.town,
        draft.address,
        draft.hours,
        draft.contact,
        draft.languages,
    )
    assert row is not None
    return _offer(row)


async def update_offer(con: Connection, offer_id: int, draft: OfferDraft) -> Offer | None:
    row = await con.fetchrow(
        "UPDATE offers SET name = $2, category = $3, town = $4, address = $5, hours = $6,"
        " contact = $7, languages = $8, example = false"
        f" WHERE offer_id = $1 RETURNING {_COLUMNS}",
        offer_id,
        draft.name,
        draft.category.value,
        draft.town,
        draft.address,
        draft.hours,
        draft.contact,
        draft.languages,
    )
    return _offer(row) if row else None


async def deactivate_offer(con: Connection, offer_id: int) -> bool:
    result: str = await con.execute(
        "UPDATE offers SET active = false WHERE offer_id = $1", offer_id
    )
    return result.endswith(" 1")
