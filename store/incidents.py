"""Enforcement incidents (``enforcement_incidents``): time rules broken as carried out."""

from __future__ import annotations

from datetime import datetime

from schemas.records import IncidentRecord, IncidentRow
from store.db import Connection


async def insert_incident(con: Connection, incident: IncidentRecord) -> None:
    """Store ``incident`` once (its id is the workflow's): a retried activity adds nothing."""
    await con.execute(
        "INSERT INTO enforcement_incidents (incident_id, case_id, rule_ids, started_at,"
        " ended_at, minors_present, reason, decided_by, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        incident.incident_id,
        incident.entry.case_id,
        incident.rule_ids,
        incident.started_at,
        incident.ended_at,
        incident.minors_present,
        incident.reason,
        incident.decided_by,
        incident.entry.at,
    )


async def incidents_of_case(con: Connection, case_id: str) -> list[IncidentRow]:
    rows = await con.fetch(
        "SELECT incident_id, case_id, rule_ids, started_at, ended_at, minors_present, reason,"
        " decided_by, recorded_at FROM enforcement_incidents WHERE case_id = $1"
        " ORDER BY recorded_at",
        case_id,
    )
    return [IncidentRow.model_validate(dict(row)) for row in rows]


async def count_incidents(con: Connection, since: datetime, until: datetime) -> int:
    """Incidents recorded in [since, until): what the county's report counts."""
    count = await con.fetchval(
        "SELECT count(*) FROM enforcement_incidents WHERE recorded_at >= $1 AND recorded_at < $2",
        since,
        until,
    )
    assert isinstance(count, int)
    return count
