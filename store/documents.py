"""Queries for the documents of a case (``case_documents``)."""

from __future__ import annotations

from uuid import UUID

from schemas.case_documents import CaseDocument, DocumentFile
from store.db import Connection

_COLUMNS = (
    "document_id, kind, languages, template_version, content_hash, flags, created_at, "
    "octet_length(pdf) AS size, recipients"
)


async def add_document(con: Connection, case_id: str, document: CaseDocument, pdf: bytes) -> UUID:
    """Store ``document`` (its ``size`` is the PDF's) once: the same text in the same version
    for a case is kept once; the id of the one kept is returned."""
    stored = await con.fetchval(
        "INSERT INTO case_documents (document_id, case_id, kind, languages, template_version,"
        " content_hash, flags, pdf, created_at, recipients)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (case_id, kind, template_version, content_hash) DO UPDATE"
        " SET kind = EXCLUDED.kind RETURNING document_id",
        document.document_id,
        case_id,
        document.kind,
        document.languages,
        document.template_version,
        document.content_hash,
        document.flags,
        pdf,
        document.created_at,
        document.recipients,
    )
    assert isinstance(stored, UUID)
    return stored


async def documents_of_case(con: Connection, case_id: str) -> list[CaseDocument]:
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM case_documents WHERE case_id = $1 ORDER BY created_at, kind",
        case_id,
    )
    return [CaseDocument.model_validate(dict(row)) for row in rows]


async def document(con: Connection, case_id: str, document_id: UUID) -> CaseDocument | None:
    row = await con.fetchrow(
        f"SELECT {_COLUMNS} FROM case_documents WHERE case_id = $1 AND document_id = $2",
        case_id,
        document_id,
    )
    return None if row is None else CaseDocument.model_validate(dict(row))


async def document_pdf(con: Connection, case_id: str, document_id: UUID) -> DocumentFile | None:
    row = await con.fetchrow(
        "SELECT kind, languages, pdf FROM case_documents WHERE case_id = $1 AND document_id = $2",
        case_id,
        document_id,
    )
    return None if row is None else DocumentFile.model_validate(dict(row))
