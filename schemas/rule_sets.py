"""Rule sets as versioned data (issue 15, point 3): durations, time rules, residence routes and
retention rules, one version each, with the day it is adopted from.

A version is proposed by one admin and adopted by another (four eyes), through the page
``/admin/regeln`` or ``python -m commands.rules``; both steps are in the audit log. Before the
adoption the proposal is simulated over every running case (:class:`RuleSimulation`, numbers
only), and the simulation is stored with the adoption. In force on a day is the adopted version
with the latest ``adopted_from`` on or before it (Berlin's date); an adoption may not reach
back: its day is today or later, and not before the day of a version adopted earlier.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from schemas.decision_rules import CaseRules
from schemas.process import ProcessTimings
from schemas.residence_routes import ResidenceRoutes
from schemas.retention import RetentionRules
from schemas.rows import Row
from schemas.time_rules import TimeRule

MAX_UNREACHABLE = 100


class RuleSetState(StrEnum):
    PROPOSED = "proposed"
    ADOPTED = "adopted"
    WITHDRAWN = "withdrawn"


class RuleSetContent(BaseModel):
    """What a version says; its digest names the content (the same content: the same digest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timings: ProcessTimings
    time_rules: tuple[TimeRule, ...]
    residence_routes: ResidenceRoutes
    retention: RetentionRules

    @field_validator("timings")
    @classmethod
    def _bounded(cls, timings: ProcessTimings) -> ProcessTimings:
        # Bounded here, not in ProcessTimings: that one travels in running cases' histories,
        # and a bound added there would stop a case that carries a larger value.
        if timings.unreachable_after > MAX_UNREACHABLE:
            raise ValueError(f"unreachable_after: at most {MAX_UNREACHABLE}")
        return timings

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class RuleSetProposal(BaseModel):
    """A proposed version: the file an admin uploads (``commands.rules propose --file``)."""

    model_config = ConfigDict(extra="forbid")

    adopted_from: date = Field(description="The day it is to be in force from (Berlin).")
    content: RuleSetContent


class RuleSimulation(BaseModel):
    """A proposal over the running cases, in numbers only (no case, no person).

    Due dates: an open task's due date as the proposal's duration would have set it, against
    the date it has (a running due date keeps its date: the new duration applies from the next
    task of that kind). Enforcements: the planned ones (the ABH's decision recorded, the result
    not yet) that would break a time rule of the proposal. Open decisions: escalations waiting
    for the ABH to which a time rule new or changed in the proposal applies (those affected
    match it), so the next decision is checked against it. Routes: open conversations whose
    routes in force on the adoption day would differ (a version added, removed or reworded).
    """

    model_config = ConfigDict(frozen=True)

    compared_with: int = Field(description="The version in force the proposal was compared to.")
    on: date = Field(description="The adoption day the proposal was simulated for.")
    running_cases: int
    enforcements_planned: int
    enforcements_breaking: int = Field(description="Planned enforcements breaking a rule.")
    enforcements_newly_breaking: int = Field(description="... of them not broken before.")
    decisions_open: int
    decisions_under_changed_rule: int
    due_dates_open: int
    due_dates_moved: int
    due_dates_earlier: int
    due_dates_later: int
    due_shift_median_days: int
    due_shift_max_days: int = Field(description="The largest shift, in whole days either way.")
    conversations_open: int
    routes_changed: int = Field(description="Route versions added, removed or reworded.")
    conversations_with_other_routes: int

    def audit_detail(self) -> dict[str, str | int]:
        return {
            key: str(value) if isinstance(value, date) else value
            for key, value in self.model_dump().items()
        }


class RuleSet(BaseModel):
    """One version as the pages and the command show it."""

    version: int
    state: RuleSetState
    adopted_from: date
    content: RuleSetContent
    content_digest: str
    proposed_by: int | None
    proposed_at: datetime
    adopted_by: int | None
    adopted_at: datetime | None
    simulation: RuleSimulation | None

    def case_rules(self) -> CaseRules:
        return CaseRules(
            version=self.version,
            timings=self.content.timings,
            time_rules=self.content.time_rules,
            residence_routes=self.content.residence_routes,
        )


# ------------------------------------------------------------------- rows


class RuleSetRow(Row):
    version: int
    state: str
    content: dict[str, JsonValue]
    content_digest: str
    adopted_from: date
    proposed_by: int | None
    proposed_at: datetime
    adopted_by: int | None
    adopted_at: datetime | None
    simulation: dict[str, JsonValue] | None


class PlannedEnforcementRow(Row):
    """A running case's planned enforcement, for the simulation: the ABH's decision as its
    escalation task recorded it, and whom it affects (dates of birth only)."""

    case_id: str
    decision: dict[str, JsonValue]
    affected_born: list[date]
    tolerated_since: date | None


class OpenDecisionRow(Row):
    """A running case waiting for a decision the rules check: whom it affects."""

    case_id: str
    kind: str
    created_at: datetime
    due_at: datetime
    affected_born: list[date]
    tolerated_since: date | None
