"""Rule-set versions (``rule_sets``) and what the simulation of a proposal reads of the
running cases (dates of birth, the planned enforcements, the open tasks: no names).

One function per query; writers take the caller's connection and transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import asyncpg

from schemas.case import Outcome
from schemas.retention import RetentionRules
from schemas.rule_sets import OpenDecisionRow, PlannedEnforcementRow, RuleSetRow
from store.db import Connection

_COLUMNS = (
    "version, state, content, content_digest, adopted_from, proposed_by, proposed_at,"
    " adopted_by, adopted_at, simulation"
)
_NEW_VERSION_LOCK = 7_720_245  # beside store.audit's append lock


def _row(record: asyncpg.Record) -> RuleSetRow:
    return RuleSetRow.model_validate(dict(record))


async def versions(con: Connection) -> list[RuleSetRow]:
    rows = await con.fetch(f"SELECT {_COLUMNS} FROM rule_sets ORDER BY version DESC")
    return [_row(row) for row in rows]


async def version(con: Connection, number: int) -> RuleSetRow | None:
    row = await con.fetchrow(f"SELECT {_COLUMNS} FROM rule_sets WHERE version = $1", number)
    return None if row is None else _row(row)


async def in_force(con: Connection, day: date) -> RuleSetRow | None:
    """The adopted version with the latest adoption day on or before ``day``."""
    row = await con.fetchrow(
        f"SELECT {_COLUMNS} FROM rule_sets WHERE state = 'adopted' AND adopted_from <= $1"
        " ORDER BY adopted_from DESC, version DESC LIMIT 1",
        day,
    )
    return None if row is None else _row(row)


async def in_force_during(con: Connection, first: date, last: date) -> list[RuleSetRow]:
    """The adopted versions in force on some day from ``first`` to ``last``, oldest first: the
    one in force on ``first`` (version 1 for days before it was written: the configuration it
    holds was in force then) and those adopted from a later day of the period."""
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM rule_sets WHERE state = 'adopted'"
        " AND (adopted_from > $1 AND adopted_from <= $2 OR version = COALESCE((SELECT version"
        "  FROM rule_sets"
        "  WHERE state = 'adopted' AND adopted_from <= $1"
        "  ORDER BY adopted_from DESC, version DESC LIMIT 1), 1))"
        " ORDER BY adopted_from, version",
        first,
        last,
    )
    return [_row(row) for row in rows]


async def retention_in_force(con: Connection, day: date) -> RetentionRules | None:
    """The retention rules of the version in force on ``day``; None before rule sets."""
    content = await con.fetchval(
        "SELECT content->'retention' FROM rule_sets WHERE state = 'adopted' AND adopted_from <= $1"
        " ORDER BY adopted_from DESC, version DESC LIMIT 1",
        day,
    )
    if content is None:
        return None
    return RetentionRules.model_validate(content)


async def version_in_force(con: Connection, day: date) -> int | None:
    found: int | None = await con.fetchval(
        "SELECT version FROM rule_sets WHERE state = 'adopted' AND adopted_from <= $1"
        " ORDER BY adopted_from DESC, version DESC LIMIT 1",
        day,
    )
    return found


async def last_adoption_day(con: Connection) -> date | None:
    found: date | None = await con.fetchval(
        "SELECT max(adopted_from) FROM rule_sets WHERE state = 'adopted'"
    )
    return found


async def seed(con: Connection, content: str, digest: str, day: date, at: datetime) -> bool:
    """Version 1, the configured set, adopted by no one; False when there is one already."""
    inserted = await con.fetchval(
        "INSERT INTO rule_sets (version, state, content, content_digest, adopted_from,"
        " proposed_at, adopted_at) VALUES (1, 'adopted', $1::jsonb, $2, $3, $4, $4)"
        " ON CONFLICT DO NOTHING RETURNING version",
        json.loads(content),
        digest,
        day,
        at,
    )
    return inserted is not None


async def propose(
    con: Connection, content: str, digest: str, adopted_from: date, by: int, at: datetime
) -> int:
    """A new version, numbered after the last one (in the caller's transaction)."""
    await con.execute("SELECT pg_advisory_xact_lock($1)", _NEW_VERSION_LOCK)
    number: int = await con.fetchval(
        "INSERT INTO rule_sets (version, state, content, content_digest, adopted_from,"
        " proposed_by, proposed_at)"
        " SELECT COALESCE(max(version), 0) + 1, 'proposed', $1::jsonb, $2, $3, $4, $5"
        " FROM rule_sets RETURNING version",
        json.loads(content),
        digest,
        adopted_from,
        by,
        at,
    )
    return number


async def adopt(con: Connection, number: int, by: int, at: datetime, simulation: str) -> bool:
    """The proposal adopted; False when it is no longer a proposal (adopted or withdrawn)."""
    done = await con.fetchval(
        "UPDATE rule_sets SET state = 'adopted', adopted_by = $2, adopted_at = $3,"
        " simulation = $4::jsonb WHERE version = $1 AND state = 'proposed' RETURNING version",
        number,
        by,
        at,
        json.loads(simulation),
    )
    return done is not None


async def withdraw(con: Connection, number: int) -> bool:
    done = await con.fetchval(
        "UPDATE rule_sets SET state = 'withdrawn' WHERE version = $1 AND state = 'proposed'"
        " RETURNING version",
        number,
    )
    return done is not None


# ------------------------------------------------- what the simulation reads

_LEFT_THE_HOUSEHOLD = [
    outcome.value
    for outcome in (Outcome.DEPARTED_VOLUNTARILY, Outcome.DEPARTED_ENFORCED, Outcome.MOVED_AWAY)
]

# Everyone an enforcement in case c affects: the person, the children of the file, and the
# household's other members still living there with the children their files list.
_AFFECTED_BORN = (
    "ARRAY(SELECT p.date_of_birth FROM persons p WHERE p.case_id = c.case_id"
    " UNION ALL SELECT h.date_of_birth FROM household_children h WHERE h.case_id = c.case_id"
    " UNION ALL SELECT d.date_of_birth FROM household_links own"
    "  JOIN household_links other ON other.reference = own.reference"
    "  AND other.case_id <> own.case_id"
    "  JOIN cases oc ON oc.case_id = other.case_id"
    "   AND (oc.outcome IS NULL OR oc.outcome <> ALL($1::text[]))"
    "  JOIN (SELECT case_id, date_of_birth FROM persons UNION ALL"
    "        SELECT case_id, date_of_birth FROM household_children) d"
    "   ON d.case_id = other.case_id"
    "  WHERE own.case_id = c.case_id) AS affected_born"
)
# The Duldung as the status events give it: the first 'geduldet' of the case.
_TOLERATED_SINCE = (
    "(SELECT min(s.effective_date) FROM status_events s"
    " WHERE s.case_id = c.case_id AND s.status = 'geduldet') AS tolerated_since"
)


async def running_cases(con: Connection) -> int:
    found: int = await con.fetchval("SELECT count(*) FROM cases WHERE outcome IS NULL")
    return found


async def planned_enforcements(con: Connection) -> list[PlannedEnforcementRow]:
    """Running cases in ``enforcement_planned``: the ABH's last escalation decision."""
    rows = await con.fetch(
        f"SELECT DISTINCT ON (c.case_id) c.case_id, t.completion AS decision, {_AFFECTED_BORN},"
        f" {_TOLERATED_SINCE} FROM cases c JOIN tasks t ON t.case_id = c.case_id"
        " WHERE c.outcome IS NULL AND c.stage = 'enforcement_planned'"
        " AND t.kind = 'escalation' AND t.status = 'completed' AND t.completion IS NOT NULL"
        " ORDER BY c.case_id, t.closed_at DESC",
        _LEFT_THE_HOUSEHOLD,
    )
    return [PlannedEnforcementRow.model_validate(dict(row)) for row in rows]


async def open_decisions(con: Connection, kinds: list[str]) -> list[OpenDecisionRow]:
    """Open tasks of ``kinds`` in running cases, with whom the case affects."""
    rows = await con.fetch(
        f"SELECT c.case_id, t.kind, t.created_at, t.due_at, {_AFFECTED_BORN},"
        f" {_TOLERATED_SINCE} FROM cases c JOIN tasks t ON t.case_id = c.case_id"
        " WHERE c.outcome IS NULL AND t.status = 'open' AND t.kind = ANY($2::text[])"
        " ORDER BY t.due_at",
        _LEFT_THE_HOUSEHOLD,
        kinds,
    )
    return [OpenDecisionRow.model_validate(dict(row)) for row in rows]
