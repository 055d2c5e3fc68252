"""``/api/v1/flyers``: the flyer of a town as PDF, and the versions stored so far.

``GET /flyers/{town}?language=xx`` answers with the current version's PDF, making (rendering
and storing) it on first use; its id and versions come along as headers. Every version ever
handed out stays retrievable by id (``GET /flyer-versions/{flyer_id}``). Flyers hold no
personal data; they are read by the same roles as the partner directory.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response

from api.deps import Flyers, PartnerReader
from api.errors import CONFLICT, NOT_FOUND
from schemas.file_names import flyer_file_name
from schemas.flyers import IssuedFlyer
from schemas.inputs import Line
from schemas.problems import ValidationProblem
from service.flyers import FlyerFile, resolve_town

router = APIRouter(tags=["flyers"])

_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The flyer as PDF"}
}
_UNKNOWN_TOWN: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationProblem, "description": "Unknown town or malformed language"}
}


def _pdf_response(found: FlyerFile) -> Response:
    flyer = found.flyer
    return Response(
        found.pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'inline; filename="{flyer_file_name(flyer)}"',
            "x-flyer-id": flyer.flyer_id,
            "x-flyer-template-version": flyer.template_version,
            "x-flyer-directory-version": flyer.directory_version,
            # Cache-Control: no-store comes from api.security, like on every answer.
        },
    )


@router.get("/flyers", summary="List stored flyer versions", responses=_UNKNOWN_TOWN)
async def list_flyers(
    flyers: Flyers,
    reader: PartnerReader,
    town: Annotated[Line | None, Query(description="Only the versions of this town.")] = None,
) -> list[IssuedFlyer]:
    """Metadata only, newest first: which version of which town, language, texts and
    directory, made when."""
    return await flyers.versions(None if town is None else resolve_town(town))


@router.get(
    "/flyers/{town:path}",
    summary="The current flyer of a town (PDF)",
    response_class=Response,
    responses={**_PDF, **_UNKNOWN_TOWN, **CONFLICT},
)
async def current_flyer(
    town: Annotated[Line, Path(description="One of the ten towns, e.g. Fröndenberg/Ruhr.")],
    flyers: Flyers,
    reader: PartnerReader,
    language: Annotated[
        str,
        Query(pattern=r"^[a-z]{2,3}$", description="ISO 639 code; German is always beside it."),
    ] = "de",
) -> Response:
    return _pdf_response(await flyers.current(town, language))


@router.get(
    "/flyer-versions/{flyer_id}",
    summary="A stored flyer version (PDF)",
    response_class=Response,
    responses={**_PDF, **NOT_FOUND},
)
async def flyer_version(flyer_id: UUID, flyers: Flyers, reader: PartnerReader) -> Response:
    """Exactly the PDF of that version, however the directory or the texts changed since."""
    return _pdf_response(await flyers.version(str(flyer_id)))
