"""Notes on a case (``case_notes``)."""

from __future__ import annotations

from datetime import datetime

from schemas.gdpr import NoteData
from schemas.notes import NoteRow
from store.db import Connection


async def insert_note(
    con: Connection, case_id: str, author_id: int, text: str, at: datetime
) -> int:
    note_id: int = await con.fetchval(
        "INSERT INTO case_notes (case_id, author_id, written_at, text) VALUES ($1, $2, $3, $4)"
        " RETURNING note_id",
        case_id,
        author_id,
        at,
        text,
    )
    return note_id


async def notes_of_case(con: Connection, case_id: str) -> list[NoteRow]:
    """The case's notes, the latest first, with their authors' names."""
    rows = await con.fetch(
        "SELECT n.note_id, n.case_id, n.author_id, a.display_name AS author, n.written_at,"
        " n.text FROM case_notes n LEFT JOIN accounts a ON a.account_id = n.author_id"
        " WHERE n.case_id = $1 ORDER BY n.note_id DESC",
        case_id,
    )
    return [NoteRow.model_validate(dict(row)) for row in rows]


async def notes_for_report(con: Connection, case_id: str) -> list[NoteData]:
    """The case's notes for the access report (Art. 15), the oldest first, authors by role."""
    rows = await con.fetch(
        "SELECT n.written_at, a.role AS author_role, n.text FROM case_notes n"
        " LEFT JOIN accounts a ON a.account_id = n.author_id"
        " WHERE n.case_id = $1 ORDER BY n.note_id",
        case_id,
    )
    return [NoteData.model_validate(dict(row)) for row in rows]
