"""Finding a case and the case list (``GET /api/v1/cases``, the page ``/faelle``): one query
for both, with filters, sort and keyset pagination (a cursor, never an offset)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from schemas.case import Outcome, Stage
from schemas.inputs import OneLine, RowId
from schemas.offers import official_town
from schemas.paging import CURSOR_MAX, decode_cursor
from schemas.rows import Row

MAX_PAGE = 200


class CaseSort(StrEnum):
    CASE_ID = "case_id"
    NAME = "name"
    DEPARTURE_DEADLINE = "departure_deadline"
    STAGE = "stage"
    TOWN = "town"
    OPENED = "opened"
    NEXT_DUE = "next_due"


class CaseQuery(BaseModel):
    """What to look for; every filter is optional, all given ones must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: Annotated[str, OneLine, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        Field(
            default=None,
            description="A part of the case reference or of the name (given or family name, "
            "any case, with or without accents: 'mueller' finds Müller).",
        )
    )
    born_on: date | None = Field(default=None, description="The person's date of birth.")
    town: Annotated[str, OneLine, StringConstraints(max_length=60)] | None = Field(
        default=None, description="The person's town, any spelling ('unna', 'Froendenberg')."
    )
    stage: Stage | None = None
    open_only: bool = Field(default=False, description="Leave out closed cases.")
    overdue: bool | None = Field(
        default=None, description="true: cases with an overdue open task; false: without."
    )
    assigned_to: RowId | None = Field(
        default=None, description="Cases with an open task assigned to this account."
    )
    deadline_before: date | None = Field(
        default=None, description="Departure deadline before this day."
    )
    sort: CaseSort = CaseSort.NEXT_DUE
    descending: bool = False
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        default=None, max_length=CURSOR_MAX, description="From the previous page's next_cursor."
    )

    @field_validator("q", "town")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("town")
    @classmethod
    def _county_spelling(cls, value: str | None) -> str | None:
        return None if value is None else official_town(value)

    @field_validator("cursor")
    @classmethod
    def _readable_cursor(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            cursor = decode_cursor(value, Cursor)
            if (cursor.sort, cursor.descending) != (
                info.data.get("sort"),
                info.data.get("descending"),
            ):
                raise ValueError("from a list sorted otherwise: start again without it")
        return value


class Cursor(BaseModel):
    """Where a page ended: the last row's sort key and case id (keyset pagination)."""

    sort: CaseSort
    descending: bool
    key: str
    case_id: str


class CaseListRow(Row):
    case_id: str
    stage: str
    outcome: str | None
    town: str
    departure_deadline: date | None
    opened_at: datetime
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    open_tasks: int
    overdue: bool
    next_due: datetime | None
    sort_key: str


class CaseListItem(BaseModel):
    """One case in the list. The ABH sees the name from the case file; the KI the name it
    received with the handover."""

    case_id: str
    stage: Stage
    outcome: Outcome | None
    town: str
    departure_deadline: date | None
    opened_at: datetime
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    open_tasks: int = Field(description="Open tasks of the caller's team.")
    overdue: bool = Field(description="One of them is overdue.")
    next_due: datetime | None = Field(description="The earliest due date among them.")


class CaseListPage(BaseModel):
    items: list[CaseListItem]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as cursor for the next page.")
