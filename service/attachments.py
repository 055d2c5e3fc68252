"""Attachments on a case: the signed consent, a border crossing certificate, another paper.

Who: the ABH uploads to and reads every case. The KI uploads to a case disclosed to it on a
consent that stands (the view ``ki_readable``, the same rule as its case view) and sees only
what the KI uploaded: the ABH's attachments hold more than the three categories it receives.
Any other case is :class:`~service.errors.NotFound` for the KI, exactly like an unknown case.

What: PDF, JPEG or PNG, judged by the file's first bytes; what the sender declared (the
content type of the part, the file name's ending) must not say otherwise, and the file is at
most ``CASE_ATTACHMENT_MAX_BYTES``. A refusal names the field (``file``, ``kind``,
``description``) and the reason.

How it is kept: sealed with the case's data key (:mod:`protection.sealed`; the case and the
attachment are its associated data), so erasure's key shredding leaves it unreadable, and the
row goes with the case's personal rows. The file's own name is compared, never stored. An
upload is in the audit log (id, kind, type, size); every download is in the access log.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from uuid import UUID

import asyncpg

from protection.keyring import KeyRing, case_scope
from protection.sealed import seal, unseal
from schemas.accounts import Account, Role
from schemas.attachments import (
    MEDIA_NAMES,
    MEDIA_TYPES,
    Attachment,
    AttachmentDraft,
    AttachmentFile,
    AttachmentKind,
    AttachmentRow,
    AttachmentUpload,
    MediaType,
    attachment_file_name,
)
from schemas.audit import AuditAction, AuditDraft, DetailValue
from service.access import log_access
from service.errors import Conflict, Forbidden, Invalid, NotFound
from store import attachments as store
from store import audit
from store import inbox as inbox_store
from store.db import Connection

UPLOADERS = frozenset({Role.ABH, Role.KI})

# The first bytes of each kind taken (PDF 1.0-2.0, JFIF/Exif JPEG, PNG).
_SIGNATURES: tuple[tuple[bytes, MediaType], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
# What senders declare for them besides the registered name; "application/octet-stream"
# and no type at all declare nothing.
_ALIASES: dict[str, MediaType] = {
    "application/pdf": "application/pdf",
    "application/x-pdf": "application/pdf",
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/png": "image/png",
    "image/x-png": "image/png",
}
_UNDECLARED = frozenset({"", "application/octet-stream"})


def too_large(max_bytes: int) -> str:
    """The reason for a file over the limit (the pages say it in MiB)."""
    return f"larger than the limit of {max_bytes} bytes"


def content_type_of(data: bytes) -> MediaType | None:
    """PDF, JPEG or PNG by the first bytes; None for anything else."""
    return next((media for magic, media in _SIGNATURES if data.startswith(magic)), None)


def _extension(file_name: str | None) -> str:
    if not file_name:
        return ""
    # A browser sends the base name, a client may send a path of either kind.
    base = PureWindowsPath(PurePosixPath(file_name).name).name
    return PurePosixPath(base).suffix.lower()


def checked_type(upload: AttachmentUpload, max_bytes: int) -> MediaType:
    """The file's type by its content, or :class:`Invalid` naming ``file`` and why."""
    if not upload.data:
        raise Invalid.field("file", "the file is empty")
    if len(upload.data) > max_bytes:
        raise Invalid.field("file", too_large(max_bytes))
    media = content_type_of(upload.data)
    if media is None:
        raise Invalid.field("file", "must be a PDF, JPEG or PNG file (judged by its content)")
    name = MEDIA_NAMES[media]
    declared = (upload.declared_type or "").split(";")[0].strip().lower()
    if declared not in _UNDECLARED and _ALIASES.get(declared) != media:
        raise Invalid.field(
            "file", f"the content is {name}, the declared content type says otherwise"
        )
    ending = _extension(upload.file_name)
    if ending and ending not in MEDIA_TYPES[media]:
        raise Invalid.field("file", f"the content is {name}, the file name's ending says otherwise")
    return media


def _context(case_id: str, attachment_id: UUID) -> str:
    """What the sealed bytes belong to (associated data): moved elsewhere, they do not open."""
    return f"case-attachment|{case_id}|{attachment_id}"


def _listed(row: AttachmentRow) -> Attachment:
    return Attachment.model_validate(
        {
            **row.model_dump(exclude={"uploader", "uploaded_by", "case_id"}),
            "uploaded_by": row.uploader,
        }
    )


class AttachmentService:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing, max_bytes: int) -> None:
        self._pool = pool
        self._keys = keys
        self.max_bytes = max_bytes

    async def _uploads_seen(self, con: Connection, account: Account, case_id: str) -> str | None:
        """Whose uploads ``account`` sees in the case (None: all); NotFound for a case it may
        not read."""
        if account.role not in UPLOADERS:
            raise Forbidden("your role may not do this")
        if await store.case_state(con, case_id) is None:
            raise NotFound("unknown case")
        if account.role is Role.KI:
            if await inbox_store.ki_referral(con, case_id) is None:
                raise NotFound("unknown case")
            return Role.KI.value
        return None

    async def add(
        self, account: Account, case_id: str, draft: AttachmentDraft, upload: AttachmentUpload
    ) -> Attachment:
        if account.role not in UPLOADERS:
            raise Forbidden("your role may not do this")
        async with self._pool.acquire() as con:
            await self._uploads_seen(con, account, case_id)
            if await store.case_state(con, case_id):
                raise Conflict("the case's data was erased")
        media = checked_type(upload, self.max_bytes)
        attachment_id = uuid.uuid4()
        at = datetime.now(UTC)
        sealed = await seal(
            self._keys, case_scope(case_id), upload.data, _context(case_id, attachment_id)
        )
        async with self._pool.acquire() as con, con.transaction():
            # Held against an erasure until the row is in: erased after it, the row goes too.
            if await store.case_state(con, case_id, lock=True):
                raise Conflict("the case's data was erased")
            await self._uploads_seen(con, account, case_id)
            await store.insert_attachment(
                con,
                attachment_id=attachment_id,
                case_id=case_id,
                kind=draft.kind.value,
                description=draft.description,
                content_type=media,
                size_bytes=len(upload.data),
                key_id=sealed.key_id,
                sealed=sealed.data,
                uploaded_by=account.account_id,
                uploader_role=account.role.value,
                uploaded_at=at,
            )
            detail: dict[str, DetailValue] = {
                "attachment": str(attachment_id),
                "kind": draft.kind.value,
                "content_type": media,
                "size_bytes": len(upload.data),
            }
            await audit.append(
                con,
                AuditDraft.by(
                    account, AuditAction.ATTACHMENT_ADDED, case_id=case_id, detail=detail
                ),
            )
        return Attachment(
            attachment_id=attachment_id,
            kind=draft.kind,
            description=draft.description,
            content_type=media,
            size_bytes=len(upload.data),
            uploaded_by=account.display_name,
            uploader_role="ki" if account.role is Role.KI else "abh",
            uploaded_at=at,
        )

    async def attachments(
        self, account: Account, case_id: str, purpose: str | None
    ) -> list[Attachment]:
        """The attachments ``account`` sees, the latest first. ``purpose``: the opening is
        logged under it; None where the caller logged the opening of the page that lists them
        (the case page)."""
        async with self._pool.acquire() as con, con.transaction():
            seen = await self._uploads_seen(con, account, case_id)
            rows = await store.attachments_of_case(con, case_id, seen)
            if purpose is not None:
                await log_access(con, account, case_id, purpose)
        return [_listed(row) for row in rows]

    async def file(
        self, account: Account, case_id: str, attachment_id: UUID, purpose: str
    ) -> AttachmentFile:
        """One attachment's file, opened: the access log says so (after it opened, in one
        transaction with the reading)."""
        async with self._pool.acquire() as con:
            seen = await self._uploads_seen(con, account, case_id)
            row = await store.sealed_attachment(con, case_id, attachment_id, seen)
        if row is None:
            raise NotFound("unknown attachment")
        plain = await unseal(self._keys, row.key_id, row.sealed, _context(case_id, attachment_id))
        if plain is None:  # the case's key was shredded: erased
            raise NotFound("unknown attachment")
        media = content_type_of(plain)
        assert media is not None and media == row.content_type  # as checked at the upload
        async with self._pool.acquire() as con, con.transaction():
            await log_access(con, account, case_id, purpose)
        return AttachmentFile(
            file_name=attachment_file_name(
                AttachmentKind(row.kind), case_id, row.uploaded_at, attachment_id, media
            ),
            content_type=media,
            data=plain,
        )
