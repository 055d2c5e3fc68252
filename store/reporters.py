"""Which back-office token reported which case (``case_reporters``)."""

from __future__ import annotations

from store.db import Connection


async def record(con: Connection, case_id: str, token_id: int) -> None:
    """``token_id`` reported ``case_id``; nothing when the case has no row (an arrival)."""
    await con.execute(
        "INSERT INTO case_reporters (case_id, token_id) "
        "SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM cases WHERE case_id = $1) "
        "ON CONFLICT DO NOTHING",
        case_id,
        token_id,
    )


async def reported(con: Connection, case_id: str, token_id: int) -> bool:
    found = await con.fetchval(
        "SELECT true FROM case_reporters WHERE case_id = $1 AND token_id = $2",
        case_id,
        token_id,
    )
    return bool(found)
