"""An e-mail for the outbox: what a workflow asks to be sent, attachments included.

The arrival's ``arrival.mail_flyer`` activity builds it and writes it to the ``outbox`` table
(``store.outbox.enqueue``); it carries personal data (recipient, text, documents).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.rows import Row

# One address, no display name: enough to send to and nothing a header could be injected with.
ADDRESS_PATTERN = r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$"
MailAddress = Annotated[str, Field(max_length=254, pattern=ADDRESS_PATTERN)]


class MailAttachment(BaseModel):
    """A document sent with the mail. Bytes travel base64-encoded in JSON payloads."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    filename: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\\r\n]+$")
    content_type: str = Field(pattern=r"^[a-z0-9.+-]+/[a-z0-9.+-]+$")
    content: bytes


class MailRequest(BaseModel):
    """One e-mail, queued once per ``idempotency_key`` however often it is asked for.

    The key is the caller's: ``<case or arrival id>:<document>:<version>``, so a retried
    activity (or a replayed workflow) never sends the same document twice, while a new
    version of the document is a new mail.
    """

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    idempotency_key: str = Field(min_length=1, max_length=300)
    case_id: str | None = Field(default=None, min_length=1)
    arrival_id: str | None = Field(
        default=None, description="The arrival a mail is about (erased with it); not with case_id."
    )
    recipient: str = Field(max_length=254, pattern=ADDRESS_PATTERN)
    subject: str = Field(min_length=1, max_length=300, pattern=r"^[^\r\n]*$")
    body: str
    attachments: tuple[MailAttachment, ...] = ()


# ------------------------------------------------------------------- rows


class OutboxStateRow(Row):
    """Where a mail stands: ``queued``, ``sent`` (then ``sent_at``) or ``failed``."""

    status: str
    sent_at: datetime | None


class MailRow(Row):
    """One outbox row; subject and body are None once sent."""

    id: int
    idempotency_key: str
    case_id: str | None
    arrival_id: UUID | None
    recipient: str = Field(repr=False)
    subject: str | None = Field(repr=False)
    body: str | None = Field(repr=False)
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    message_id: str | None
    message_sha256: bytes | None
    created_at: datetime
    sent_at: datetime | None
