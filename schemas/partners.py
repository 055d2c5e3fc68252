"""The partner directory: welfare associations and volunteer groups per town.

The KI picks a referral partner in the person's town from it, and every active partner is also
an entry of its town's flyer (with its address and opening hours), so a partner's change
reaches the flyer without being entered twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.documents import OfferCategory
from schemas.inputs import Text
from schemas.offers import CountyTown

# What existing entries and clients that do not send them get (migration 010 uses the same).
DEFAULT_ADDRESS = "Kontakt über das Kommunale Integrationszentrum Kreis Unna"
DEFAULT_HOURS = "nach Vereinbarung"


class PartnerKind(StrEnum):
    WOHLFAHRTSVERBAND = "wohlfahrtsverband"
    EHRENAMT = "ehrenamt"

    @property
    def category(self) -> OfferCategory:
        """Where the partner stands on the flyer."""
        if self is PartnerKind.WOHLFAHRTSVERBAND:
            return OfferCategory.WELFARE_ASSOCIATION
        return OfferCategory.VOLUNTEER_GROUP


class PartnerDraft(BaseModel):
    """A new or changed directory entry (CLI, admin page)."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    kind: PartnerKind
    town: CountyTown
    contact: Text
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=list
    )
    address: Text = DEFAULT_ADDRESS
    hours: Text = DEFAULT_HOURS


class Partner(PartnerDraft):
    partner_id: int
    # Entries written before towns were checked are still shown (and can be corrected).
    town: Text
    active: bool = True
    # Seed data the county has not confirmed yet; an admin's edit clears it.
    example: bool = False
