"""What an erasure did: counts and dates only, never what was erased."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from schemas.rows import Row


def erasure_unconfirmed(recipient: str) -> str:
    """The timeline's words for an erasure request not confirmed by its due date."""
    return f"Löschung bei {recipient} nicht bestätigt: an den Datenschutz gemeldet"


class ErasureResult(BaseModel):
    case_id: str
    erased_at: datetime
    already_erased: bool = False
    keys_shredded: int = 0
    rows_removed: dict[str, int] = {}


class ReapplyResult(BaseModel):
    """What a restore's re-application of the shredding log did (counts only)."""

    keys_in_log: int
    shredded_again: int  # live in the restored database: shredded now
    already_shredded: int  # the backup was taken after their erasure
    not_in_backup: int  # made after the backup was taken: nothing of them came back
    cases_erased_again: int
    arrival_references_erased_again: int


class ErasureCaseRow(Row):
    """A case as its erasure locks it; outcome as stored (``Outcome``'s value)."""

    case_id: str
    stage: str
    outcome: str | None
    closed_at: datetime | None
    legal_hold: bool
    erased_at: datetime | None


class ClosedCaseRow(Row):
    """A closed case that has no erasure date yet."""

    case_id: str
    closed_at: datetime
    outcome: str
