"""Queries for the wrapped data keys (``data_keys``); the cryptography is in ``protection``."""

from __future__ import annotations

from datetime import datetime

from schemas.rows import KeyRow, WrappedKeyRow
from store.db import Connection


async def live_key(con: Connection, scope: str) -> WrappedKeyRow | None:
    """The scope's live key; None when there is none."""
    row = await con.fetchrow(
        "SELECT key_id, wrapped, master_key_id FROM data_keys"
        " WHERE scope = $1 AND shredded_at IS NULL",
        scope,
    )
    return None if row is None else WrappedKeyRow.model_validate(dict(row))


async def insert_key(
    con: Connection, key_id: str, scope: str, wrapped: bytes, master_key_id: str
) -> bool:
    """Store a new live key for ``scope``; False when another process was first (use theirs)."""
    inserted = await con.fetchval(
        "INSERT INTO data_keys (key_id, scope, wrapped, master_key_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (scope) WHERE shredded_at IS NULL DO NOTHING RETURNING true",
        key_id,
        scope,
        wrapped,
        master_key_id,
    )
    return bool(inserted)


async def key_by_id(con: Connection, key_id: str) -> KeyRow | None:
    """A key by its id (shredded or not); None when the id is unknown."""
    row = await con.fetchrow(
        "SELECT wrapped, master_key_id, shredded_at FROM data_keys WHERE key_id = $1", key_id
    )
    return None if row is None else KeyRow.model_validate(dict(row))


async def shred(con: Connection, scope: str, at: datetime) -> list[str]:
    """Destroy the wrapped key(s) of ``scope``; returns the ids shredded now (none: already)."""
    rows = await con.fetch(
        "UPDATE data_keys SET wrapped = NULL, master_key_id = NULL, shredded_at = $2"
        " WHERE scope = $1 AND shredded_at IS NULL RETURNING key_id",
        scope,
        at,
    )
    return [row["key_id"] for row in rows]


async def keys_wrapped_by_other_masters(
    con: Connection, current_master: str, limit: int
) -> list[WrappedKeyRow]:
    rows = await con.fetch(
        "SELECT key_id, wrapped, master_key_id FROM data_keys"
        " WHERE shredded_at IS NULL AND master_key_id <> $1 ORDER BY key_id LIMIT $2",
        current_master,
        limit,
    )
    return [WrappedKeyRow.model_validate(dict(row)) for row in rows]


async def replace_wrapping(
    con: Connection, key_id: str, old_master: str, wrapped: bytes, new_master: str
) -> bool:
    """Compare-and-set: rewrap only if nobody shredded or rewrapped the key meanwhile."""
    updated = await con.fetchval(
        "UPDATE data_keys SET wrapped = $3, master_key_id = $4, rewrapped_at = now()"
        " WHERE key_id = $1 AND master_key_id = $2 AND shredded_at IS NULL RETURNING true",
        key_id,
        old_master,
        wrapped,
        new_master,
    )
    return bool(updated)


async def master_key_usage(con: Connection) -> dict[str, int]:
    """How many live data keys each master key wraps."""
    rows = await con.fetch(
        "SELECT master_key_id, count(*) AS keys FROM data_keys"
        " WHERE shredded_at IS NULL GROUP BY master_key_id"
    )
    return {row["master_key_id"]: row["keys"] for row in rows}


async def cases_of_keys(con: Connection, key_ids: list[str]) -> list[str]:
    """The case ids whose keys are among ``key_ids`` (for the access log of a decode); an
    arrival's key is named by its workflow id, ``arrival-<reference>``."""
    rows = await con.fetch(
        "SELECT DISTINCT CASE WHEN scope LIKE 'case:%' THEN substr(scope, 6)"
        " ELSE 'arrival-' || substr(scope, 9) END AS case_id FROM data_keys"
        " WHERE key_id = ANY($1::text[]) AND (scope LIKE 'case:%' OR scope LIKE 'arrival:%')"
        " ORDER BY 1",
        key_ids,
    )
    return [row["case_id"] for row in rows]


async def shred_by_id(con: Connection, key_id: str, at: datetime) -> str | None:
    """Destroy the key ``key_id`` if it is live; its scope, or None (unknown or shredded)."""
    scope: str | None = await con.fetchval(
        "UPDATE data_keys SET wrapped = NULL, master_key_id = NULL, shredded_at = $2"
        " WHERE key_id = $1 AND shredded_at IS NULL RETURNING scope",
        key_id,
        at,
    )
    return scope


async def known_key_ids(con: Connection, key_ids: list[str]) -> set[str]:
    """Which of ``key_ids`` this database holds (shredded or not)."""
    rows = await con.fetch("SELECT key_id FROM data_keys WHERE key_id = ANY($1::text[])", key_ids)
    return {row["key_id"] for row in rows}
