"""The partner directory (``partners``): welfare associations and volunteer groups per town.

Removing a partner only deactivates it: a disclosure names it (``partner:<id>``), so its name
stays. One function per query.
"""

from __future__ import annotations

import asyncpg

from schemas.partners import Partner, PartnerDraft
from store.db import Connection

_COLUMNS = "partner_id, name, kind, town, contact, languages, address, hours, active, example"


def _partner(row: asyncpg.Record) -> Partner:
    return Partner.model_validate(dict(row))


async def list_partners(con: Connection, town: str | None = None) -> list[Partner]:
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM partners "
        "WHERE active AND ($1::text IS NULL OR town = $1) ORDER BY town, name",
        town,
    )
    return [_partner(row) for row in rows]


async def get_partner(con: Connection, partner_id: int) -> Partner | None:
    row = await con.fetchrow(f"SELECT {_COLUMNS} FROM partners WHERE partner_id = $1", partner_id)
    return _partner(row) if row else None


async def add_partner(con: Connection, draft: PartnerDraft) -> Partner:
    row = await con.fetchrow(
        "INSERT INTO partners (name, kind, town, contact, languages, address, hours) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        draft.name,
        draft.kind.value,
        draft.town,
        draft.contact,
        draft.languages,
        draft.address,
        draft.hours,
    )
    assert row is not None
    return _partner(row)


async def update_partner(con: Connection, partner_id: int, draft: PartnerDraft) -> Partner | None:
    """Replace the entry; an admin's edit makes a seed entry real (no longer an example)."""
    row = await con.fetchrow(
        "UPDATE partners SET name = $2, kind = $3, town = $4, contact = $5, languages = $6, "
        "address = $7, hours = $8, example = false "
        f"WHERE partner_id = $1 RETURNING {_COLUMNS}",
        partner_id,
        draft.name,
        draft.kind.value,
        draft.town,
        draft.contact,
        draft.languages,
        draft.address,
        draft.hours,
    )
    return _partner(row) if row else None


async def deactivate_partner(con: Connection, partner_id: int) -> bool:
    result: str = await con.execute(
        "UPDATE partners SET active = false WHERE partner_id = $1", partner_id
    )
    return result.endswith(" 1")
