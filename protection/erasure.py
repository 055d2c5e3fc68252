"""Erasing a closed case everywhere: its key (so every Temporal payload of it is unreadable,
backups of the history included) and its personal rows, in one transaction.

The case row stays with anonymous figures for the county's reports; ``erasures`` records
what was done. A case on legal hold, or not yet closed, is refused; erasing twice is a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from protection.keyring import KeyRing, arrival_scope, case_scope
from schemas.audit import AuditAction, DetailValue, by_system
from schemas.erasure import ErasureResult
from store import arrivals as arrival_store
from store import audit
from store import erasure as store
from store import keys as key_store


class ErasureRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def erase_case(
    pool: asyncpg.Pool,
    keys: KeyRing,
    case_id: str,
    *,
    reason: str,
    actor: str = "retention",
    now: datetime | None = None,
) -> ErasureResult:
    at = now or datetime.now(UTC)
    scope = case_scope(case_id)
    async with pool.acquire() as con, con.transaction():
        case = await store.case_for_erasure(con, case_id)
        if case is None:
            raise ErasureRefused(404, "unknown case")
        if case.erased_at is not None:
            return ErasureResult(case_id=case_id, erased_at=case.erased_at, already_erased=True)
        if case.closed_at is None:
            raise ErasureRefused(409, "the case is not closed")
        if case.legal_hold:
            raise ErasureRefused(409, "the case is on legal hold")
        shredded = await key_store.shred(con, scope, at)
        removed = await store.remove_personal_rows(con, case_id)
        await store.record_erasure(con, case, at, reason, len(shredded), removed)
        detail: dict[str, DetailValue] = {"reason": reason, "keys_shredded": len(shredded)}
        await audit.append(
            con, by_system(actor, AuditAction.CASE_ERASED, case_id=case_id, detail=detail)
        )
    keys.forget(scope, shredded)
    return ErasureResult(
        case_id=case_id, erased_at=at, keys_shredded=len(shredded), rows_removed=removed
    )


async def erase_arrivals(
    pool: asyncpg.Pool,
    keys: KeyRing,
    reference: str,
    *,
    reason: str,
    actor: str = "retention",
    now: datetime | None = None,
) -> dict[str, int]:
    """Erase the personal data of every arrival of ``reference``, in one transaction.

    Name and e-mail go, the arrival's mails, notices and task completions go, its data key is
    shredded (every payload of ``arrival-<reference>`` in Temporal unreadable). Refused while
    an arrival of the reference is still running: its workflow needs the key. Returns the
    rows removed per table (nothing left to erase: all zero)."""
    at = now or datetime.now(UTC)
    scope = arrival_scope(reference)
    async with pool.acquire() as con, con.transaction():
        arrivals = await arrival_store.lock_reference(con, reference)
        if not arrivals:
            raise ErasureRefused(404, "unknown arrival")
        if any(row.finished_at is None for row in arrivals):
            raise ErasureRefused(409, "an arrival of this reference is still running")
        pending = [str(row.arrival_id) for row in arrivals if row.erased_at is None]
        if not pending:
            return {}
        shredded = await key_store.shred(con, scope, at)
        removed = await arrival_store.remove_personal_data(con, pending, at)
        detail: dict[str, DetailValue] = {
            "reason": reason,
            "keys_shredded": len(shredded),
            "arrivals": len(pending),
        }
        await audit.append(
            con,
            by_system(
                actor,
                AuditAction.ARRIVAL_ERASED,
                case_id=f"arrival-{reference}",
                detail=detail,
            ),
        )
    keys.forget(scope, shredded)
    return removed | {"keys_shredded": len(shredded)}
