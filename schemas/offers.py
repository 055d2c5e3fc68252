"""The offer directory: what the flyer of a town lists besides the KI's referral partners.

An offer belongs to one town or, without a town, to the whole county (integration offers such
as the language courses or the return counselling are county-wide, so they appear on the flyer
of every town, Lünen included). The flyer covers all ten towns of the county, not only the
nine the ABH serves (``Settings.towns``): newly arrived people in Lünen are told about the same
offers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.documents import LanguageCode, OfferCategory
from schemas.inputs import OneLine, Text

# Every town of Kreis Unna, in alphabetical order; a flyer exists for each.
COUNTY_TOWNS: tuple[str, ...] = (
    "Bergkamen",
    "Bönen",
    "Fröndenberg/Ruhr",
    "Holzwickede",
    "Kamen",
    "Lünen",
    "Schwerte",
    "Selm",
    "Unna",
    "Werne",
)
# What the flyer prints as the place of a county-wide offer.
COUNTY = "Kreis Unna"


def known_town(town: str) -> str:
    """``town`` as the county spells it; refuses anything that is not one of its ten towns.

    Case and surrounding spaces are forgiven ("unna" is Unna): a typo must not make an entry
    silently vanish from every flyer.
    """
    wanted = town.strip().casefold()
    for name in COUNTY_TOWNS:
        if name.casefold() == wanted:
            return name
    raise ValueError("unknown town: one of " + ", ".join(COUNTY_TOWNS))


# OneLine first: a control character is named as such, not as an unknown town.
CountyTown = Annotated[str, OneLine, AfterValidator(known_town)]


class OfferDraft(BaseModel):
    """A new or changed offer (API, CLI, admin page)."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    category: OfferCategory
    town: CountyTown | None = None  # None: county-wide
    address: Text
    hours: Text
    contact: Text | None = None
    languages: list[LanguageCode] = Field(default_factory=list)


class Offer(OfferDraft):
    offer_id: int
    active: bool = True
    # Seed data the county has not confirmed yet; an admin's edit clears it.
    example: bool = False
