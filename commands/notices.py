"""``python -m commands.notices``: the notice mails, by hand.

    python -m commands.notices status              # waiting, without an address, per outcome
    python -m commands.notices run-now             # start a dispatch round now
    python -m commands.notices run-now --digest    # start today's digest now

``run-now`` triggers the Temporal Schedule ``notice-dispatch`` (or ``notice-digest``) that
the worker creates, so the run is the same workflow as on schedule and shows in the Temporal
UI; a digest goes once per recipient and day however often it is started. ``status`` talks to
the database like ``commands.accounts`` and prints counts only (docs/benachrichtigungen.md).

Exit codes: 0 done, 2 database or Temporal unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from config.settings import Settings
from runtime.commands import command_pool, run_command
from service.notices import DIGEST_SCHEDULE_ID, DISPATCH_SCHEDULE_ID, run_now
from service.temporal import connect
from store import notices as store

EXIT_OK = 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.notices", description="Notices by e-mail."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="notices waiting, without an address, per outcome")
    now = commands.add_parser("run-now", help="start a dispatch round (or the digest) now")
    now.add_argument("--digest", action="store_true", help="today's digest instead")
    return parser


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    settings = settings or Settings()
    out = out or sys.stdout
    if args.command == "run-now":
        address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
        client = await connect(address, settings.temporal_namespace)
        await run_now(client, digest=args.digest)
        schedule_id = DIGEST_SCHEDULE_ID if args.digest else DISPATCH_SCHEDULE_ID
        print(f"schedule {schedule_id} triggered; see the Temporal UI for the run", file=out)
        return EXIT_OK
    queues = sorted(queue.value for queue in settings.notice_queue_addresses)
    async with command_pool(settings) as pool, pool.acquire() as con:
        counts = await store.counts(con, queues)
    print(f"mode: {settings.notice_mails.value}; team addresses: {', '.join(queues) or 'none'}",
          file=out)  # fmt: skip
    for name, count in counts.items():
        print(f"{name}: {count}", file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv), also=(RuntimeError,))


if __name__ == "__main__":
    sys.exit(main())
