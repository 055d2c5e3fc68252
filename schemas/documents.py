"""Models of the documents handed to a person (issue 5): what goes in, what comes out.

The renderer (`documents/`) is a pure library; these models are its whole interface, so the
service can store a `RenderedDocument`'s metadata next to the case and prove later which text
version, in which languages, a person received. Legal content (routes, prerequisites,
consequences) travels as codes, never as free German text, because only codes can be printed in
the person's language from reviewed templates.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.conversation import Interpreter, Participant
from schemas.inputs import LanguageCode
from schemas.routes import Prerequisite, Route

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class DocumentKind(StrEnum):
    GESPRAECHSPROTOKOLL = "gespraechsprotokoll"
    AUSREISEINFORMATION = "ausreiseinformation"
    EINWILLIGUNG = "einwilligung"
    FLYER = "flyer"


class Consequence(StrEnum):
    ENTRY_BAN = "entry_ban"
    DEPORTATION_COSTS = "deportation_costs"
    ROUTES_CLOSE = "routes_close"
    NO_ANNOUNCEMENT = "no_announcement"


class OfferCategory(StrEnum):
    MIGRATION_COUNSELLING = "migration_counselling"
    WELFARE_ASSOCIATION = "welfare_association"
    VOLUNTEER_GROUP = "volunteer_group"
    LANGUAGE_COURSE = "language_course"
    RETURN_COUNSELLING = "return_counselling"


class SupportOffer(BaseModel):
    """One support offer in a town; names and addresses are data, never hard-coded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Line
    category: OfferCategory
    town: Line
    address: Line
    hours: Line
    contact: Line | None = None
    languages: list[LanguageCode] = Field(default_factory=list)
    example: bool = False  # sample data: the document then says so in every column


class RouteDiscussed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    route: Route
    # What the rule version in force asks; printed before what is met and what is missing.
    required: list[Prerequisite] = Field(default_factory=list)
    met: list[Prerequisite] = Field(default_factory=list)
    missing: list[Prerequisite] = Field(default_factory=list)


class ConversationRecordContext(BaseModel):
    """Gesprächsprotokoll: the person's copy of the information conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conversation_date: dt.date
    file_reference: Line
    rule_version: Line  # which version of the residence rules was explained (e.g. "2026-01-01")
    routes: list[RouteDiscussed]
    consequences: list[Consequence]
    offers: list[SupportOffer] = Field(default_factory=list)
    # How the conversation was held; without a language (a record made before it was asked)
    # the copy leaves that part out.
    language: LanguageCode | None = None
    interpreter: Interpreter | None = None
    participants: list[Participant] = Field(default_factory=list)


class DepartureLetterContext(BaseModel):
    """Ausreiseinformationsschreiben with its Belehrungen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    letter_date: dt.date
    file_reference: Line
    departure_deadline: dt.date
    authority_contact: Line

    @model_validator(mode="after")
    def _deadline_after_letter(self) -> Self:
        if self.departure_deadline <= self.letter_date:
            raise ValueError("die Ausreisefrist muss nach dem Datum des Schreibens liegen")
        return self


class ConsentContext(BaseModel):
    """Einwilligung und Schweigepflichtentbindung: KI and the partner in the person's town."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person_name: Line
    file_reference: Line
    partner_name: Line
    town: Line
    withdrawal_contact: Line


class FlyerContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    town: Line
    as_of: dt.date
    offers: list[SupportOffer] = Field(min_length=1)


DocumentContext = ConversationRecordContext | DepartureLetterContext | ConsentContext | FlyerContext


class ReviewStatus(StrEnum):
    DRAFTED = "drafted"
    REVIEWED = "reviewed"


class TranslationReview(BaseModel):
    """Who vouches for a text; a reviewed text without a reviewer and a date is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ReviewStatus
    reviewer: Line | None = None
    reviewed_on: dt.date | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _reviewed_needs_who_and_when(self) -> Self:
        if self.status is ReviewStatus.REVIEWED and (
            self.reviewer is None or self.reviewed_on is None
        ):
            raise ValueError("a reviewed text names its reviewer and the review date")
        return self


class DocumentFlag(StrEnum):
    # the requested language has no (complete) template: German and English instead
    LANGUAGE_FALLBACK = "language_fallback"
    # a translation in the document is not reviewed (the document says so on its face)
    DRAFT_TRANSLATION = "draft_translation"
    # the German source text itself awaits review by the ABH
    DRAFT_SOURCE_TEXT = "draft_source_text"
    # some offers are sample data (examples, docs)
    EXAMPLE_DATA = "example_data"


class TemplateRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    language: LanguageCode
    version: str
    review: TranslationReview


class RenderedDocument(BaseModel):
    """The result: the PDF and what it is made of, to be recorded with the case."""

    model_config = ConfigDict(frozen=True)

    kind: DocumentKind
    requested_language: LanguageCode
    languages: list[LanguageCode]  # the columns, German first
    templates: list[TemplateRef]
    template_version: str  # one string naming every template version used
    content_hash: str  # sha256 of the rendered text (see documents/render.py for why)
    flags: list[DocumentFlag]
    text: str = Field(repr=False)
    pdf: bytes = Field(repr=False)
