"""One at a time per key within this process: :class:`KeyedLocks`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Busy(Exception):
    """The key's lock was not free within the time given."""


class KeyedLocks:
    """An asyncio lock per key, made when first wanted and dropped once nobody holds it or
    waits for it, so the keys of a long-running process do not pile up."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str, *, within: float) -> AsyncIterator[None]:
        """Hold ``key``'s lock; :class:`Busy` when it is not free within ``within`` seconds."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(within):
                    await lock.acquire()
            except TimeoutError:
                raise Busy(key) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
