"""Notes on a case: a caseworker's free text, with its author and time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.inputs import MULTI_LINE_SCHEMA, Lines
from schemas.rows import Row

NOTE_MAX = 2000


class NoteDraft(BaseModel):
    """``POST /api/v1/cases/{case_id}/notes``: only what the case needs; no personal data of
    third parties beyond what is needed (the page says so)."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=NOTE_MAX),
        Lines,
        Field(json_schema_extra=MULTI_LINE_SCHEMA),
    ]


class NoteRow(Row):
    note_id: int
    case_id: str
    author_id: int
    author: str | None
    written_at: datetime
    text: str


class Note(BaseModel):
    note_id: int
    author: str | None = Field(description="The author's display name (None: account gone).")
    written_at: datetime
    text: str
