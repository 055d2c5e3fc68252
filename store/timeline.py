"""The case timeline (Verlauf, ``timeline``): every step a case took, one line each.

An activity writes its entry in the same transaction as its effect; an entry that exists
already means the step was done before, so the activity skips it (safe to retry).
"""

from __future__ import annotations

from datetime import datetime

from schemas.case import TimelineRow
from schemas.records import Entry
from store.db import Connection


async def add_entry(con: Connection, entry: Entry) -> bool:
    """Write a timeline entry; False when it exists, i.e. this step was done before."""
    inserted = await con.fetchval(
        "INSERT INTO timeline (case_id, seq, at, kind, detail) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT DO NOTHING RETURNING true",
        entry.case_id,
        entry.seq,
        entry.at,
        entry.kind,
        entry.detail,
    )
    return bool(inserted)


async def append(con: Connection, case_id: str, at: datetime, kind: str, detail: str) -> Entry:
    """An entry after the case's last one, written outside its workflow (whose run has ended:
    a duty that outlives it); the caller holds the case row (``store.cases.lock_case``)."""
    entry = Entry(
        case_id=case_id, seq=await last_seq(con, case_id) + 1, at=at, kind=kind, detail=detail
    )
    await add_entry(con, entry)
    return entry


async def last_seq(con: Connection, case_id: str) -> int:
    """The number of the case's last timeline entry (0: none)."""
    last = await con.fetchval("SELECT max(seq) FROM timeline WHERE case_id = $1", case_id)
    return int(last or 0)


async def timeline(con: Connection, case_id: str) -> list[TimelineRow]:
    rows = await con.fetch(
        "SELECT at, kind, detail FROM timeline WHERE case_id = $1 ORDER BY seq", case_id
    )
    return [TimelineRow.model_validate(dict(row)) for row in rows]
