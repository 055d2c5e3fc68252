"""The offer directory: what the flyer of a town lists besides the KI's referral partners.

An offer belongs to one town or, without a town, to the whole county (integration offers such
as the language courses or the return counselling are county-wide, so they appear on the flyer
of every town, Lünen included). The flyer covers all ten towns of the county, not only the
nine the ABH serves (``Settings.towns``): newly arrived people in Lünen are told about the same
offers.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.documents import OfferCategory
from schemas.inputs import LanguageCode, OneLine, Text

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


# How the back offices spell the towns without umlauts: "Froendenberg/Ruhr", also "Bonen".
_UMLAUTS = (("ä", "ae", "a"), ("ö", "oe", "o"), ("ü", "ue", "u"))


def _spellings(name: str) -> set[str]:
    """The folded forms of a town's name: as written, and with each umlaut transliterated."""
    forms = {_fold(name)}
    for umlaut, *plain in _UMLAUTS:
        forms = {form.replace(umlaut, written) for form in forms for written in (umlaut, *plain)}
    return forms


def _fold(text: str) -> str:
    """Case, Unicode composition (an "ö" sent as o + U+0308) and runs of spaces forgiven."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


_BY_SPELLING: dict[str, str] = {
    spelling: name for name in COUNTY_TOWNS for spelling in _spellings(name)
}


def county_spelling(town: str) -> str | None:
    """``town`` as the county spells it ("unna", "Froendenberg/Ruhr", "BÖNEN"), or None when
    it is none of the ten towns."""
    return _BY_SPELLING.get(_fold(town))


def known_town(town: str) -> str:
    """``town`` as the county spells it; refuses anything that is not one of its ten towns.

    Case, umlauts written as ae/oe/ue (or without the dots) and surrounding spaces are
    forgiven ("unna" is Unna): a typo must not make an entry silently vanish from every flyer.
    """
    name = county_spelling(town)
    if name is None:
        raise ValueError("unknown town: one of " + ", ".join(COUNTY_TOWNS))
    return name


def official_town(town: str) -> str:
    """The county's spelling of a town of Kreis Unna, anything else as it was sent.

    For a person's address: what is stored (and compared with the jurisdiction, and shown on
    every page) is one spelling per town; a town outside the county is refused further on,
    by whoever knows which towns it takes (the jurisdiction is configuration).
    """
    return county_spelling(town) or town


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
