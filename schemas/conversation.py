"""How an information conversation was held: codes shared by the task, the record and its copy.

The ABH records them with the conversation (``schemas.tasks.InformationConversation``); the
workflow passes language, interpreter and participants on to the person's copy of the record
(``schemas.case_documents.ConversationFacts``), which prints them in the person's language
from the reviewed templates (keys ``language.<code>``, ``interpreter.<mode>``,
``participant.<role>``). How the copy and the departure letter reached the person stays in the
record (the stored completion): the copy is printed before it is handed over.

Who took part is recorded as roles, never as names: the names of third parties (a relative, a
volunteer) are personal data the record does not need, and a representative's name is in the
case file already.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas.inputs import LanguageCode

ABH_LANGUAGE = "de"
"""The language of the ABH: a conversation held in it needs no interpreter."""


class InterpreterMode(StrEnum):
    PRESENT = "present"  # in the room
    BY_PHONE = "by_phone"
    BY_VIDEO = "by_video"


class Interpreter(BaseModel):
    """Who interpreted, as a language and a way of taking part (no name: see the module)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: LanguageCode
    mode: InterpreterMode


class Participant(StrEnum):
    """Who took part besides the ABH, by role; the interpreter is recorded of its own."""

    PERSON = "person"  # the person obliged to leave
    REPRESENTATIVE = "representative"  # Bevollmächtigte*r
    SUPPORTER = "supporter"  # Unterstützer*in, e.g. a volunteer
    FAMILY_MEMBER = "family_member"
    COUNSELLOR = "counsellor"  # a counselling service, e.g. of a welfare association
    KI_STAFF = "ki_staff"  # Kommunales Integrationszentrum


class CopyDelivery(StrEnum):
    """How a document of the conversation reached the person."""

    HANDED_OVER = "handed_over"  # ausgehändigt
    SENT = "sent"  # zugesandt
    REFUSED = "refused"  # the person refused to take it
