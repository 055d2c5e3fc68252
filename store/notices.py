"""The notice dispatcher's queries (``notices`` with their tasks, the assignees' addresses).

A notice waits while ``outcome`` is NULL. Which ones can go now is asked with the teams that
have an address (configuration): a notice whose assignee has no address and whose team has
none waits, counted by :func:`count_without_address`, and goes once an address is set.
"""

from __future__ import annotations

from datetime import datetime

from schemas.notices import DigestTaskRow, PendingNoticeRow
from schemas.records import NoticeKind
from store.db import Connection

KI_REFERRAL_SUFFIX = f":{NoticeKind.KI_REFERRAL.value}"
DIGEST_KEY_PREFIX = "digest:"

_PENDING = """
    FROM notices n
    LEFT JOIN tasks t ON t.task_id = n.task_id
    LEFT JOIN arrivals a ON a.arrival_id = n.arrival_id
    LEFT JOIN accounts acc ON acc.account_id = t.assigned_to AND acc.active
                          AND acc.email IS NOT NULL AND t.status = 'open'
    WHERE n.outcome IS NULL
"""
# Can be settled now: its task is no longer open (no mail needed), or someone has an address.
_ACTIONABLE = (
    "((n.task_id IS NOT NULL AND t.status IS DISTINCT FROM 'open')"
    " OR acc.email IS NOT NULL OR n.queue = ANY($1::text[]))"
)


async def record_ki_referrals(con: Connection) -> int:
    """A notice for every open ki_contact task that has none yet: a new KI referral. Once per
    task (its key); the number written."""
    status = await con.execute(
        "INSERT INTO notices (key, case_id, queue, kind, task_id, created_at)"
        " SELECT t.task_id::text || $1, t.case_id, t.queue, $2, t.task_id, t.created_at"
        " FROM tasks t WHERE t.status = 'open' AND t.kind = 'ki_contact'"
        " AND t.case_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM notices n WHERE n.key = t.task_id::text || $1)"
        " ON CONFLICT (key) DO NOTHING",
        KI_REFERRAL_SUFFIX,
        NoticeKind.KI_REFERRAL.value,
    )
    return int(status.split()[-1])


async def claim_pending(
    con: Connection, addressed_queues: list[str], limit: int
) -> list[PendingNoticeRow]:
    """Up to ``limit`` waiting notices that can be settled now, oldest first, locked until the
    caller's transaction ends (another dispatcher skips them)."""
    rows = await con.fetch(
        "SELECT n.key, n.case_id, n.arrival_id, a.reference AS arrival_reference, n.queue,"
        " n.kind, n.task_id::text AS task_id, t.kind AS task_kind, t.status AS task_status,"
        " t.overdue AS task_overdue, t.due_at, acc.account_id, acc.email, n.created_at"
        f" {_PENDING} AND {_ACTIONABLE}"
        " ORDER BY n.created_at, n.key LIMIT $2 FOR UPDATE OF n SKIP LOCKED",
        addressed_queues,
        limit,
    )
    return [PendingNoticeRow.model_validate(dict(row)) for row in rows]


async def count_without_address(con: Connection, addressed_queues: list[str]) -> int:
    """Waiting notices that reach nobody: no assignee with an address, no team address."""
    count: int = await con.fetchval(
        f"SELECT count(*) {_PENDING} AND NOT {_ACTIONABLE}", addressed_queues
    )
    return count


async def settle(
    con: Connection,
    key: str,
    outcome: str,
    *,
    sent_at: datetime | None = None,
    outbox_id: int | None = None,
) -> None:
    """How the notice was settled (migration 025 names the outcomes); once."""
    await con.execute(
        "UPDATE notices SET outcome = $2, sent_at = $3, outbox_id = $4"
        " WHERE key = $1 AND outcome IS NULL",
        key,
        outcome,
        sent_at,
        outbox_id,
    )


async def open_tasks(con: Connection, at: datetime) -> list[DigestTaskRow]:
    """Every open task with the assignee's address (if active and set), overdue first, then by
    due date: what the digests list. Overdue: marked so, or due by ``at``."""
    rows = await con.fetch(
        "SELECT t.task_id::text AS task_id, t.case_id, a.reference AS arrival_reference,"
        " t.kind, t.queue, t.due_at, (t.overdue OR t.due_at <= $1) AS overdue,"
        " acc.account_id, acc.email FROM tasks t"
        " LEFT JOIN arrivals a ON a.arrival_id = t.arrival_id"
        " LEFT JOIN accounts acc ON acc.account_id = t.assigned_to AND acc.active"
        " AND acc.email IS NOT NULL"
        " WHERE t.status = 'open'"
        " ORDER BY (t.overdue OR t.due_at <= $1) DESC, t.due_at, t.task_id",
        at,
    )
    return [DigestTaskRow.model_validate(dict(row)) for row in rows]


async def delete_old_digests(con: Connection, before: datetime) -> int:
    """Digest mails (about many cases, of none) created before ``before`` and no longer
    queued: deleted with their proof. The number deleted."""
    status = await con.execute(
        "DELETE FROM outbox WHERE idempotency_key LIKE $1 AND created_at < $2"
        " AND status <> 'queued'",
        f"{DIGEST_KEY_PREFIX}%",
        before,
    )
    return int(status.split()[-1])


async def counts(con: Connection, addressed_queues: list[str]) -> dict[str, int]:
    """For operators: notices waiting, waiting without an address, and settled per outcome."""
    found = {
        row["outcome"] or "waiting": int(row["notices"])
        for row in await con.fetch(
            "SELECT outcome, count(*) AS notices FROM notices GROUP BY outcome ORDER BY outcome"
        )
    }
    found.setdefault("waiting", 0)
    found["without_address"] = await count_without_address(con, addressed_queues)
    return found


async def waiting(con: Connection, before: datetime) -> tuple[int, int]:
    """Notices without a mail yet: all of them, and those written before ``before``."""
    row = await con.fetchrow(
        "SELECT count(*) AS waiting, count(*) FILTER (WHERE created_at < $1) AS long"
        " FROM notices WHERE outcome IS NULL",
        before,
    )
    assert row is not None
    return int(row["waiting"]), int(row["long"])
