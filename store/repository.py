"""What is left of the old repository: the one query the pages still call directly.

``web/routes/tasks.py`` reads the partners of a town from here; once it asks
``service.directory`` instead, this moves to ``store.partners`` and the module goes.
"""

from __future__ import annotations

from schemas.partners import Partner
from store.db import Connection
from store.partners import COLUMNS, partner_of


async def list_partners(con: Connection, town: str | None = None) -> list[Partner]:
    rows = await con.fetch(
        f"SELECT {COLUMNS} FROM partners "
        "WHERE active AND ($1::text IS NULL OR town = $1) ORDER BY town, name",
        town,
    )
    return [partner_of(row) for row in rows]
