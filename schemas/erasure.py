"""What an erasure did: counts and dates only, never what was erased."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ErasureResult(BaseModel):
    case_id: str
    erased_at: datetime
    already_erased: bool = False
    keys_shredded: int = 0
    rows_removed: dict[str, int] = {}
