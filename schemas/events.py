"""Status events reported by back-office systems: the intake of the case workflow."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from schemas.inputs import OneLine, Text, argument

CaseId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(
        description="The back-office case reference. Letters, digits, '.', '_', '-'; never a name.",
        examples=["ABH-2024-000123"],
    ),
]
case_id_argument = argument(TypeAdapter(CaseId))
"""A case id on a command line (argparse ``type=``)."""

EventId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"),
    Field(description="Unique per event; sending the same id twice changes nothing."),
]


class ResidenceStatus(StrEnum):
    """Aufenthaltsstatus as the back office reports it."""

    AUSREISEPFLICHTIG = "ausreisepflichtig"
    GEDULDET = "geduldet"
    AUFENTHALTSERLAUBNIS = "aufenthaltserlaubnis"
    ASYLVERFAHREN = "asylverfahren"
    AUSGEREIST = "ausgereist"
    WEGGEZOGEN = "weggezogen"
    NEU_ZUGEWANDERT = "neu_zugewandert"

    @property
    def opens_case(self) -> bool:
        """Only people obliged to leave (a Duldung included) enter the practice concept."""
        return self in (ResidenceStatus.AUSREISEPFLICHTIG, ResidenceStatus.GEDULDET)

    @property
    def starts_arrival(self) -> bool:
        """Newly arrived, whatever the status: the flyer of the town, no return case."""
        return self is ResidenceStatus.NEU_ZUGEWANDERT


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: Text
    postal_code: Annotated[str, StringConstraints(pattern=r"^\d{5}$")]
    town: Text = Field(description="One of the towns in the ABH's jurisdiction.")


class Person(BaseModel):
    """Personal data: highly sensitive, never in ids, search attributes or logs."""

    model_config = ConfigDict(extra="forbid")

    given_name: Text
    family_name: Text
    date_of_birth: date
    nationality: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Z]{3}$"),
        Field(description="ISO 3166-1 alpha-3, e.g. IRQ, AFG, TUR."),
    ]
    language: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z]{2,3}$"),
        Field(description="ISO 639 code, e.g. ar, fa, ku, tr."),
    ]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()/-]{4,30}$")] | None = None
    # [^@\s] alone lets control characters through.
    email: (
        Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), OneLine] | None
    ) = None
    address: Address


class Child(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_of_birth: date


class Household(BaseModel):
    """Who lives with the person; ages are computed from dates of birth, never stored."""

    model_config = ConfigDict(extra="forbid")

    children: list[Child] = Field(default_factory=list, max_length=30)


class StatusEvent(BaseModel):
    """A change of residence status reported by the back office (``POST /api/v1/status-events``)."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    case_id: CaseId
    status: ResidenceStatus
    effective_date: date
    departure_deadline: date | None = Field(default=None, description="Ausreisefrist.")
    person: Person | None = Field(
        default=None,
        description="Required when the event opens a case, and for neu_zugewandert.",
    )
    household: Household | None = None


class IntakeResult(BaseModel):
    """The answer to a status event."""

    case_id: str
    stage: str
    duplicate: bool
