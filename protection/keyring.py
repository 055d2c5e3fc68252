"""Per-case data keys: created on first use, wrapped by the master key, shredded on erasure.

Every case has its own AES-256 key (scope ``case:<case_id>``), so have the arrivals of a
reference (``arrival:<reference>``); payloads that belong to neither use the ``system`` key.
Keys are cached in memory for ``cache_ttl`` so that the codec does not ask PostgreSQL for every
payload; a shredded key therefore stays usable in a process that held it for at most that long
(erasure happens months after a case closed, when no process holds its key any more).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protection import shredlog
from protection.master import KEY_BYTES, MasterKeyError, MasterKeys
from store import keys as store

SYSTEM_SCOPE = "system"
NONCE_BYTES = 12


def case_scope(case_id: str) -> str:
    return f"case:{case_id}"


def arrival_scope(reference: str) -> str:
    """The key of every arrival workflow of a reference (``arrival-<reference>``)."""
    return f"arrival:{reference}"


class UnknownKey(Exception):
    """A payload names a key id this database has never held."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes


def _wrap(master: bytes, master_id: str, key_id: str, key: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = f"{key_id}|{master_id}".encode()
    return nonce + AESGCM(master).encrypt(nonce, key, aad)


def _unwrap(master: bytes, master_id: str, key_id: str, wrapped: bytes) -> bytes:
    aad = f"{key_id}|{master_id}".encode()
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag:
        raise MasterKeyError(f"data key {key_id} does not unwrap with {master_id}") from None


class KeyRing:
    """Data keys of this database, unwrapped with the master keys of this process."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        masters: MasterKeys,
        cache_ttl: float = 300.0,
        shred_log: Path | None = None,
    ) -> None:
        self._pool = pool
        self.masters = masters
        self._ttl = cache_ttl
        self.shred_log = shred_log
        self._by_scope: dict[str, tuple[float, DataKey]] = {}
        self._by_id: dict[str, tuple[float, bytes | None]] = {}

    def _fresh(self, stamp: float) -> bool:
        return time.monotonic() - stamp < self._ttl

    async def key_for(self, scope: str) -> DataKey:
        """The live key of ``scope``, created (and wrapped) when the scope has none yet."""
        cached = self._by_scope.get(scope)
        if cached and self._fresh(cached[0]):
            return cached[1]
        async with self._pool.acquire() as con:
            row = await store.live_key(con, scope)
            if row is None:
                key_id = "k-" + secrets.token_hex(12)
                key = secrets.token_bytes(KEY_BYTES)
                master_id = self.masters.current_id
                wrapped = _wrap(self.masters.current, master_id, key_id, key)
                if await store.insert_key(con, key_id, scope, wrapped, master_id):
                    return self._remember(scope, DataKey(key_id, key))
                row = await store.live_key(con, scope)  # another process was first
                assert row is not None
        key = _unwrap(self.masters.get(row.master_key_id), row.master_key_id,
                      row.key_id, row.wrapped)  # fmt: skip
        return self._remember(scope, DataKey(row.key_id, key))

    def _remember(self, scope: str, data_key: DataKey) -> DataKey:
        now = time.monotonic()
        self._by_scope[scope] = (now, data_key)
        self._by_id[data_key.key_id] = (now, data_key.key)
        return data_key

    async def key_by_id(self, key_id: str) -> bytes | None:
        """The key ``key_id``; None when it was shredded; :class:`UnknownKey` if never held."""
        cached = self._by_id.get(key_id)
        if cached and self._fresh(cached[0]):
            return cached[1]
        async with self._pool.acquire() as con:
            row = await store.key_by_id(con, key_id)
        if row is None:
            raise UnknownKey(key_id)
        key: bytes | None = None
        if row.wrapped is not None:
            master_id = row.master_key_id
            assert master_id is not None  # data_keys' CHECK: wrapped with a master key
            key = _unwrap(self.masters.get(master_id), master_id, key_id, row.wrapped)
        self._by_id[key_id] = (time.monotonic(), key)
        return key

    async def shred(self, scope: str) -> list[str]:
        """Crypto-shredding: the wrapped key is destroyed, every payload under it unreadable."""
        at = datetime.now(UTC)
        async with self._pool.acquire() as con, con.transaction():
            shredded = await store.shred(con, scope, at)
            await self.log_shredded(shredded, at)
        self.forget(scope, shredded)
        return shredded

    async def log_shredded(self, key_ids: list[str], at: datetime) -> None:
        """Write ``key_ids`` to the shredding log (if this ring has one), on disk on return.

        Called inside the transaction that shreds them, before it commits, so that no key is
        shredded in the database without its line (:mod:`protection.shredlog`)."""
        if self.shred_log is not None and key_ids:
            await asyncio.to_thread(shredlog.append, self.shred_log, key_ids, at)

    def forget(self, scope: str, key_ids: list[str]) -> None:
        self._by_scope.pop(scope, None)
        for key_id in key_ids:
            self._by_id.pop(key_id, None)

    async def rewrap_all(self, batch: int = 500) -> int:
        """Wrap every live data key with the current master key; returns how many changed.

        Each key is replaced by compare-and-set, so a concurrent shred or rewrap wins and
        nothing is lost; the data keys themselves stay the same, so no payload changes.
        """
        changed = 0
        current_id, current = self.masters.current_id, self.masters.current
        while True:
            async with self._pool.acquire() as con:
                rows = await store.keys_wrapped_by_other_masters(con, current_id, batch)
                if not rows:
                    return changed
                for row in rows:
                    old_id = row.master_key_id
                    key_id = row.key_id
                    key = _unwrap(self.masters.get(old_id), old_id, key_id, row.wrapped)
                    wrapped = _wrap(current, current_id, key_id, key)
                    if await store.replace_wrapping(con, key_id, old_id, wrapped, current_id):
                        changed += 1

    async def master_key_usage(self) -> dict[str, int]:
        async with self._pool.acquire() as con:
            return await store.master_key_usage(con)
