"""A worker that dies right after a handover committed, before Temporal hears of it.

Run by tests/test_handover_crash.py as a separate process: ``os._exit`` is as abrupt as a
killed machine (no cleanup, no activity completion sent).
"""

from __future__ import annotations

import asyncio
import os
import sys

from config.settings import Settings
from runtime.worker import build_worker
from service.temporal import connect
from store.db import open_pool


def _die() -> None:
    os._exit(17)


async def main(address: str, dsn: str, task_queue: str) -> None:
    client = await connect(address, "default")
    async with open_pool(dsn) as pool:
        worker = build_worker(
            client, pool, Settings(), task_queue=task_queue, after_handover_commit=_die
        )
        print("ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
