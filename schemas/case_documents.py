"""The documents a case receives: what the workflow asks for, and what is stored and listed.

The workflow decides *when* a document is due and passes the facts only it knows (the
conversation as recorded, the rule versions explained, the departure deadline); the activity
adds what lives in the case file (language, name, town) and the current templates, renders,
and stores the PDF once per ``document_id``. The stored row is what the person received: its
template version and content hash never change afterwards, whatever happens to the texts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.conversation import Interpreter, Participant
from schemas.documents import DocumentKind, RouteDiscussed
from schemas.inputs import LanguageCode
from schemas.records import Entry

# Printed on the departure letter and the consent form; CASE_AUTHORITY_CONTACT replaces it.
AUTHORITY_CONTACT = "Ausländerbehörde des Kreises Unna, Friedrich-Ebert-Straße 17, 59425 Unna"


class ConversationFacts(BaseModel):
    """What the Gesprächsprotokoll states, as the caseworker recorded it."""

    model_config = ConfigDict(frozen=True)

    held_on: date
    routes: list[RouteDiscussed] = Field(min_length=1)
    # The rule versions explained (``RouteVersion.version_id``), as printed on the record.
    rule_versions: list[str] = Field(default_factory=list)
    # How it was held (schemas/conversation.py); none in requests made before it was asked.
    language: LanguageCode | None = None
    interpreter: Interpreter | None = None
    participants: list[Participant] = Field(default_factory=list)


class DocumentRequest(BaseModel):
    """One document for one case; ``document_id`` is chosen by the workflow (deterministic),
    so a retried activity finds the document it already stored instead of making a second."""

    model_config = ConfigDict(frozen=True)

    entry: Entry
    document_id: UUID
    kind: DocumentKind
    issued_on: date
    conversation: ConversationFacts | None = None  # gespraechsprotokoll
    departure_deadline: date | None = None  # ausreiseinformation

    @model_validator(mode="after")
    def _facts_of_the_kind(self) -> Self:
        if self.kind is DocumentKind.GESPRAECHSPROTOKOLL and self.conversation is None:
            raise ValueError("the conversation record needs the conversation")
        if self.kind is DocumentKind.AUSREISEINFORMATION and self.departure_deadline is None:
            raise ValueError("the departure letter needs the departure deadline")
        if self.kind is DocumentKind.FLYER:
            raise ValueError("flyers are issued per town, not per case")
        return self


class CaseDocument(BaseModel):
    """``GET /api/v1/cases/{case_id}/documents``: one document the case received."""

    document_id: UUID
    kind: str
    languages: list[str]
    template_version: str
    content_hash: str
    flags: list[str]
    created_at: datetime
    size: int
    recipients: list[int] | None = Field(
        default=None,
        description="A consent form: the partners (directory ids) it names, so the signed "
        "consent covers them and no other; none for other kinds.",
    )


class DocumentFile(BaseModel):
    """One stored document's PDF, with what its file name is made of."""

    model_config = ConfigDict(frozen=True)

    kind: DocumentKind
    languages: list[str]
    pdf: bytes = Field(repr=False)
