"""Bleiberechtsregelungen as dated data: which routes exist on a given day, with what prerequisites.

The rules change (31 Dec 2022, 27 Feb 2024, 1 Mar 2024, 31 Dec 2025, 1 Jul 2027: DOMAIN.md), so
they are versions with validity dates in ``schemas/data/residence_routes.json`` (replaceable by
``CASE_RESIDENCE_ROUTES_FILE``), never constants in code. A case records the ``version_id`` of
every route version it explained: a content hash, so an edited text is a new version.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from schemas.inputs import Line
from schemas.routes import Prerequisite, Route

DEFAULT_FILE = Path(__file__).parent / "data" / "residence_routes.json"


_NOT_TEXT = {"reviewed_by", "open_question", "version_id"}


class RoutePrerequisite(BaseModel):
    """One prerequisite of a version: its code (printed in the person's language from the
    document templates) and the precise German wording of this version for the caseworker."""

    model_config = ConfigDict(frozen=True)

    code: Prerequisite
    text: Line = Field(min_length=1)


class RouteVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    route: Route
    title: Line = Field(min_length=1)
    valid_from: date
    valid_to: date | None = Field(description="Inclusive; None: in force until replaced.")
    prerequisites: tuple[RoutePrerequisite, ...] = Field(min_length=1)
    source: Line = Field(min_length=1, description="The legal source of this version.")
    reviewed_by: Line | None = Field(
        default=None, description="Who at the ABH checked this version against the law."
    )
    open_question: Line | None = Field(
        default=None,
        description=(
            "What the ABH's legal review still has to answer about this version (German);"
            " a review note like reviewed_by, not part of the text."
        ),
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> RouteVersion:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        codes = [item.code for item in self.prerequisites]
        if len(set(codes)) != len(codes):
            raise ValueError(f"{self.route.value}: a prerequisite code appears twice")
        return self

    def codes(self) -> list[Prerequisite]:
        return [item.code for item in self.prerequisites]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def version_id(self) -> str:
        """``§25b-2022-12-31-<hash>`` (``§25-5-…`` for §25 Abs. 5): readable, and different
        whenever the text differs."""
        # Who reviewed it and what the review still asks are not part of the text (so an id
        # recorded with a case stays the same when the review catches up); the id itself
        # cannot be either.
        content = self.model_dump_json(exclude=_NOT_TEXT).encode()
        digest = hashlib.sha256(content).hexdigest()[:10]
        return f"§{self.route.code}-{self.valid_from.isoformat()}-{digest}"

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class ResidenceRoutes(BaseModel):
    model_config = ConfigDict(frozen=True)

    versions: tuple[RouteVersion, ...]
    review_by: date | None = None

    @model_validator(mode="after")
    def _no_overlaps(self) -> ResidenceRoutes:
        by_route: dict[Route, list[RouteVersion]] = {}
        for version in self.versions:
            by_route.setdefault(version.route, []).append(version)
        for route, versions in by_route.items():
            ordered = sorted(versions, key=lambda v: v.valid_from)
            for earlier, later in itertools.pairwise(ordered):
                if earlier.valid_to is None or earlier.valid_to >= later.valid_from:
                    raise ValueError(f"{route.value}: versions overlap at {later.valid_from}")
        return self

    def on(self, day: date) -> list[RouteVersion]:
        """The versions in force on ``day``, one per route at most, in the order of ``Route``."""
        order = list(Route)
        found = [version for version in self.versions if version.holds_on(day)]
        return sorted(found, key=lambda version: order.index(version.route))

    def of(self, route: Route, day: date) -> RouteVersion | None:
        return next((v for v in self.on(day) if v.route is route), None)


def load_residence_routes(path: Path | None = None) -> ResidenceRoutes:
    raw = json.loads((path or DEFAULT_FILE).read_text("utf-8"))
    raw.pop("note", None)
    return ResidenceRoutes.model_validate(raw)
