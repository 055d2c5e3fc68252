"""A document a case received, as listed by ``GET /api/v1/cases/{case_id}/documents``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel


class CaseDocument(BaseModel):
    document_id: UUID
    kind: str
    languages: list[str]
    template_version: str
    content_hash: str
    flags: list[str]
    created_at: datetime
    size: int
