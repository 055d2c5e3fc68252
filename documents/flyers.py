"""Flyer versions: a town's offers, rendered once per text version and directory version.

A flyer is made of two things that change independently: the flyer's texts (their
``template_version``) and the town's part of the directory (active partners of the town, active
offers of the town, active county-wide offers). The directory part is reduced to a
``directory_version``, the sha256 of the offers exactly as handed to the renderer, in a fixed
order, as canonical JSON. Asking for the flyer of (town, language) looks up the stored version
for (town, language, current template version, current directory version) and renders and
stores one only when there is none: the same question gets the same ``flyer_id`` until
something on the flyer changes, and every version handed out stays stored unchanged.

Rendering costs a few milliseconds of CPU and runs in the renderer processes
(``documents.render_off_loop``): the event loop keeps serving, the GIL stays free.
Two processes asking at once may both render; ``INSERT ... ON CONFLICT DO NOTHING`` keeps one
row and both answer with it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from documents import render_off_loop, template_version
from documents.texts import TEXTS_DIR
from schemas.documents import (
    DocumentKind,
    FlyerContext,
    OfferCategory,
    SupportOffer,
)
from schemas.flyers import FlyerRequest, IssuedFlyer
from schemas.local_time import BERLIN
from schemas.offers import COUNTY, COUNTY_TOWNS, known_town
from store import flyers as store

_CATEGORY_ORDER = {category: index for index, category in enumerate(OfferCategory)}


class FlyerError(Exception):
    """A flyer that cannot be made; ``field`` names the input at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownTown(FlyerError):
    """Not one of the county's ten towns."""


class EmptyDirectory(FlyerError):
    """The town has no active entry at all (not even a county-wide one): nothing to print."""


def resolve_town(town: str) -> str:
    """The county's spelling of ``town``, or :class:`UnknownTown`."""
    try:
        return known_town(town)
    except ValueError as error:
        raise UnknownTown(str(error), field="town") from None


@dataclass(frozen=True)
class TownDirectory:
    """A town's offers as the flyer prints them, and the version they make."""

    town: str
    offers: tuple[SupportOffer, ...]
    canonical: str  # canonical JSON of ``offers``; ``version`` is its sha256
    version: str


def _position(offer: SupportOffer) -> tuple[int, bool, str, str, str, str, str]:
    """Category as the flyer groups them, the town's own entries before county-wide ones, then
    by name; the remaining fields only break ties, so the order never depends on the query."""
    return (
        _CATEGORY_ORDER[offer.category],
        offer.town == COUNTY,
        offer.name.casefold(),
        offer.name,
        offer.address,
        offer.hours,
        offer.contact or "",
    )


def directory_of(town: str, offers: Sequence[SupportOffer]) -> TownDirectory:
    ordered = tuple(sorted(offers, key=_position))
    canonical = json.dumps(
        [offer.model_dump(mode="json") for offer in ordered],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    version = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return TownDirectory(town=town, offers=ordered, canonical=canonical, version=version)


async def town_directory(pool: asyncpg.Pool, town: str) -> TownDirectory:
    """The current directory of ``town`` (any spelling :func:`resolve_town` accepts)."""
    name = resolve_town(town)
    async with pool.acquire() as con:
        offers = await store.town_directory(con, name, COUNTY)
    return directory_of(name, offers)


async def county_directories(pool: asyncpg.Pool) -> list[TownDirectory]:
    """The current directory of every town of the county, in the county's order."""
    return [await town_directory(pool, town) for town in COUNTY_TOWNS]


async def issue_flyer(
    pool: asyncpg.Pool,
    request: FlyerRequest,
    *,
    texts_dir: Path = TEXTS_DIR,
    now: datetime | None = None,
) -> IssuedFlyer:
    """The current flyer version for ``request``, rendered and stored on first use.

    ``texts_dir`` exists for tests that change a text; ``now`` for the "Stand" date and the
    version's ``created_at`` (a new version is dated the day it is made).
    """
    directory = await town_directory(pool, request.town)
    if not directory.offers:
        raise EmptyDirectory(
            f"no active offers for {directory.town}: add some in the directory first", "town"
        )
    key = {
        "town": directory.town,
        "requested_language": request.language,
        "directory_version": directory.version,
    }
    async with pool.acquire() as con:
        found = await store.find_flyer(
            con,
            template_version=template_version(
                DocumentKind.FLYER, request.language, texts_dir=texts_dir
            ),
            **key,
        )
    if found is not None:
        return found

    moment = now or datetime.now(UTC)
    context = FlyerContext(
        town=directory.town, as_of=moment.astimezone(BERLIN).date(), offers=list(directory.offers)
    )
    document = await render_off_loop(
        DocumentKind.FLYER, request.language, context, texts_dir=texts_dir
    )
    async with pool.acquire() as con:
        # The rendering's own template version: a text edited meanwhile is stored as what it is.
        await store.add_flyer(
            con,
            flyer_id=uuid.uuid4(),
            languages=document.languages,
            template_version=document.template_version,
            directory=directory.canonical,
            content_hash=document.content_hash,
            flags=[flag.value for flag in document.flags],
            pdf=document.pdf,
            created_at=moment,
            **key,
        )
        stored = await store.find_flyer(con, template_version=document.template_version, **key)
    if stored is None:  # rows are never deleted: the insert or a concurrent one is there
        raise RuntimeError("flyer version vanished after it was stored")
    return stored
