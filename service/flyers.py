"""The towns' flyers for the API and the admin pages: the current version of a town (made on
first use), stored versions by id, and the table of every town's flyer.

The making itself is :mod:`documents.flyers`; here its refusals become members of
:mod:`service.errors`: an unknown town is :class:`~service.errors.Invalid` naming ``town``, a
town without any entry to print a :class:`~service.errors.Conflict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from documents import LANGUAGES
from documents.flyers import EmptyDirectory, UnknownTown, county_directories, issue_flyer
from documents.flyers import resolve_town as _resolve_town
from schemas.file_names import PdfFile, flyer_file_name
from schemas.flyers import FlyerRequest, IssuedFlyer
from service.errors import Conflict, Invalid, NotFound
from store import arrivals as arrival_store
from store import flyers as store

FLYER_LANGUAGES = LANGUAGES
"""The languages a flyer is made in (German always beside the one asked for)."""


@dataclass(frozen=True)
class TownFlyer:
    """One row of the flyer table: the town's directory now, and what is stored for it."""

    town: str
    entries: int
    directory_version: str
    made_at: datetime | None  # the first stored flyer of this directory version
    languages_made: list[str]
    versions: int  # every stored version of the town, all languages


@dataclass(frozen=True)
class FlyerFile:
    """A flyer version and its PDF."""

    flyer: IssuedFlyer
    pdf: bytes


def resolve_town(town: str) -> str:
    """The county's spelling of ``town``; else :class:`Invalid` naming ``town``."""
    try:
        return _resolve_town(town)
    except UnknownTown as error:
        raise Invalid.field("town", error.message) from None


class FlyerService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def current(self, town: str, language: str) -> FlyerFile:
        """The town's current flyer in ``language``, rendered and stored on first use."""
        name = resolve_town(town)
        try:
            flyer = await issue_flyer(self._pool, FlyerRequest(town=name, language=language))
        except EmptyDirectory as error:
            raise Conflict(error.message) from None
        async with self._pool.acquire() as con:
            pdf = await store.flyer_pdf(con, flyer.flyer_id)
        assert pdf is not None  # stored versions are never deleted
        return FlyerFile(flyer, pdf)

    async def version(self, flyer_id: str) -> FlyerFile:
        """Exactly a stored version, however the directory or the texts changed since."""
        async with self._pool.acquire() as con:
            flyer = await store.get_flyer(con, flyer_id)
            pdf = await store.flyer_pdf(con, flyer_id)
        if flyer is None or pdf is None:
            raise NotFound("unknown flyer version")
        return FlyerFile(flyer, pdf)

    async def versions(self, town: str | None = None) -> list[IssuedFlyer]:
        """Stored versions (of one town or all), newest first."""
        async with self._pool.acquire() as con:
            return await store.list_flyers(con, town)

    async def of_task(self, task_id: str) -> PdfFile | None:
        """The flyer a hand-over task is about, if it has one, named after its town."""
        async with self._pool.acquire() as con:
            flyer_id = await arrival_store.flyer_of_task(con, task_id)
            if flyer_id is None:
                return None
            flyer = await store.get_flyer(con, flyer_id)
            pdf = await store.flyer_pdf(con, flyer_id)
        if flyer is None or pdf is None:
            return None
        return PdfFile(file_name=flyer_file_name(flyer), pdf=pdf)

    async def towns(self) -> list[TownFlyer]:
        """Every town's directory now and the flyers stored of it, in the county's order."""
        directories = await county_directories(self._pool)
        async with self._pool.acquire() as con:
            stored = await store.list_flyers(con)
        rows = []
        for directory in directories:
            of_town = [flyer for flyer in stored if flyer.town == directory.town]
            current = [flyer for flyer in of_town if flyer.directory_version == directory.version]
            rows.append(
                TownFlyer(
                    town=directory.town,
                    entries=len(directory.offers),
                    directory_version=directory.version,
                    made_at=min((flyer.created_at for flyer in current), default=None),
                    languages_made=sorted({flyer.requested_language for flyer in current}),
                    versions=len(of_town),
                )
            )
        return rows
