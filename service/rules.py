"""Rule sets (issue 15, points 3-5): versions proposed and adopted by two admins, the version in
force for a case's decisions, and the simulation of a proposal over the running cases.

Version 1 is the configured set (``CASE_TIME_RULES_FILE``, ``CASE_RESIDENCE_ROUTES_FILE``,
``CASE_RETENTION_RULES_FILE``, the ``CASE_<DURATION>`` variables), written on first use and
adopted by no one: what every case started before rule sets carries in its start. After it,
the configuration changes nothing: a change is a proposal, simulated, adopted by a second admin.

Refusals are German (the page shows them; the command prints them).
"""

from __future__ import annotations

import hashlib
import statistics
from datetime import UTC, date, datetime, timedelta

import asyncpg

from config.settings import Settings
from schemas.accounts import Account, Role
from schemas.audit import AuditAction, AuditDraft
from schemas.decision_rules import DecisionRules
from schemas.local_time import BERLIN
from schemas.process import ProcessTimings
from schemas.report import PeriodRules, RuleVersion
from schemas.rule_sets import (
    RuleSet,
    RuleSetContent,
    RuleSetProposal,
    RuleSetRow,
    RuleSetState,
    RuleSimulation,
)
from schemas.tasks import Escalation, InformationConversation, TaskCompletion, TaskKind
from schemas.time_rules import TimeRule
from service.errors import Conflict, Forbidden, Invalid, NotFound
from store import audit
from store import rule_sets as store
from store.db import Connection
from workflows.time_rules import Enforcement, applies, broken_rules

# Which duration sets the due date of a task of each kind (workflows/case.py); the result of
# an enforcement is due after its planned end, not after a duration.
DUE_OF_KIND: dict[TaskKind, str] = {
    TaskKind.INFORMATION_CONVERSATION: "conversation_due",
    TaskKind.REFERRAL_CONSENT: "consent_deadline",
    TaskKind.KI_CONTACT: "ki_contact_due",
    TaskKind.FOLLOW_UP: "follow_up_due",
    TaskKind.REPRESENTATIVE: "representative_due",
    TaskKind.REPRESENTATIVE_INQUIRY: "representative_due",
    TaskKind.ESCALATION: "escalation_due",
    TaskKind.ROUTE_REVIEW: "escalation_due",
    TaskKind.STEP_FAILED: "step_failure_due",
    TaskKind.ERASURE_CONFIRMATION: "erasure_confirmation_due",
}
DAY = timedelta(days=1)


def _now() -> datetime:
    return datetime.now(UTC)


def berlin_today() -> date:
    return _now().astimezone(BERLIN).date()


def _rule_set(row: RuleSetRow) -> RuleSet:
    return RuleSet.model_validate(row.model_dump())


class RuleService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    def configured(self) -> RuleSetContent:
        """The set the configuration gives: version 1."""
        settings = self._settings
        return RuleSetContent(
            timings=settings.timings(),
            time_rules=settings.time_rules(),
            residence_routes=settings.residence_routes(),
            retention=settings.retention_rules(),
        )

    async def _seeded(self, con: Connection) -> None:
        if await store.version(con, 1) is None:
            content = self.configured()
            await store.seed(
                con, content.model_dump_json(), content.digest(), berlin_today(), _now()
            )

    # ---------------------------------------------------------------- reading

    async def versions(self) -> list[RuleSet]:
        async with self._pool.acquire() as con:
            await self._seeded(con)
            return [_rule_set(row) for row in await store.versions(con)]

    async def version(self, number: int) -> RuleSet:
        async with self._pool.acquire() as con:
            await self._seeded(con)
            row = await store.version(con, number)
        if row is None:
            raise NotFound(f"Eine Version {number} des Regelwerks gibt es nicht.")
        return _rule_set(row)

    async def in_force(self, day: date | None = None) -> RuleSet:
        """The version in force on ``day`` (Berlin's today)."""
        async with self._pool.acquire() as con:
            await self._seeded(con)
            row = await store.in_force(con, day or berlin_today())
        assert row is not None, "version 1 holds from the day it was written"
        return _rule_set(row)

    async def in_force_during(self, first: date, last: date) -> PeriodRules:
        """The versions in force in a period, as a report states them."""
        async with self._pool.acquire() as con:
            await self._seeded(con)
            rows = await store.in_force_during(con, first, last)
        versions = [
            RuleVersion(
                version=row.version,
                adopted_from=row.adopted_from,
                content_digest=row.content_digest,
            )
            for row in rows
        ]
        names = ", ".join(
            f"Version {v.version} (ab {v.adopted_from:%d.%m.%Y}, {v.content_digest})"
            for v in versions
        )
        canonical = ";".join(f"{v.version}:{v.content_digest}" for v in versions)
        return PeriodRules(
            label=names,
            digest=hashlib.sha256(canonical.encode()).hexdigest(),
            versions=versions,
        )

    async def for_decision(self, completion: TaskCompletion) -> DecisionRules | None:
        """What a completion is checked against (``CompleteTask.rules``): the version in force
        and, of it, the time rules of an enforcement decision or its result, or the route
        versions in force on the day of a conversation. None: a decision no rule checks."""
        if not isinstance(completion, InformationConversation) and completion.kind not in (
            TaskKind.ESCALATION,
            TaskKind.ENFORCEMENT_RESULT,
        ):
            return None
        rules = await self.in_force()
        if isinstance(completion, InformationConversation):
            routes = rules.content.residence_routes
            held = tuple(routes.on(completion.held_on))
            return DecisionRules(
                version=rules.version,
                residence_routes=routes.model_copy(update={"versions": held}),
            )
        return DecisionRules(version=rules.version, time_rules=rules.content.time_rules)

    # -------------------------------------------------------------- four eyes

    async def propose(self, proposal: RuleSetProposal, *, by: Account) -> RuleSet:
        """A new version, to be adopted by another admin. Its day is today or later, and not
        before the day of the last version adopted: an adoption never reaches back."""
        _admin(by)
        async with self._pool.acquire() as con:
            await self._seeded(con)
            await self._check_day(con, proposal.adopted_from)
            content = proposal.content
            async with con.transaction():
                number = await store.propose(
                    con,
                    content.model_dump_json(),
                    content.digest(),
                    proposal.adopted_from,
                    by.account_id,
                    _now(),
                )
                await audit.append(
                    con,
                    AuditDraft.by(
                        by,
                        AuditAction.RULES_PROPOSED,
                        detail={
                            "version": number,
                            "adopted_from": proposal.adopted_from.isoformat(),
                            "content_digest": content.digest(),
                        },
                    ),
                )
            row = await store.version(con, number)
        assert row is not None
        return _rule_set(row)

    async def adopt(self, number: int, *, by: Account) -> RuleSet:
        """The proposal adopted by an admin who did not propose it, with its simulation over
        the running cases at this moment (stored with it and in the audit entry)."""
        _admin(by)
        proposal = await self.version(number)
        if proposal.state is not RuleSetState.PROPOSED:
            raise Conflict(f"Version {number} ist kein offener Vorschlag mehr.")
        if proposal.proposed_by == by.account_id:
            raise Forbidden(
                "Vier-Augen-Prinzip: eine andere Administratorin oder ein anderer Administrator"
                " muss den Vorschlag annehmen, nicht wer ihn gemacht hat."
            )
        simulation = await self.simulate(number)
        async with self._pool.acquire() as con:
            await self._check_day(con, proposal.adopted_from)
            async with con.transaction():
                if not await store.adopt(
                    con, number, by.account_id, _now(), simulation.model_dump_json()
                ):
                    raise Conflict(f"Version {number} ist kein offener Vorschlag mehr.")
                await audit.append(
                    con,
                    AuditDraft.by(
                        by,
                        AuditAction.RULES_ADOPTED,
                        detail={
                            "version": number,
                            "adopted_from": proposal.adopted_from.isoformat(),
                            "content_digest": proposal.content_digest,
                            "proposed_by": proposal.proposed_by,
                            **simulation.audit_detail(),
                        },
                    ),
                )
        return await self.version(number)

    async def withdraw(self, number: int, *, by: Account) -> None:
        _admin(by)
        async with self._pool.acquire() as con, con.transaction():
            if not await store.withdraw(con, number):
                raise Conflict(f"Version {number} ist kein offener Vorschlag mehr.")
            await audit.append(
                con, AuditDraft.by(by, AuditAction.RULES_WITHDRAWN, detail={"version": number})
            )

    async def _check_day(self, con: Connection, day: date) -> None:
        today = berlin_today()
        if day < today:
            raise Invalid.field(
                "adopted_from", "Der Tag des Inkrafttretens darf nicht in der Vergangenheit liegen."
            )
        last = await store.last_adoption_day(con)
        if last is not None and day < last:
            raise Invalid.field(
                "adopted_from",
                f"Der Tag des Inkrafttretens darf nicht vor dem {last:%d.%m.%Y} liegen, dem"
                " Tag der zuletzt angenommenen Version.",
            )

    # -------------------------------------------------------------- simulation

    async def simulate(self, number: int) -> RuleSimulation:
        """The proposal over every running case, against the version in force on its day."""
        proposal = await self.version(number)
        day = max(proposal.adopted_from, berlin_today())
        current = await self.in_force(day)
        new, old = proposal.content, current.content
        async with self._pool.acquire() as con:
            running = await store.running_cases(con)
            planned = await store.planned_enforcements(con)
            timed = await store.open_decisions(con, [kind.value for kind in DUE_OF_KIND])
        decisions = [row for row in timed if row.kind == TaskKind.ESCALATION.value]
        conversations = [row for row in timed if row.kind == TaskKind.INFORMATION_CONVERSATION]

        breaking = newly = 0
        for enforcement in planned:
            decision = Escalation.model_validate(enforcement.decision)
            if decision.enforcement_at is None:
                continue
            measure = Enforcement(
                at=decision.enforcement_at,
                until=decision.enforcement_until,
                affected_born=tuple(enforcement.affected_born),
                enters_home=decision.enters_home,
                court_order=decision.court_order,
                tolerated_since=enforcement.tolerated_since,
                announced_on=decision.announced_on,
            )
            now_broken = {rule.rule_id for rule in broken_rules(new.time_rules, measure)}
            before = {rule.rule_id for rule in broken_rules(old.time_rules, measure)}
            breaking += bool(now_broken)
            newly += bool(now_broken - before)

        changed = _changed_rules(new.time_rules, old.time_rules)
        under_changed = 0
        for row in decisions:
            # Before the decision its measure is not known: a rule counts when it applies to
            # those the case affects, on a home entry without a court order (the widest case).
            affected = Enforcement(
                at=datetime.combine(day, datetime.min.time(), BERLIN),
                affected_born=tuple(row.affected_born),
                enters_home=True,
                tolerated_since=row.tolerated_since,
            )
            under_changed += any(applies(rule, affected, day) for rule in changed)

        shifts = []
        for task in timed:
            duration = getattr(new.timings, DUE_OF_KIND[TaskKind(task.kind)])
            shift = round((task.created_at + duration - task.due_at) / DAY)
            if shift != 0:
                shifts.append(shift)

        old_routes = {v.route: v.version_id for v in old.residence_routes.on(day)}
        new_routes = {v.route: v.version_id for v in new.residence_routes.on(day)}
        routes_changed = sum(
            old_routes.get(route) != new_routes.get(route) for route in {*old_routes, *new_routes}
        )
        return RuleSimulation(
            compared_with=current.version,
            on=day,
            running_cases=running,
            enforcements_planned=len(planned),
            enforcements_breaking=breaking,
            enforcements_newly_breaking=newly,
            decisions_open=len(decisions),
            decisions_under_changed_rule=under_changed,
            due_dates_open=len(timed),
            due_dates_moved=len(shifts),
            due_dates_earlier=sum(shift < 0 for shift in shifts),
            due_dates_later=sum(shift > 0 for shift in shifts),
            due_shift_median_days=round(statistics.median(shifts)) if shifts else 0,
            due_shift_max_days=max(shifts, key=abs) if shifts else 0,
            conversations_open=len(conversations),
            routes_changed=routes_changed,
            conversations_with_other_routes=len(conversations) if routes_changed else 0,
        )


def _changed_rules(new: tuple[TimeRule, ...], old: tuple[TimeRule, ...]) -> list[TimeRule]:
    """The rules of ``new`` that ``old`` does not have as they are (new, or changed)."""
    before = {rule.rule_id: rule for rule in old}
    return [rule for rule in new if before.get(rule.rule_id) != rule]


def _admin(account: Account) -> None:
    if account.role is not Role.ADMIN:
        raise Forbidden("Nur Administratorinnen und Administratoren ändern das Regelwerk.")


def with_timings(content: RuleSetContent, timings: ProcessTimings) -> RuleSetContent:
    """``content`` with other durations (the page's form proposes durations only)."""
    return content.model_copy(update={"timings": timings})
