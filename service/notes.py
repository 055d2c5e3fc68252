"""Notes on a case: the ABH writes them on the case page or through the API; each is kept
with its author and time, in the audit log as written (not its text), and erased with the
case's personal data."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from schemas.accounts import Account, Role
from schemas.audit import AuditAction, AuditDraft
from schemas.notes import Note, NoteDraft
from service.errors import Forbidden, NotFound
from store import audit
from store import cases as case_store
from store import notes as note_store


class NoteService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, account: Account, case_id: str, draft: NoteDraft) -> Note:
        if account.role is not Role.ABH:
            raise Forbidden("only the ABH writes notes on a case")
        at = datetime.now(UTC)
        async with self._pool.acquire() as con, con.transaction():
            if await case_store.get_case(con, case_id) is None:
                raise NotFound("unknown case")
            note_id = await note_store.insert_note(con, case_id, account.account_id, draft.text, at)
            await audit.append(
                con,
                AuditDraft.by(
                    account, AuditAction.NOTE_ADDED, case_id=case_id, detail={"note": note_id}
                ),
            )
        return Note(note_id=note_id, author=account.display_name, written_at=at, text=draft.text)

    async def notes(self, account: Account, case_id: str) -> list[Note]:
        """The case's notes, the latest first (the ABH; reading them is part of reading the
        case, which its caller logs)."""
        if account.role is not Role.ABH:
            raise Forbidden("only the ABH reads notes on a case")
        async with self._pool.acquire() as con:
            if await case_store.get_case(con, case_id) is None:
                raise NotFound("unknown case")
            rows = await note_store.notes_of_case(con, case_id)
        return [Note.model_validate(row.model_dump()) for row in rows]
