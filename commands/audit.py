"""``python -m commands.audit``: verify the audit log's hash chain, list a case's entries.

    python -m commands.audit verify
    python -m commands.audit show --case-id ABH-2026-0001

``verify`` recomputes every entry's hash in seq order and prints ``audit log intact: N
entries`` and the last entry's hash, or ``audit log broken at entry SEQ: reason`` for the first
entry that does not fit. The chain cannot tell a log whose newest entries were cut off from a
shorter one, so keep the printed last hash somewhere else (a ticket, a printout) and compare.

Like ``commands.accounts`` it talks to the database directly: ``DATABASE_URL``, else the
embedded PostgreSQL under ``CASE_DATA_DIR``; migrations are applied first. Entries hold ids and
states only, so the output holds no personal data.

Exit codes: 0 intact (or listed), 1 the chain is broken, 2 the database is unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

import asyncpg

from config.settings import Settings
from runtime.commands import command_pool, run_command
from schemas.audit import canonical_time
from schemas.events import case_id_argument
from store import audit

EXIT_OK, EXIT_BROKEN, EXIT_UNUSABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.audit",
        description="The tamper-evident audit log of the case service.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="recompute the hash chain; name the first broken entry")
    show = commands.add_parser("show", help="list the audit entries of a case, oldest first")
    show.add_argument("--case-id", required=True, type=case_id_argument)
    return parser


async def execute(pool: asyncpg.Pool, args: argparse.Namespace, out: TextIO) -> int:
    async with pool.acquire() as con:
        if args.command == "verify":
            result = await audit.verify(con)
            if not result.ok:
                print(f"audit log broken at entry {result.broken_seq}: {result.reason}", file=out)
                return EXIT_BROKEN
            print(f"audit log intact: {result.count} entries", file=out)
            if result.last_hash is not None:
                print(f"last entry {result.last_seq}: sha256 {result.last_hash.hex()}", file=out)
            return EXIT_OK
        after = 0
        while page := await audit.entries(con, args.case_id, after_seq=after):
            for entry in page:
                detail = json.dumps(entry.detail, sort_keys=True, ensure_ascii=False)
                print(
                    f"{entry.seq:>8}  {canonical_time(entry.at)}  {entry.action:<20}  "
                    f"{entry.actor} ({entry.role})  {detail}",
                    file=out,
                )
            after = page[-1].seq
        if after == 0:
            print(f"no audit entries for case {args.case_id}", file=sys.stderr)
    return EXIT_OK


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    settings = settings or Settings()
    async with command_pool(settings) as pool:
        return await execute(pool, args, out or sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
