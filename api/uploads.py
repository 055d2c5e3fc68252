"""A multipart upload read with a bound: the API's and the pages' one reader of a file.

Starlette's form parser keeps any file part, however large, in a temporary file; FastAPI's
``UploadFile`` parameters read the whole body before the route runs. Here the body is
refused as soon as it is larger than the file limit plus room for the form's other fields:
by its ``Content-Length`` before a byte of it is read, and otherwise (chunked) at the first
chunk past the bound. What is read is at most that bound, and the file at most the limit.

Every refusal is :class:`~service.errors.Invalid` naming the field: ``file`` (missing, too
large), ``body`` (not multipart, malformed) or a form field of ``fields`` (given twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from schemas.attachments import AttachmentUpload
from service.attachments import too_large
from service.errors import Invalid

# The form around the file: its boundaries and part headers, and the short fields beside it
# (a description is at most 200 characters, 800 bytes in UTF-8).
FORM_ROOM = 16 * 1024
_FIELD_BYTES = 4 * 1024
NOT_MULTIPART = "must be multipart/form-data"
MALFORMED = "not a well-formed multipart/form-data body"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


class _TooLarge(Exception):
    """The body went past its bound while it was being read."""


@dataclass(frozen=True)
class ReceivedForm:
    """The form's text fields (as sent, stripped) and its file (None: no file part)."""

    fields: dict[str, str]
    upload: AttachmentUpload | None


async def read_upload(
    request: Request, max_bytes: int, fields: tuple[str, ...], file_field: str = "file"
) -> ReceivedForm:
    """The multipart body of ``request``: ``fields`` and the file ``file_field``."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise Invalid.field("body", NOT_MULTIPART)
    bound = max_bytes + FORM_ROOM
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise Invalid.field("body", MALFORMED)
        if int(length) > bound:
            raise Invalid.field(file_field, too_large(max_bytes))
    received = 0
    receive = request.receive

    async def bounded() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > bound:
                raise _TooLarge
        return message

    try:
        form = await Request(request.scope, bounded).form(
            # One more than taken of each, so that "given more than once" can name the field.
            max_files=2,
            max_fields=2 * len(fields) + 2,
            max_part_size=_FIELD_BYTES,
        )
    except _TooLarge:
        raise Invalid.field(file_field, too_large(max_bytes)) from None
    except HTTPException:  # Starlette's refusal of a malformed body (a 400)
        raise Invalid.field("body", MALFORMED) from None
    try:
        for name in form:
            if name not in fields and name != file_field:
                # Named as sent when it looks like a field's name; the refusal is logged.
                raise Invalid.field(
                    name if _FIELD_NAME.fullmatch(name) else "body", "not a field of this form"
                )
        texts: dict[str, str] = {}
        for name in fields:
            values = form.getlist(name)
            if len(values) > 1:
                raise Invalid.field(name, "given more than once")
            if values and isinstance(values[0], str):
                texts[name] = values[0].strip()
            elif values:
                raise Invalid.field(name, "must be text, not a file")
        upload = None
        files = form.getlist(file_field)
        if len(files) > 1:
            raise Invalid.field(file_field, "given more than once")
        sent = files[0] if files else None
        if isinstance(sent, str) and sent:
            raise Invalid.field(file_field, "must be a file")
        # A page's file input left empty sends a part without a name and without content
        # (or, from some clients, an empty text part).
        if isinstance(sent, UploadFile) and (sent.filename or sent.size):
            data = await sent.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise Invalid.field(file_field, too_large(max_bytes))
            upload = AttachmentUpload(
                data=data,
                declared_type=sent.content_type,
                file_name=sent.filename,
            )
        return ReceivedForm(fields=texts, upload=upload)
    finally:
        await form.close()
