"""Queries for flyers: the town's part of the directory, and the stored flyer versions.

``flyer_versions`` rows are never changed or deleted: a flyer handed to someone stays
retrievable exactly as it was, whatever the directory or the texts became since.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from schemas.documents import OfferCategory, SupportOffer
from schemas.flyers import IssuedFlyer
from schemas.partners import PartnerKind
from store.db import Connection

_COLUMNS = (
    "flyer_id::text AS flyer_id, town, requested_language, languages, template_version,"
    " directory_version, content_hash, flags, created_at"
)


def _support_offer(row: asyncpg.Record) -> SupportOffer:
    kind = row["partner_kind"]
    category = PartnerKind(kind).category if kind else OfferCategory(row["category"])
    return SupportOffer(
        name=row["name"],
        category=category,
        town=row["town"],
        address=row["address"],
        hours=row["hours"],
        contact=row["contact"],
        languages=row["languages"],
        example=row["example"],
    )


async def town_directory(con: Connection, town: str, county: str) -> list[SupportOffer]:
    """Everything the flyer of ``town`` lists, in no particular order: the town's active
    partners and offers and the active county-wide offers (their place printed as ``county``).

    One statement, so partners and offers come from the same snapshot.
    """
    rows = await con.fetch(
        "SELECT name, kind AS partner_kind, NULL::text AS category, town, address, hours,"
        "       contact, languages, example"
        "  FROM partners WHERE active AND town = $1"
        " UNION ALL "
        "SELECT name, NULL, category, coalesce(town, $2), address, hours,"
        "       contact, languages, example"
        "  FROM offers WHERE active AND (town = $1 OR town IS NULL)",
        town,
        county,
    )
    return [_support_offer(row) for row in rows]


async def find_flyer(
    con: Connection,
    *,
    town: str,
    requested_language: str,
    template_version: str,
    directory_version: str,
) -> IssuedFlyer | None:
    row = await con.fetchrow(
        f"SELECT {_COLUMNS} FROM flyer_versions WHERE town = $1 AND requested_language = $2"
        " AND template_version = $3 AND directory_version = $4",
        town,
        requested_language,
        template_version,
        directory_version,
    )
    return IssuedFlyer.model_validate(dict(row)) if row else None


async def add_flyer(
    con: Connection,
    *,
    flyer_id: UUID,
    town: str,
    requested_language: str,
    languages: list[str],
    template_version: str,
    directory_version: str,
    directory: str,
    content_hash: str,
    flags: list[str],
    pdf: bytes,
    created_at: datetime,
) -> bool:
    """Store a version unless one with the same key exists (then False: read that one)."""
    inserted = await con.fetchval(
        "INSERT INTO flyer_versions (flyer_id, town, requested_language, languages,"
        " template_version, directory_version, directory, content_hash, flags, pdf, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (town, requested_language, template_version, directory_version)"
        " DO NOTHING RETURNING true",
        flyer_id,
        town,
        requested_language,
        languages,
        template_version,
        directory_version,
        directory,
        content_hash,
        flags,
        pdf,
        created_at,
    )
    return bool(inserted)


async def get_flyer(con: Connection, flyer_id: str) -> IssuedFlyer | None:
    """A stored version's metadata; None for an unknown (or malformed) id."""
    try:
        key = UUID(flyer_id)
    except ValueError:
        return None
    row = await con.fetchrow(f"SELECT {_COLUMNS} FROM flyer_versions WHERE flyer_id = $1", key)
    return IssuedFlyer.model_validate(dict(row)) if row else None


async def flyer_pdf(con: Connection, flyer_id: str) -> bytes | None:
    """The PDF of a stored flyer version; None for an unknown (or malformed) id."""
    try:
        key = UUID(flyer_id)
    except ValueError:
        return None
    pdf: bytes | None = await con.fetchval(
        "SELECT pdf FROM flyer_versions WHERE flyer_id = $1", key
    )
    return pdf


async def list_flyers(con: Connection, town: str | None = None) -> list[IssuedFlyer]:
    """Stored versions (metadata, no PDF), newest first."""
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM flyer_versions WHERE $1::text IS NULL OR town = $1"
        " ORDER BY created_at DESC, town, requested_language",
        town,
    )
    return [IssuedFlyer.model_validate(dict(row)) for row in rows]


async def flyer_directory(con: Connection, flyer_id: str) -> str | None:
    """The canonical JSON a version's ``directory_version`` is the sha256 of."""
    try:
        key = UUID(flyer_id)
    except ValueError:
        return None
    directory: str | None = await con.fetchval(
        "SELECT directory FROM flyer_versions WHERE flyer_id = $1", key
    )
    return directory
