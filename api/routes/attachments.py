"""``/api/v1/cases/{case_id}/attachments``: papers attached to a case (PDF, JPEG, PNG)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.deps import Attachments, CaseIdPath, CaseReader
from api.errors import CONFLICT, NOT_FOUND
from api.uploads import read_upload
from schemas.attachments import (
    DEFAULT_MAX_BYTES,
    MEDIA_TYPES,
    Attachment,
    AttachmentDraft,
    AttachmentKind,
)
from schemas.inputs import SINGLE_LINE_SCHEMA

router = APIRouter(prefix="/cases", tags=["attachments"])

AttachmentIdPath = Annotated[UUID, Path(description="The id as listed by GET .../attachments.")]
FIELDS = ("kind", "description")

_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, JPEG or PNG (judged by its content), at most "
                            f"CASE_ATTACHMENT_MAX_BYTES ({DEFAULT_MAX_BYTES} by default). Its "
                            "name is not kept.",
                        },
                        "kind": {"type": "string", "enum": [kind.value for kind in AttachmentKind]},
                        "description": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 200,
                            **SINGLE_LINE_SCHEMA,
                        },
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in MEDIA_TYPES},
        "description": "The file, as uploaded, with its detected content type.",
    }
}


@router.post(
    "/{case_id}/attachments",
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT},
    openapi_extra=_UPLOAD,
    summary="Attach a paper to a case",
)
async def add_attachment(
    case_id: CaseIdPath, request: Request, attachments: Attachments, uploader: CaseReader
) -> Attachment:
    """A multipart form: ``file``, ``kind`` (``consent``: the signed consent,
    ``border_crossing``: a Grenzübertrittsbescheinigung, ``other``) and an optional
    ``description`` of one line.

    The file must be PDF, JPEG or PNG by its first bytes, and neither its part's content type
    nor its name's ending may say otherwise (a PNG named ``.pdf`` is refused); at most
    ``CASE_ATTACHMENT_MAX_BYTES`` (10 MiB): a larger body is refused before it is read. Each
    refusal is a 422 naming ``file``, ``kind``, ``description`` or ``body``. Stored encrypted
    with the case's key; erased with the case. 409: the case's data was erased already.

    The ABH attaches to any case; the KI to a case disclosed to it on a consent that stands
    (404 for any other), and sees only the KI's attachments.
    """
    form = await read_upload(request, attachments.max_bytes, FIELDS)
    errors: list[Any] = []
    try:
        draft = AttachmentDraft.model_validate(form.fields)
    except ValidationError as error:
        errors = [
            {"loc": ("body", *detail["loc"]), "msg": detail["msg"], "type": detail["type"]}
            for detail in error.errors(include_input=False, include_url=False)
        ]
    if form.upload is None:
        errors.append({"loc": ("body", "file"), "msg": "Field required", "type": "missing"})
    if errors:
        raise RequestValidationError(errors)
    assert form.upload is not None
    return await attachments.add(uploader, case_id, draft, form.upload)


@router.get("/{case_id}/attachments", responses=NOT_FOUND, summary="The attachments of a case")
async def list_attachments(
    case_id: CaseIdPath, attachments: Attachments, reader: CaseReader
) -> list[Attachment]:
    """Kind, description, detected type, size, who uploaded it and when; the latest first.
    The KI gets the KI's own only. Reading the list is an opening of the case: it is logged."""
    return await attachments.attachments(reader, case_id, "api: attachments")


@router.get(
    "/{case_id}/attachments/{attachment_id}",
    responses={**NOT_FOUND, **_FILE},
    response_class=Response,
    summary="One attachment's file",
)
async def get_attachment(
    case_id: CaseIdPath,
    attachment_id: AttachmentIdPath,
    attachments: Attachments,
    reader: CaseReader,
) -> Response:
    """The file with its detected ``Content-Type``, as a download (``Content-Disposition:
    attachment``, named after its kind, the case and the day). Every download is logged."""
    found = await attachments.file(reader, case_id, attachment_id, "api: attachment")
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "content-disposition": f'attachment; filename="{found.file_name}"',
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )
