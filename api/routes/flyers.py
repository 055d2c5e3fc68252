"""``/api/v1/flyers``: the flyer of a town as PDF, and the versions stored so far.

``GET /flyers/{town}?language=xx`` answers with the current version's PDF, making (rendering
and storing) it on first use; its id and versions come along as headers. Every version ever
handed out stays retrievable by id (``GET /flyer-versions/{flyer_id}``). Flyers hold no
personal data; they are read by the same roles as the partner directory.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from api.deps import PartnerReader, Pool
from api.errors import CONFLICT, NOT_FOUND
from schemas.flyers import FlyerRequest, IssuedFlyer
from schemas.inputs import Line
from documents.flyers import EmptyDirectory, UnknownTown, issue_flyer, resolve_town
from store import flyers as store

router = APIRouter(tags=["flyers"])

_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The flyer as PDF"}
}
_UNKNOWN_TOWN: dict[int | str, dict[str, Any]] = {
    422: {"description": "Unknown town or malformed language"}
}
_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def town_or_422(town: str, where: Literal["path", "query"]) -> str:
    """The county's spelling of ``town``, or a 422 naming the parameter."""
    try:
        return resolve_town(town)
    except UnknownTown as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": [where, "town"], "msg": error.message, "type": "value_error"}],
        ) from None


def _file_name(flyer: IssuedFlyer) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", flyer.town.lower().translate(_TRANSLITERATION)).strip("-")
    return f"flyer-{slug}-{flyer.requested_language}.pdf"


def _pdf_response(flyer: IssuedFlyer, pdf: bytes) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'inline; filename="{_file_name(flyer)}"',
            "x-flyer-id": flyer.flyer_id,
            "x-flyer-template-version": flyer.template_version,
            "x-flyer-directory-version": flyer.directory_version,
            # Cache-Control: no-store comes from api.security, like on every answer.
        },
    )


@router.get("/flyers", summary="List stored flyer versions", responses=_UNKNOWN_TOWN)
async def list_flyers(
    pool: Pool,
    reader: PartnerReader,
    town: Annotated[Line | None, Query(description="Only the versions of this town.")] = None,
) -> list[IssuedFlyer]:
    """Metadata only, newest first: which version of which town, language, texts and
    directory, made when."""
    name = None if town is None else town_or_422(town, "query")
    async with pool.acquire() as con:
        return await store.list_flyers(con, name)


@router.get(
    "/flyers/{town:path}",
    summary="The current flyer of a town (PDF)",
    response_class=Response,
    responses={**_PDF, **_UNKNOWN_TOWN, **CONFLICT},
)
async def current_flyer(
    town: Annotated[Line, Path(description="One of the ten towns, e.g. Fröndenberg/Ruhr.")],
    pool: Pool,
    reader: PartnerReader,
    language: Annotated[
        str,
        Query(pattern=r"^[a-z]{2,3}$", description="ISO 639 code; German is always beside it."),
    ] = "de",
) -> Response:
    name = town_or_422(town, "path")
    try:
        flyer = await issue_flyer(pool, FlyerRequest(town=name, language=language))
    except EmptyDirectory as error:
        raise HTTPException(status.HTTP_409_CONFLICT, error.message) from None
    async with pool.acquire() as con:
        pdf = await store.flyer_pdf(con, flyer.flyer_id)
    assert pdf is not None  # stored versions are never deleted
    return _pdf_response(flyer, pdf)


@router.get(
    "/flyer-versions/{flyer_id}",
    summary="A stored flyer version (PDF)",
    response_class=Response,
    responses={**_PDF, **NOT_FOUND},
)
async def flyer_version(flyer_id: UUID, pool: Pool, reader: PartnerReader) -> Response:
    """Exactly the PDF of that version, however the directory or the texts changed since."""
    async with pool.acquire() as con:
        flyer = await store.get_flyer(con, str(flyer_id))
        pdf = await store.flyer_pdf(con, str(flyer_id))
    if flyer is None or pdf is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown flyer version")
    return _pdf_response(flyer, pdf)
