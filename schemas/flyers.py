"""The flyer of a town as a stored version (issue 5): what the arrival workflow asks for and gets.

A flyer is made from two things that change independently: the flyer template (its text
version) and the town's part of the partner and offer directory. A stored flyer version is
keyed by both, so a change to either makes a new version while every version already handed
out stays provable. The activity ``flyers.issue`` answers a :class:`FlyerRequest` with the
current version (rendering and storing it on first use); ``store.flyers.flyer_pdf`` returns its
PDF. Flyers hold no personal data.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.documents import DocumentFlag, Line
from schemas.inputs import LanguageCode


class FlyerRequest(BaseModel):
    """The flyer for ``town`` in ``language`` (beside German)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    town: Line
    language: LanguageCode


class IssuedFlyer(BaseModel):
    """One stored flyer version; ``flyer_id`` names its PDF."""

    model_config = ConfigDict(frozen=True)

    flyer_id: str  # uuid of the stored version
    town: str
    requested_language: LanguageCode
    languages: list[LanguageCode]  # the columns, German first
    template_version: str
    directory_version: str  # sha256 of the town's offers as printed
    content_hash: str
    flags: list[DocumentFlag]
    created_at: datetime
