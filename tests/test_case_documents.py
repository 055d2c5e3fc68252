"""The documents of a case through the API: listed with version and hash, fetched as PDF, by the
ABH only, each opening in the access log."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
from fastapi import FastAPI

from schemas.accounts import Role
from schemas.case_documents import CaseDocument
from store import documents
from tests.test_api import V1, logged_in, open_case

PDF = b"%PDF-1.4\n% a stand-in: the API stores and returns bytes, it does not render\n"


async def store_document(pool: asyncpg.Pool, case_id: str, kind: str = "einwilligung") -> uuid.UUID:
    document = CaseDocument(
        document_id=uuid.uuid4(),
        kind=kind,
        languages=["de", "ar"],
        template_version="consent-v3",
        content_hash=hashlib.sha256(PDF).hexdigest(),
        flags=["draft_translation"],
        created_at=datetime.now(UTC),
        size=len(PDF),
    )
    async with pool.acquire() as con:
        return await documents.add_document(con, case_id, document, PDF)


async def test_the_abh_lists_and_fetches_a_cases_documents(
    app: FastAPI, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(http)
    document_id = await store_document(pool, case_id)
    # The same text in the same version is kept once, however often it is handed over.
    assert await store_document(pool, case_id) == document_id

    listed = await http.get(f"{V1}/cases/{case_id}/documents")
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()
    assert entry["document_id"] == str(document_id)
    assert entry["languages"] == ["de", "ar"] and entry["template_version"] == "consent-v3"
    assert entry["content_hash"] == hashlib.sha256(PDF).hexdigest()
    assert entry["flags"] == ["draft_translation"] and entry["size"] == len(PDF)

    pdf = await http.get(f"{V1}/cases/{case_id}/documents/{document_id}")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    # Saved under what it is, not under a uuid.
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="Einwilligung-{case_id}-de-ar.pdf"'
    )

    missing = await http.get(f"{V1}/cases/{case_id}/documents/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert (await http.get(f"{V1}/cases/NOPE-1/documents")).status_code == 404
    bad = await http.get(f"{V1}/cases/{case_id}/documents/not-a-uuid")
    assert bad.status_code == 422

    log = await app.state.accounts.access_log(case_id)
    assert {"api: documents", "api: document"} <= {entry.what for entry in log}

    for role in (Role.KI, Role.OPS, Role.ADMIN):
        async with logged_in(app, role) as other:
            assert (await other.get(f"{V1}/cases/{case_id}/documents")).status_code == 403
            fetched = await other.get(f"{V1}/cases/{case_id}/documents/{document_id}")
            assert fetched.status_code == 403 and PDF not in fetched.content
