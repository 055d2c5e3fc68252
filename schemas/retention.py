"""How long a closed case is kept, by outcome: rules as data, with their legal source.

The defaults below are a starting point for the county's data protection officer, who must
confirm them; ``CASE_RETENTION_RULES_FILE`` replaces them with a JSON list of the same shape.
A case's erasure date is fixed when it closes (``cases.erase_after``), so a later change of
the rules applies to cases closed after it.

The rule with ``"outcome": "arrival"`` is for the personal data of a newly arrived person
(``arrivals``, their mail in the outbox, the hand-over task): counted from the day the arrival
finished (flyer sent, handed over, or given up), whatever its outcome.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.case import Outcome
from schemas.inputs import Line
from schemas.rows import Row

ARRIVAL: Literal["arrival"] = "arrival"
"""The rule for an arrival's personal data (issue 5), beside the rules per case outcome."""


class RetentionRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome | Literal["arrival"]
    keep_years: int = Field(ge=0, le=30)
    keep_months: int = Field(default=0, ge=0, le=11)
    source: Line = Field(min_length=1, description="The legal source of the period.")

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: object) -> object:
        """An outcome or ``arrival``; refused at the field (not at a member of the union)."""
        if value == ARRIVAL or (
            isinstance(value, str) and value in {outcome.value for outcome in Outcome}
        ):
            return value
        raise ValueError("an outcome of a case, or 'arrival'")

    def erase_after(self, closed_on: date) -> date:
        """``closed_on`` plus the period; the 29th of February becomes the 28th when needed."""
        months = closed_on.month - 1 + self.keep_months
        year = closed_on.year + self.keep_years + months // 12
        month = months % 12 + 1
        day = min(closed_on.day, calendar.monthrange(year, month)[1])
        return date(year, month, day)


class RetentionRules(BaseModel):
    rules: tuple[RetentionRule, ...]

    def for_outcome(self, outcome: Outcome | Literal["arrival"]) -> RetentionRule:
        for rule in self.rules:
            if rule.outcome == outcome:
                return rule
        # No rule: keep as long as the longest rule says, never erase too early.
        longest = max(self.rules, key=lambda rule: (rule.keep_years, rule.keep_months))
        return longest.model_copy(update={"outcome": outcome})

    def for_arrival(self) -> RetentionRule:
        return self.for_outcome(ARRIVAL)


def default_retention_rules() -> RetentionRules:
    return RetentionRules(
        rules=(
            RetentionRule(
                outcome=Outcome.DEPARTED_VOLUNTARILY,
                keep_years=10,
                source="§ 86a AufenthG (Abs. 1 Satz 5): Daten zu Förderungen der freiwilligen "
                "Ausreise sind spätestens nach zehn Jahren zu löschen "
                "(https://www.buzer.de/86a_AufenthG.htm)",
            ),
            RetentionRule(
                outcome=Outcome.DEPARTED_ENFORCED,
                keep_years=10,
                source="§ 91 Abs. 1 AufenthG (Fassung seit 26.11.2019): Daten über Ausweisung, "
                "Zurückschiebung und Abschiebung sind zehn Jahre nach Ablauf der Frist des "
                "Einreise- und Aufenthaltsverbots (§ 11 Abs. 2) zu löschen, früher, soweit sie "
                "nicht mehr verwertet werden dürfen; eine Höchstfrist, keine Pflicht zur "
                "Aufbewahrung. Zehn Jahre ab Abschluss liegen innerhalb dieser Frist "
                "(https://www.gesetze-im-internet.de/aufenthg_2004/__91.html)",
            ),
            RetentionRule(
                outcome=Outcome.RESIDENCE_GRANTED,
                keep_years=2,
                source="Art. 5 Abs. 1 lit. e DSGVO: Zweck erfüllt, die Ausländerakte führt das "
                "Aufenthaltsverfahren weiter",
            ),
            RetentionRule(
                outcome=Outcome.MOVED_AWAY,
                keep_years=0,
                keep_months=6,
                source="Art. 5 Abs. 1 lit. e DSGVO: Akte an die zuständige Ausländerbehörde "
                "abgegeben (§ 71 AufenthG)",
            ),
            RetentionRule(
                outcome=Outcome.CLOSED_BY_ABH,
                keep_years=2,
                source="Art. 5 Abs. 1 lit. e DSGVO: Abschluss durch die Ausländerbehörde",
            ),
            RetentionRule(
                outcome=Outcome.NEVER_OPENED,
                keep_years=0,
                keep_months=1,
                source="Art. 5 Abs. 1 lit. c, e DSGVO: kein Fall entstanden",
            ),
            RetentionRule(
                outcome=ARRIVAL,
                keep_years=0,
                keep_months=3,
                source="Art. 5 Abs. 1 lit. c, e DSGVO: Zweck (Information über die Angebote im "
                "Wohnort) mit Versand oder Aushändigung des Faltblatts erfüllt; drei Monate für "
                "Rückfragen zum Versand",
            ),
        )
    )


class RetentionRun(BaseModel):
    """One run of the scheduled erasure; the batches bound one run's history."""

    batch_size: int = Field(default=100, ge=1, le=1000)
    max_batches: int = Field(default=50, ge=1)


class DueQuery(BaseModel):
    on: date
    limit: int


class DueCases(BaseModel):
    case_ids: list[str]
    dates_assigned: int = 0


class EraseRequest(BaseModel):
    case_id: str
    reason: str


class ErasureOutcome(BaseModel):
    case_id: str
    erased: bool
    refused: str | None = None


class RetentionReport(BaseModel):
    """What a run did: case ids and counts only."""

    day: date
    erased: list[str] = []
    refused: dict[str, str] = {}
    dates_assigned: int = 0
    arrivals_erased: list[str] = []  # references whose arrivals' personal data was erased


class RetentionRow(Row):
    """A case's erasure date and whether a legal hold stops it."""

    erase_after: date | None
    legal_hold: bool
    legal_hold_reason: str | None
