"""Attachments on a case (``case_attachments``): the sealed file and what it is."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.attachments import AttachmentRow, SealedAttachmentRow
from store.db import Connection

_LISTED = (
    "SELECT t.attachment_id, t.case_id, t.kind, t.description, t.content_type, t.size_bytes,"
    " t.uploaded_by, a.display_name AS uploader, t.uploader_role, t.uploaded_at"
    " FROM case_attachments t LEFT JOIN accounts a ON a.account_id = t.uploaded_by"
)


async def case_state(con: Connection, case_id: str, *, lock: bool = False) -> bool | None:
    """Whether the case's data was erased (None: no such case); ``lock``: the case row is
    held (FOR SHARE) against a concurrent erasure until the transaction ends."""
    erased: bool | None = await con.fetchval(
        "SELECT erased_at IS NOT NULL FROM cases WHERE case_id = $1"
        + (" FOR SHARE" if lock else ""),
        case_id,
    )
    return erased


async def insert_attachment(
    con: Connection,
    *,
    attachment_id: UUID,
    case_id: str,
    kind: str,
    description: str | None,
    content_type: str,
    size_bytes: int,
    key_id: str,
    sealed: bytes,
    uploaded_by: int,
    uploader_role: str,
    uploaded_at: datetime,
) -> None:
    await con.execute(
        "INSERT INTO case_attachments (attachment_id, case_id, kind, description, content_type,"
        " size_bytes, key_id, sealed, uploaded_by, uploader_role, uploaded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        attachment_id,
        case_id,
        kind,
        description,
        content_type,
        size_bytes,
        key_id,
        sealed,
        uploaded_by,
        uploader_role,
        uploaded_at,
    )


async def attachments_of_case(
    con: Connection, case_id: str, uploader_role: str | None = None
) -> list[AttachmentRow]:
    """The case's attachments, the latest first; ``uploader_role``: only those its accounts
    uploaded."""
    rows = await con.fetch(
        _LISTED + " WHERE t.case_id = $1 AND ($2::text IS NULL OR t.uploader_role = $2)"
        " ORDER BY t.uploaded_at DESC, t.attachment_id",
        case_id,
        uploader_role,
    )
    return [AttachmentRow.model_validate(dict(row)) for row in rows]


async def sealed_attachment(
    con: Connection, case_id: str, attachment_id: UUID, uploader_role: str | None = None
) -> SealedAttachmentRow | None:
    row = await con.fetchrow(
        "SELECT attachment_id, case_id, kind, content_type, uploaded_at, key_id, sealed"
        " FROM case_attachments WHERE case_id = $1 AND attachment_id = $2"
        " AND ($3::text IS NULL OR uploader_role = $3)",
        case_id,
        attachment_id,
        uploader_role,
    )
    return None if row is None else SealedAttachmentRow.model_validate(dict(row))
