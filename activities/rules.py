"""The activity that tells a case which rule set is in force (issue 15, point 4).

A case asks when it decides (a deadline computed, a time rule checked, a route explained),
naming the version it knows; only a change comes back, with the durations, time rules and
residence routes of the new version (route versions that ended before the day left out: they
can no longer be explained), so the case's history holds each version once.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from schemas.decision_rules import RulesInForce, RulesQuery
from schemas.records import ActivityName
from schemas.residence_routes import ResidenceRoutes
from schemas.rule_sets import RuleSet
from store import rule_sets as store


class Rules:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name=ActivityName.RULES_IN_FORCE)
    async def in_force(self, query: RulesQuery) -> RulesInForce:
        async with self._pool.acquire() as con:
            number = await store.version_in_force(con, query.on)
            if number is None or number == query.known_version:
                return RulesInForce(version=number)
            row = await store.version(con, number)
        assert row is not None
        rules = RuleSet.model_validate(row.model_dump()).case_rules()
        routes = rules.residence_routes
        if routes is not None:
            current = tuple(
                v for v in routes.versions if v.valid_to is None or v.valid_to >= query.on
            )
            rules = rules.model_copy(
                update={
                    "residence_routes": ResidenceRoutes(
                        versions=current, review_by=routes.review_by
                    )
                }
            )
        return RulesInForce(version=number, rules=rules)
