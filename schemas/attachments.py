"""Attachments on a case: a scan or photo of the signed consent, of a border crossing
certificate (Grenzübertrittsbescheinigung) or of another paper, as PDF, JPEG or PNG.

The file itself is personal data and is stored sealed with the case's data key
(:mod:`protection.sealed`); the name it had on the uploader's computer is not kept at all: a
download is named after what it is (:func:`attachment_file_name`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.inputs import Text
from schemas.local_time import BERLIN
from schemas.rows import Row

MediaType = Literal["application/pdf", "image/jpeg", "image/png"]

MEDIA_TYPES: dict[MediaType, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/png": (".png",),
}
"""The kinds of file taken, each with the file name endings that may say so."""

MEDIA_NAMES: dict[MediaType, str] = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
}

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""``CASE_ATTACHMENT_MAX_BYTES``'s default: 10 MiB, a multi-page scan at 300 dpi."""


class AttachmentKind(StrEnum):
    CONSENT = "consent"  # Einwilligungserklärung (signed)
    BORDER_CROSSING = "border_crossing"  # Grenzübertrittsbescheinigung
    OTHER = "other"  # sonstiges


class AttachmentDraft(BaseModel):
    """The form fields of ``POST /api/v1/cases/{case_id}/attachments`` beside the file."""

    model_config = ConfigDict(extra="forbid")

    kind: AttachmentKind
    description: Text | None = Field(
        default=None,
        description="Optional, one line of up to 200 characters: what the paper is (no "
        "more personal data than the case needs).",
    )


class AttachmentUpload(BaseModel):
    """The file as it came in: the bytes, and what the sender said it is (both may be wrong;
    the service decides by the bytes). ``file_name`` is only compared, never stored."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    data: bytes = Field(repr=False)
    declared_type: str | None = None
    file_name: str | None = Field(default=None, repr=False)


class AttachmentRow(Row):
    attachment_id: UUID
    case_id: str
    kind: str
    description: str | None = Field(repr=False)
    content_type: str
    size_bytes: int
    uploaded_by: int
    uploader: str | None
    uploader_role: str
    uploaded_at: datetime


class SealedAttachmentRow(Row):
    attachment_id: UUID
    case_id: str
    kind: str
    content_type: str
    uploaded_at: datetime
    key_id: str
    sealed: bytes = Field(repr=False)


class Attachment(BaseModel):
    """An attachment as listed: what it is, who uploaded it and when (not the file)."""

    attachment_id: UUID
    kind: AttachmentKind
    description: str | None
    content_type: MediaType = Field(description="Detected from the file's content.")
    size_bytes: int
    uploaded_by: str | None = Field(description="The uploader's display name (None: gone).")
    uploader_role: Literal["abh", "ki"]
    uploaded_at: datetime


class AttachmentFile(BaseModel):
    """An attachment's file to download, with the name it is saved under."""

    model_config = ConfigDict(frozen=True)

    file_name: str
    content_type: MediaType
    data: bytes = Field(repr=False)


_TITLES = {
    AttachmentKind.CONSENT: "Einwilligung",
    AttachmentKind.BORDER_CROSSING: "Grenzuebertrittsbescheinigung",
    AttachmentKind.OTHER: "Anlage",
}


def attachment_file_name(
    kind: AttachmentKind, case_id: str, uploaded_at: datetime, attachment_id: UUID, media: MediaType
) -> str:
    """``Grenzuebertrittsbescheinigung-ABH-2026-0001-2026-12-02-1a2b3c4d.pdf``: the kind, the
    case id, the day of the upload (Berlin) and the start of the attachment's id; ASCII only."""
    safe_case = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in case_id)
    day = uploaded_at.astimezone(BERLIN).date().isoformat()
    return (
        f"{_TITLES[kind]}-{safe_case.strip('-')}-{day}-{attachment_id.hex[:8]}"
        f"{MEDIA_TYPES[media][0]}"
    )
