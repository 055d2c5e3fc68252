"""Erasing a case's personal rows; the keys are shredded beside it (``store.keys.shred``)."""

from __future__ import annotations

from datetime import date, datetime

from schemas.erasure import ClosedCaseRow, ErasureCaseRow
from store import arrivals
from store.db import Connection

# Every table that holds personal data of a case, or text about it; erasure removes the rows.
# The case row itself stays with anonymous figures; the disclosure register, consents (dates
# only), erasure requests and the access log stay as records of what was done.
PERSONAL_TABLES = (
    "persons",
    "household_children",
    "household_links",
    "supporters",
    "ki_referrals",
    "status_events",
    "timeline",
    "notices",
    "outbox",  # its attachments go by ON DELETE CASCADE
    "case_documents",
    "case_notes",
    "case_attachments",  # sealed with the case's key, shredded beside: unreadable in backups
)
# Tables with personal data in some columns only; the other columns are records that stay.
# An arrival's (Neu zugewandert) personal data is erased by ``store.arrivals``: these columns,
# its outbox rows (``outbox.arrival_id``) and its task's completion.
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "tasks": ("completion",),
    "enforcement_incidents": ("reason",),
    "arrivals": arrivals.PERSONAL_COLUMNS,
}


async def case_for_erasure(con: Connection, case_id: str) -> ErasureCaseRow | None:
    """The case row, locked against a concurrent erasure or legal hold."""
    row = await con.fetchrow(
        "SELECT case_id, stage, outcome, closed_at, legal_hold, erased_at FROM cases"
        " WHERE case_id = $1 FOR UPDATE",
        case_id,
    )
    return None if row is None else ErasureCaseRow.model_validate(dict(row))


async def remove_personal_rows(con: Connection, case_id: str) -> dict[str, int]:
    removed: dict[str, int] = {}
    for table in PERSONAL_TABLES:  # names from the constant above, never from input
        status = await con.execute(f"DELETE FROM {table} WHERE case_id = $1", case_id)
        removed[table] = int(status.split()[-1])
    status = await con.execute(
        "UPDATE tasks SET completion = NULL WHERE case_id = $1 AND completion IS NOT NULL",
        case_id,
    )
    removed["tasks.completion"] = int(status.split()[-1])
    status = await con.execute(
        "UPDATE enforcement_incidents SET reason = NULL WHERE case_id = $1 AND reason IS NOT NULL",
        case_id,
    )
    removed["enforcement_incidents.reason"] = int(status.split()[-1])
    return removed


async def cancel_open_tasks(con: Connection, case_id: str, at: datetime) -> int:
    status = await con.execute(
        "UPDATE tasks SET status = 'cancelled', closed_at = $2 WHERE case_id = $1"
        " AND status = 'open'",
        case_id,
        at,
    )
    return int(status.split()[-1])


async def record_erasure(
    con: Connection,
    case: ErasureCaseRow,
    at: datetime,
    reason: str,
    keys_shredded: int,
    removed: dict[str, int],
) -> None:
    await con.execute("UPDATE cases SET erased_at = $2 WHERE case_id = $1", case.case_id, at)
    await con.execute(
        "INSERT INTO erasures (case_id, erased_at, reason, outcome, closed_at, keys_shredded,"
        " rows_removed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        case.case_id,
        at,
        reason,
        case.outcome,
        case.closed_at,
        keys_shredded,
        removed,
    )


async def closed_without_erasure_date(con: Connection) -> list[ClosedCaseRow]:
    rows = await con.fetch(
        "SELECT case_id, closed_at, outcome FROM cases"
        " WHERE closed_at IS NOT NULL AND erase_after IS NULL AND erased_at IS NULL"
        " AND outcome IS NOT NULL"
    )
    return [ClosedCaseRow.model_validate(dict(row)) for row in rows]


async def set_erase_after(con: Connection, case_id: str, erase_after: date) -> None:
    await con.execute("UPDATE cases SET erase_after = $2 WHERE case_id = $1", case_id, erase_after)


async def due_for_erasure(con: Connection, on: date, limit: int) -> list[str]:
    rows = await con.fetch(
        "SELECT case_id FROM cases WHERE erase_after <= $1 AND erased_at IS NULL"
        " AND closed_at IS NOT NULL AND NOT legal_hold ORDER BY erase_after, case_id LIMIT $2",
        on,
        limit,
    )
    return [row["case_id"] for row in rows]


async def set_legal_hold(con: Connection, case_id: str, reason: str | None) -> bool:
    """Put a case on hold (``reason``) or lift the hold (None); False for an unknown case."""
    updated = await con.fetchval(
        "UPDATE cases SET legal_hold = $2, legal_hold_reason = $3 WHERE case_id = $1"
        " RETURNING true",
        case_id,
        reason is not None,
        reason,
    )
    return bool(updated)


async def retention_counts(con: Connection, today: date) -> dict[str, int]:
    row = await con.fetchrow(
        "SELECT count(*) FILTER (WHERE erase_after <= $1 AND erased_at IS NULL"
        "   AND closed_at IS NOT NULL AND NOT legal_hold) AS due_today,"
        " count(*) FILTER (WHERE closed_at IS NOT NULL AND erased_at IS NULL"
        "   AND NOT legal_hold AND (erase_after IS NULL OR erase_after > $1)) AS kept,"
        " count(*) FILTER (WHERE legal_hold AND erased_at IS NULL) AS on_legal_hold,"
        " count(*) FILTER (WHERE erased_at IS NOT NULL) AS erased FROM cases",
        today,
    )
    # Arrivals (neu zugewandert) have no legal hold; finished ones wait for their date.
    arrivals = await con.fetchrow(
        "SELECT count(*) FILTER (WHERE erase_after <= $1 AND erased_at IS NULL"
        "   AND finished_at IS NOT NULL) AS arrivals_due_today,"
        " count(*) FILTER (WHERE erased_at IS NULL AND (finished_at IS NULL"
        "   OR erase_after IS NULL OR erase_after > $1)) AS arrivals_kept,"
        " count(*) FILTER (WHERE erased_at IS NOT NULL) AS arrivals_erased FROM arrivals",
        today,
    )
    assert row is not None and arrivals is not None
    return {**dict(row), **dict(arrivals)}
