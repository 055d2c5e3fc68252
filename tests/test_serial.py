"""KeyedLocks: completions of one task wait for each other, of others not, and leave nothing."""

from __future__ import annotations

import asyncio

import pytest

from service.serial import Busy, KeyedLocks


async def test_one_key_waits_another_does_not_and_nothing_stays() -> None:
    locks, order = KeyedLocks(), []

    async def hold(key: str, name: str, seconds: float) -> None:
        async with locks.hold(key, within=5):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    await asyncio.gather(hold("a", "first", 0.2), hold("a", "second", 0), hold("b", "other", 0))
    assert order.index("first out") < order.index("second in")
    assert order.index("other out") < order.index("first out")
    assert len(locks) == 0


async def test_a_lock_not_free_in_time_is_busy_and_the_holder_keeps_it() -> None:
    locks = KeyedLocks()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("a", within=1):
            entered.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    with pytest.raises(Busy):
        async with locks.hold("a", within=0.05):
            pass
    assert len(locks) == 1
    release.set()
    await task
    async with locks.hold("a", within=0.05):
        pass
    assert len(locks) == 0
