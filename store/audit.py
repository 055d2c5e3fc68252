"""Queries for the audit log: append inside the caller's transaction, read, verify the chain.

Appends are serialised by a transaction-level advisory lock taken before the last entry is
read; it is held until the caller's transaction ends, so the next appender reads the entry
only once it is committed (or finds it gone after a rollback): seq stays gapless and the chain
never forks. The price is that audited transactions queue from their append to their commit,
so callers append as the last step of their transaction. This relies on READ COMMITTED (the
default): under REPEATABLE READ an appender would not see an entry committed after its
snapshot, and the primary key on seq (and the unique prev_hash) would refuse the insert.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from schemas.audit import (
    GENESIS_HASH,
    AuditDraft,
    AuditEntry,
    VerifyResult,
    canonical_bytes,
    chain_hash,
)
from store.db import Connection

_APPEND_LOCK = 7_720_242  # next to store.migrate's and the tests' template lock

_COLUMNS = "seq, at, actor, role, action, case_id, detail, prev_hash, entry_hash"


class AuditOutsideTransaction(RuntimeError):
    """An append without a transaction would release the lock at once and could fork."""


async def append(con: Connection, draft: AuditDraft) -> int:
    """Chain ``draft`` to the last entry; returns its seq. The caller's transaction commits it."""
    if not con.is_in_transaction():
        raise AuditOutsideTransaction("audit entries are appended inside a transaction")
    await con.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    # clock_timestamp(), read under the lock, keeps ``at`` in the order of seq.
    row = await con.fetchrow(
        "SELECT clock_timestamp() AS at, last.seq, last.entry_hash FROM (VALUES (0)) AS one "
        "LEFT JOIN (SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS last "
        "ON true"
    )
    assert row is not None
    seq = (row["seq"] or 0) + 1
    prev_hash = bytes(row["entry_hash"] or GENESIS_HASH)
    canonical = canonical_bytes(
        seq=seq,
        at=row["at"],
        actor=draft.actor,
        role=draft.role,
        action=draft.action.value,
        case_id=draft.case_id,
        detail=draft.detail,
    )
    await con.execute(
        f"INSERT INTO audit_log ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        seq,
        row["at"],
        draft.actor,
        draft.role,
        draft.action.value,
        draft.case_id,
        draft.detail,
        prev_hash,
        chain_hash(prev_hash, canonical),
    )
    return seq


async def entries(
    con: Connection, case_id: str | None = None, *, after_seq: int = 0, limit: int = 1000
) -> list[AuditEntry]:
    """Entries in seq order, of one case or all; page on with ``after_seq``."""
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 AND ($2::text IS NULL OR case_id = $2) "
        "ORDER BY seq LIMIT $3",
        after_seq,
        case_id,
        limit,
    )
    return [
        AuditEntry.model_validate({**dict(row), "detail": _json(row["detail"])}) for row in rows
    ]


async def verify(con: Connection, *, batch: int = 1000) -> VerifyResult:
    """Walk the chain in seq order, recomputing every hash; stop at the first broken entry.

    Works on the raw columns, not on models, so a tampered row is reported, not refused.
    """
    count = 0
    prev_seq = 0
    prev_hash = GENESIS_HASH
    while True:
        rows = await con.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            prev_seq,
            batch,
        )
        for row in rows:
            reason = _broken(row, prev_seq, prev_hash)
            if reason is not None:
                return VerifyResult(
                    ok=False,
                    count=count,
                    last_seq=prev_seq or None,
                    last_hash=prev_hash if prev_seq else None,
                    broken_seq=prev_seq + 1 if row["seq"] != prev_seq + 1 else row["seq"],
                    reason=reason,
                )
            count += 1
            prev_seq, prev_hash = row["seq"], bytes(row["entry_hash"])
        if len(rows) < batch:
            return VerifyResult(
                ok=True,
                count=count,
                last_seq=prev_seq or None,
                last_hash=prev_hash if prev_seq else None,
            )


def _broken(row: asyncpg.Record, prev_seq: int, prev_hash: bytes) -> str | None:
    if row["seq"] != prev_seq + 1:
        return f"entry missing (the next entry is {row['seq']})"
    if bytes(row["prev_hash"]) != prev_hash:
        previous = f"entry {prev_seq}" if prev_seq else "the start of the chain"
        return f"prev_hash does not match the hash of {previous}"
    canonical = canonical_bytes(
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        case_id=row["case_id"],
        detail=_json(row["detail"]),
    )
    if chain_hash(prev_hash, canonical) != bytes(row["entry_hash"]):
        return "hash mismatch: the entry was changed after it was written"
    return None


def _json(value: Any) -> Any:
    """jsonb as Python objects, also on a connection without the pool's jsonb codec."""
    return json.loads(value) if isinstance(value, str) else value
