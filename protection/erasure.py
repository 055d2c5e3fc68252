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
from schemas.erasure import ErasureResult, ReapplyResult
from store import arrivals as arrival_store
from store import audit
from store import erasure as store
from store import keys as key_store
from store.db import Connection


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
        await keys.log_shredded(shredded, at)  # before the commit: a restore shreds it again
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
        await keys.log_shredded(shredded, at)
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


RESTORE_ACTOR = "backup-restore"


async def reapply_shredding(
    pool: asyncpg.Pool, key_ids: list[str], *, now: datetime | None = None
) -> ReapplyResult:
    """After a restore: shred again every key of the shredding log the backup still holds.

    For a case key the case's personal rows go as well and the case is marked erased (its
    ``erasures`` row says ``backup-restore``); for an arrival key, its arrivals' personal data.
    One audit entry per case or reference erased again, one for the whole run. All in one
    transaction: a restore that stops half-way has re-applied nothing and is run again.
    """
    at = now or datetime.now(UTC)
    shredded_again = 0
    cases: list[str] = []
    references: list[str] = []
    async with pool.acquire() as con, con.transaction():
        known = await key_store.known_key_ids(con, key_ids)
        for key_id in key_ids:
            scope = await key_store.shred_by_id(con, key_id, at)
            if scope is None:
                continue
            shredded_again += 1
            if scope.startswith("case:"):
                case_id = scope.removeprefix("case:")
                await _erase_case_again(con, case_id, at)
                cases.append(case_id)
            elif scope.startswith("arrival:"):
                reference = scope.removeprefix("arrival:")
                await _erase_arrivals_again(con, reference, at)
                references.append(reference)
        result = ReapplyResult(
            keys_in_log=len(key_ids),
            shredded_again=shredded_again,
            already_shredded=len(known) - shredded_again,
            not_in_backup=len(key_ids) - len(known),
            cases_erased_again=len(cases),
            arrival_references_erased_again=len(references),
        )
        detail: dict[str, DetailValue] = {
            key: value for key, value in result.model_dump().items() if isinstance(value, int)
        }
        await audit.append(con, by_system(RESTORE_ACTOR, AuditAction.ERASURE_REAPPLIED,
                                          detail=detail))  # fmt: skip
    return result


async def _erase_case_again(con: Connection, case_id: str, at: datetime) -> None:
    case = await store.case_for_erasure(con, case_id)
    if case is None:  # a key whose case row is gone: nothing but the key to shred
        return
    removed = await store.remove_personal_rows(con, case_id)
    # Open at the backup, erased since: its tasks must not come back into an inbox.
    removed["tasks.cancelled"] = await store.cancel_open_tasks(con, case_id, at)
    if case.erased_at is None:
        await store.record_erasure(con, case, at, RESTORE_ACTOR, 1, removed)
    detail: dict[str, DetailValue] = {"keys_shredded": 1, "source": "shred log"}
    await audit.append(
        con, by_system(RESTORE_ACTOR, AuditAction.ERASURE_REAPPLIED, case_id=case_id,
                       detail=detail)
    )  # fmt: skip


async def _erase_arrivals_again(con: Connection, reference: str, at: datetime) -> None:
    arrivals = await arrival_store.lock_reference(con, reference)
    pending = [str(row.arrival_id) for row in arrivals if row.erased_at is None]
    if pending:
        await arrival_store.remove_personal_data(con, pending, at)
    detail: dict[str, DetailValue] = {"keys_shredded": 1, "arrivals": len(pending)}
    await audit.append(
        con,
        by_system(RESTORE_ACTOR, AuditAction.ERASURE_REAPPLIED,
                  case_id=f"arrival-{reference}", detail=detail),
    )  # fmt: skip
