"""Status events reported by back-office systems: the intake of the case workflow.

The model refuses what is malformed; :func:`implausible_dates` names what is well-formed but
cannot be true (a birth in the future, a deadline before the change it belongs to). Those
checks are not validators of the model on purpose: events are decoded again whenever a
workflow replays its history, and a model that refused there what it once accepted (an event
taken in before a check existed, or "today" moved on) would stop the case. The service asks
them once, where an event enters (:meth:`service.cases.CaseService.submit_event`).
"""

from __future__ import annotations

import calendar
import hashlib
import json
from datetime import MAXYEAR, MINYEAR, date
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from schemas.departure import Departure
from schemas.errors import FieldError
from schemas.inputs import OneLine, Text, argument
from schemas.offers import official_town

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
    Field(
        description="Unique per event; sending the same event twice changes nothing, the same "
        "id with other content is refused (409)."
    ),
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
    # Stored in the county's spelling whichever way it was sent ("unna", "Froendenberg/Ruhr"),
    # so the jurisdiction check, the partner directory and the pages see one name per town.
    town: Annotated[Text, AfterValidator(official_town)] = Field(
        description="One of the towns in the ABH's jurisdiction; case, umlauts written as "
        "ae/oe/ue and surrounding spaces are forgiven, the official spelling is stored."
    )


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


HouseholdReference = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(
        description="The back office's reference of a household whose members are each obliged "
        "to leave: the cases sharing it are linked. Letters, digits, '.', '_', '-'; never a name.",
        examples=["HH-2024-000045"],
    ),
]


class Household(BaseModel):
    """Who lives with the person; ages are computed from dates of birth, never stored."""

    model_config = ConfigDict(extra="forbid")

    children: list[Child] = Field(default_factory=list, max_length=30)
    reference: HouseholdReference | None = Field(
        default=None,
        description="Links the cases of a household's members (each keeps its own "
        "conversation and consent; an enforcement sees every minor of the household). A "
        "household reported without it unlinks the case.",
    )


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
    departure: Departure | None = Field(
        default=None,
        description=(
            "Only with ausgereist: how the person left and the proof; the case's outcome"
            " follows from it (left on their own, or enforced/transferred)."
        ),
    )

    @field_validator("departure")
    @classmethod
    def _only_a_departure_departs(
        cls, value: Departure | None, info: ValidationInfo
    ) -> Departure | None:
        if value is not None and info.data.get("status") not in (None, ResidenceStatus.AUSGEREIST):
            raise ValueError("only with the status ausgereist")
        return value


class IntakeResult(BaseModel):
    """The answer to a status event."""

    case_id: str
    stage: str
    duplicate: bool


# ------------------------------------------------------------- plausibility

# An effective date is the day a decision takes effect; the back office reports it when it is
# decided, so it lies at most weeks ahead (an Ausreisefrist is 7 to 30 days, a Duldung is
# mostly issued for months). A year leaves room for every real case and still catches the
# typed year (2062 for 2026).
EFFECTIVE_DATE_YEARS_AHEAD = 1
# The household's children are taken as the person's own children (the model has no other
# relation). Younger parents exist, but in a case file a gap under 12 years is far more often
# a mistyped or swapped date than a fact, and ages drive the night-time rules (consensus
# paper, §60a(5a)): a wrong birth date must not silently move a child across those ages.
PARENT_YEARS_BEFORE_CHILD = 12
# Nobody living is older (the oldest person on record reached 122): an earlier date is a typo.
OLDEST_AGE_YEARS = 120


def years_after(day: date, years: int) -> date:
    """``day`` moved by whole calendar ``years`` (29 February becomes 1 March); beyond the
    calendar's years 1 to 9999 it stops at its first or last day."""
    year = day.year + years
    if not MINYEAR <= year <= MAXYEAR:
        return date.max if year > MAXYEAR else date.min
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return day.replace(year=year)


def age_on(born: date, day: date) -> int:
    """Completed years on ``day``; someone born on 29 February ages on 1 March in other years."""
    had_birthday = (day.month, day.day) >= (born.month, born.day)
    return day.year - born.year - (0 if had_birthday else 1)


def implausible_dates(
    event: StatusEvent, today: date, *, person_born: date | None = None
) -> list[FieldError]:
    """The dates of ``event`` that cannot be true on ``today`` (Berlin's date), each naming
    its field as the API's 422 does; empty when all are plausible.

    ``person_born``: the person's date of birth as the case has it, for an event that
    reports the household without the person (the event's own person comes first).
    """
    errors: list[FieldError] = []
    if event.effective_date > years_after(today, EFFECTIVE_DATE_YEARS_AHEAD):
        errors.append(
            FieldError(
                field="effective_date",
                reason=f"must not be more than {EFFECTIVE_DATE_YEARS_AHEAD} year ahead",
            )
        )
    if event.departure_deadline is not None and event.departure_deadline < event.effective_date:
        errors.append(
            FieldError(field="departure_deadline", reason="must not be before effective_date")
        )
    if event.departure is not None and event.departure.proof is not None:
        if event.departure.proof.crossed_on > today:
            errors.append(
                FieldError(field="departure.proof.crossed_on", reason="must not be in the future")
            )
    born = person_born
    if event.person is not None:
        born = event.person.date_of_birth
        if born > today:
            errors.append(
                FieldError(field="person.date_of_birth", reason="must not be in the future")
            )
            born = None  # no measure for the children (and 9999 + 12 is no date)
        elif born < years_after(today, -OLDEST_AGE_YEARS):
            errors.append(
                FieldError(
                    field="person.date_of_birth",
                    reason=f"must not be more than {OLDEST_AGE_YEARS} years ago",
                )
            )
    children = event.household.children if event.household is not None else []
    for position, child in enumerate(children):
        field = f"household.children.{position}.date_of_birth"
        if child.date_of_birth > today:
            errors.append(FieldError(field=field, reason="must not be in the future"))
        elif born is not None and child.date_of_birth < years_after(
            born, PARENT_YEARS_BEFORE_CHILD
        ):
            errors.append(
                FieldError(
                    field=field,
                    reason=f"must be at least {PARENT_YEARS_BEFORE_CHILD} years after "
                    "person.date_of_birth",
                )
            )
    return errors


def event_digest(event: StatusEvent) -> str:
    """What the event says, as a sha256 over its canonical JSON: the same content gives the
    same digest however it was sent (key order, an explicit default, "unna" for Unna).

    Defaults are left out, so a field added to the model later (with a default) does not
    change the digest of an event sent before it. Kept beside the event (``status_events``)
    and in the case's workflow, to tell a re-sent event from another one under its id.
    """
    content = event.model_dump(mode="json", exclude_defaults=True)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
