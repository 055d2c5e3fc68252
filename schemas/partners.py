"""The partner directory: welfare associations and volunteer groups per town."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.events import Text


class PartnerKind(StrEnum):
    WOHLFAHRTSVERBAND = "wohlfahrtsverband"
    EHRENAMT = "ehrenamt"


class PartnerDraft(BaseModel):
    """A new or changed directory entry (CLI, admin page)."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    kind: PartnerKind
    town: Text
    contact: Text
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=list
    )


class Partner(PartnerDraft):
    partner_id: int
    active: bool = True
