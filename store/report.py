"""The committee report's anonymous facts (``report_facts``) and its stored reports
(``committee_reports``); the facts are written by the triggers of migration 031, and here
only the one no table records: a decision refused by the time rules."""

from __future__ import annotations

from datetime import date

from pydantic import JsonValue

from schemas.report import FactCountRow, StoredReportRow
from store.db import Connection

# Held exclusively while a report reads its facts: every writer of a fact holds it shared
# (report_fact() in 031), so a fact the report does not see gets an id above facts_up_to.
_FACTS_LOCK = 7_720_243

_REPORT_COLUMNS = (
    "report_id::text, period_from, period_to, town, generated_at, generated_by, facts_up_to,"
    " rules_label, rules_digest, figures_digest, published, audit_seq, audit_head_seq,"
    " audit_head_hash"
)


async def record_fact(
    con: Connection,
    source: str,
    case_id: str,
    kind: str,
    on: date,
    attributes: dict[str, JsonValue],
) -> None:
    """A fact of ``case_id`` (its town from the case row); the same source twice is one."""
    await con.execute(
        "SELECT report_fact($1, $2, $3, $4, $5)", source, case_id, kind, on, attributes
    )


async def last_fact(con: Connection) -> int:
    """The last fact committed, once every writer in flight has committed (call in a
    transaction: the lock is held until it ends)."""
    await con.execute("SELECT pg_advisory_xact_lock($1)", _FACTS_LOCK)
    last = await con.fetchval("SELECT COALESCE(max(fact_id), 0) FROM report_facts")
    assert isinstance(last, int)
    return last


async def fact_counts(con: Connection, first: date, last: date, up_to: int) -> list[FactCountRow]:
    rows = await con.fetch(
        "SELECT town, kind, attributes, count(*)::int AS facts FROM report_facts"
        " WHERE occurred_on BETWEEN $1 AND $2 AND fact_id <= $3"
        " GROUP BY town, kind, attributes ORDER BY town, kind, attributes::text",
        first,
        last,
        up_to,
    )
    return [FactCountRow.model_validate(dict(row)) for row in rows]


async def insert_report(con: Connection, report: StoredReportRow) -> None:
    await con.execute(
        f"INSERT INTO committee_reports ({_REPORT_COLUMNS.replace('::text', '')})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        *report.model_dump().values(),
    )


async def get_report(con: Connection, report_id: str) -> StoredReportRow | None:
    row = await con.fetchrow(
        f"SELECT {_REPORT_COLUMNS} FROM committee_reports WHERE report_id::text = $1",
        report_id,
    )
    return None if row is None else StoredReportRow.model_validate(dict(row))


async def audit_head(con: Connection, before: int) -> tuple[int, bytes] | None:
    """The audit entry before seq ``before``: the chain's head when that one was appended."""
    row = await con.fetchrow(
        "SELECT seq, entry_hash FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT 1", before
    )
    return None if row is None else (row["seq"], bytes(row["entry_hash"]))
