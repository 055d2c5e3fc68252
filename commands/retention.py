"""``python -m commands.retention``: the erasure of closed cases, by hand.

    python -m commands.retention status                 # due, kept, erased (cases, arrivals)
    python -m commands.retention run-now                # start the scheduled erasure now
    python -m commands.retention hold CASE_ID --reason "…"   # legal hold: never erased
    python -m commands.retention release CASE_ID        # the hold lifted

``run-now`` triggers the Temporal Schedule ``retention-erasure`` (the worker creates it), so the
run is the same workflow as at night and shows in the Temporal UI; it needs the service's
Temporal (TEMPORAL_ADDRESS, or the embedded dev server while ``manage.py run`` runs).
The others talk to the database like ``commands.accounts``.

Exit codes: 0 done, 1 refused (unknown case), 2 database or Temporal unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from pydantic import TypeAdapter

from config.settings import Settings
from protection.erasure import ErasureRefused
from runtime.commands import command_pool, run_command
from schemas.audit import SYSTEM_ROLE
from schemas.events import case_id_argument
from schemas.inputs import HoldReason, argument
from schemas.local_time import BERLIN
from service.errors import NotFound
from service.retention import SCHEDULE_ID, run_now, set_legal_hold
from service.temporal import connect
from store import erasure as store

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.retention", description="Erasure of closed cases."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "status", help="cases and arrivals due for erasure today, kept, on hold, erased"
    )
    commands.add_parser("run-now", help="start the scheduled erasure now")
    hold = commands.add_parser("hold", help="put a case on legal hold")
    hold.add_argument("case_id", type=case_id_argument)
    hold.add_argument("--reason", required=True, type=argument(TypeAdapter(HoldReason)))
    release = commands.add_parser("release", help="lift a legal hold")
    release.add_argument("case_id", type=case_id_argument)
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
        await run_now(client)
        print(f"schedule {SCHEDULE_ID} triggered; see the Temporal UI for the run", file=out)
        return EXIT_OK
    async with command_pool(settings) as pool:
        try:
            if args.command == "hold":
                await set_legal_hold(
                    pool, args.case_id, args.reason, actor="retention_cli", role=SYSTEM_ROLE
                )
                print(f"{args.case_id}: on legal hold, not erased", file=out)
            elif args.command == "release":
                await set_legal_hold(
                    pool, args.case_id, None, actor="retention_cli", role=SYSTEM_ROLE
                )
                print(f"{args.case_id}: legal hold lifted", file=out)
            else:
                today = datetime.now(BERLIN).date()
                async with pool.acquire() as con:
                    counts = await store.retention_counts(con, today)
                for name, count in counts.items():
                    print(f"{name}: {count}", file=out)
        except (ErasureRefused, NotFound) as refused:
            print(f"refused: {refused.message}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv), also=(RuntimeError,))


if __name__ == "__main__":
    sys.exit(main())
