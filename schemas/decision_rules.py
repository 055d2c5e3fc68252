"""The rules a case decides by: the part of an adopted rule set (``schemas.rule_sets``) that
the case workflow reads, with the version it came from.

A case asks for the rules in force when it decides (a deadline computed, a time rule checked,
a route explained: ``rules.in_force``, activities/rules.py) and records the version it used.
With a completion the service hands over the version in force and the part the completion is
checked against (:class:`DecisionRules`), so the form, the check and the record use the same.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from schemas.inputs import INT4_MAX
from schemas.process import ProcessTimings
from schemas.residence_routes import ResidenceRoutes
from schemas.time_rules import TimeRule

SEEDED_VERSION = 1
"""The configured set as it was before rule sets were data: every case started before them
carries it in its start, and it became version 1."""


class CaseRules(BaseModel):
    """The durations, time rules and residence routes of one rule-set version."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1)
    timings: ProcessTimings
    time_rules: tuple[TimeRule, ...]
    residence_routes: ResidenceRoutes | None


class RulesQuery(BaseModel):
    """Which version is in force on ``on``; ``known_version``: the case has that one already."""

    on: date
    known_version: int = Field(ge=1)


class RulesInForce(BaseModel):
    """The answer: the version in force and, when it is not the known one, its rules.

    ``version`` None: no rule set adopted yet (a database before rule sets): the case keeps
    what it has. Only a change travels, so the history holds each version once.
    """

    version: int | None
    rules: CaseRules | None = None


class DecisionRules(BaseModel):
    """What the service adds to a completion the rules check: the version in force at the
    decision and the part of it the check reads (the time rules of an enforcement; the route
    versions in force on the day of a conversation)."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(ge=1, le=INT4_MAX)
    time_rules: tuple[TimeRule, ...] = ()
    residence_routes: ResidenceRoutes | None = None
