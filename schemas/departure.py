"""How a person leaves: the kind of departure, a return-support programme and its progress.

Shared by the status event that reports a departure (``schemas.events``) and the follow-up's
check-ins (``schemas.tasks``), which track an application for return support.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.inputs import Line


class ReturnProgramme(StrEnum):
    """Programmes of return support (Rückkehrförderung)."""

    REAG_GARP = "reag_garp"  # Bund/Länder programme run by IOM
    STARTHILFE_PLUS = "starthilfe_plus"  # the federal supplement (BAMF)
    OTHER = "other"  # a programme of the Land, the county or a welfare association


class ReturnSupport(StrEnum):
    """How far an application for return support has come."""

    APPLIED = "applied"
    APPROVED = "approved"
    TRAVEL_BOOKED = "travel_booked"


class DepartureKind(StrEnum):
    """How the person left (reported with the status ``ausgereist``)."""

    RETURN_PROGRAMME = "return_programme"  # with return support (``programme``)
    SELF_ORGANISED = "self_organised"
    ENFORCED = "enforced"  # Abschiebung
    TRANSFER = "transfer"  # Überstellung in den zuständigen Staat (Dublin III)

    @property
    def voluntary(self) -> bool:
        """Left on their own: also when an enforcement was planned and did not take place."""
        return self in (DepartureKind.RETURN_PROGRAMME, DepartureKind.SELF_ORGANISED)


class ProofKind(StrEnum):
    GRENZUEBERTRITTSBESCHEINIGUNG = "grenzuebertrittsbescheinigung"
    OTHER = "other"  # e.g. a confirmation of the embassy, a boarding pass stamped at the border


def _place_of(proof: object, place: str | None) -> str | None:
    if proof is ProofKind.GRENZUEBERTRITTSBESCHEINIGUNG and place is None:
        raise ValueError("required with the Grenzübertrittsbescheinigung")
    return place


def _description_of(proof: object, description: str | None) -> str | None:
    if proof is ProofKind.OTHER and description is None:
        raise ValueError("required with another proof")
    return description


def _programme_of(kind: object, programme: ReturnProgramme | None) -> ReturnProgramme | None:
    if kind is DepartureKind.RETURN_PROGRAMME and programme is None:
        raise ValueError("required with return_programme")
    if kind is not None and kind is not DepartureKind.RETURN_PROGRAMME and programme is not None:
        raise ValueError("only with return_programme")
    return programme


class DepartureProof(BaseModel):
    """What shows that the person left: the Grenzübertrittsbescheinigung (the day and the
    place of the border crossing) or another proof, described."""

    model_config = ConfigDict(extra="forbid")

    kind: ProofKind
    crossed_on: date = Field(description="The day the person left the country.")
    place: Line | None = Field(
        default=None,
        validate_default=True,
        description=(
            "Where (border crossing, airport); required with the Grenzübertrittsbescheinigung."
        ),
    )
    description: Line | None = Field(
        default=None, validate_default=True, description="What the proof is; required with other."
    )

    @field_validator("place")
    @classmethod
    def _place_of_the_certificate(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _place_of(info.data.get("kind"), value)

    @field_validator("description")
    @classmethod
    def _what_other_proof(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _description_of(info.data.get("kind"), value)


class Departure(BaseModel):
    """How a person left, and the proof of it."""

    model_config = ConfigDict(extra="forbid")

    kind: DepartureKind
    programme: ReturnProgramme | None = Field(
        default=None,
        validate_default=True,
        description="The return-support programme; required with return_programme.",
    )
    proof: DepartureProof | None = None

    @field_validator("programme")
    @classmethod
    def _programme_of_return_support(
        cls, value: ReturnProgramme | None, info: ValidationInfo
    ) -> ReturnProgramme | None:
        return _programme_of(info.data.get("kind"), value)

    def describe(self) -> str:
        """The departure in German, for the timeline: kind, programme, proof."""
        words = {
            DepartureKind.RETURN_PROGRAMME: "mit Rückkehrförderung",
            DepartureKind.SELF_ORGANISED: "selbst organisiert",
            DepartureKind.ENFORCED: "abgeschoben",
            DepartureKind.TRANSFER: "überstellt (Dublin)",
        }
        programmes = {
            ReturnProgramme.REAG_GARP: "REAG/GARP",
            ReturnProgramme.STARTHILFE_PLUS: "StarthilfePlus",
            ReturnProgramme.OTHER: "sonstiges Programm",
        }
        text = words[self.kind]
        if self.programme is not None:
            text += f" ({programmes[self.programme]})"
        if self.proof is not None:
            day = self.proof.crossed_on.strftime("%d.%m.%Y")
            what = (
                "Grenzübertrittsbescheinigung"
                if self.proof.kind is ProofKind.GRENZUEBERTRITTSBESCHEINIGUNG
                else self.proof.description
            )
            where = f", {self.proof.place}" if self.proof.place else ""
            text += f"; {what} vom {day}{where}"
        return text


class DepartureRecord(BaseModel):
    """The ABH records that the person left, with the proof (the case page's "Ausreise
    erfassen", ``POST /api/v1/cases/{case_id}/departure``): one level, as the form has it.
    It goes the way of a back-office status event ``ausgereist`` with this :class:`Departure`
    (the day it took effect: the crossing); the fields say what the event's ``departure``
    says, and are refused as there."""

    model_config = ConfigDict(extra="forbid")

    kind: DepartureKind
    programme: ReturnProgramme | None = Field(
        default=None,
        validate_default=True,
        description="The return-support programme; required with return_programme.",
    )
    proof: ProofKind = Field(
        description="The Grenzübertrittsbescheinigung, or another proof (described)."
    )
    crossed_on: date = Field(description="The day the person left the country.")
    place: Line | None = Field(
        default=None,
        validate_default=True,
        description="Where (border crossing, airport); required with the "
        "Grenzübertrittsbescheinigung.",
    )
    description: Line | None = Field(
        default=None, validate_default=True, description="What the proof is; required with other."
    )

    @field_validator("programme")
    @classmethod
    def _programme_of_return_support(
        cls, value: ReturnProgramme | None, info: ValidationInfo
    ) -> ReturnProgramme | None:
        return _programme_of(info.data.get("kind"), value)

    @field_validator("place")
    @classmethod
    def _place_of_the_certificate(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _place_of(info.data.get("proof"), value)

    @field_validator("description")
    @classmethod
    def _what_other_proof(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _description_of(info.data.get("proof"), value)

    def departure(self) -> Departure:
        """The departure as a status event carries it."""
        return Departure(
            kind=self.kind,
            programme=self.programme,
            proof=DepartureProof(
                kind=self.proof,
                crossed_on=self.crossed_on,
                place=self.place,
                description=self.description,
            ),
        )
