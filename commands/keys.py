"""``python -m commands.keys``: the master key ring and the data keys it wraps.

    python -m commands.keys status          # master keys, how many data keys each wraps
    python -m commands.keys rotate-master   # new current master key, every data key rewrapped
    python -m commands.keys rewrap          # rewrap under the current key (after an env change)
    python -m commands.keys retire-master --key-id m-…   # once it wraps nothing any more
    python -m commands.keys new-ring --out /run/secrets/master-keys.json   # for a deployment

Rotation needs no downtime: running processes still hold the old master key, and one that
meets a data key wrapped by a key it does not know reloads the ring file. With the ring in
``CASE_MASTER_KEYS`` (no file), add the new key there as non-current in every process, make it
current, then run ``rewrap``, then remove the old one (see README, "Data protection").

Exit codes: 0 done, 1 refused (e.g. retiring a key still in use), 2 database or keys unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from config.settings import Settings
from protection import open_keyring
from protection.keyring import KeyRing
from protection.master import KeyRingData, MasterKeyError, write_ring_file
from runtime.commands import command_pool, run_command
from schemas.inputs import line_argument

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.keys",
        description="Master key ring and per-case data keys of the payload encryption.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="master keys and the data keys each wraps")
    commands.add_parser("rotate-master", help="add a new current master key and rewrap")
    commands.add_parser("rewrap", help="rewrap every data key under the current master key")
    retire = commands.add_parser("retire-master", help="remove a master key no longer in use")
    retire.add_argument("--key-id", required=True, type=line_argument)
    new_ring = commands.add_parser(
        "new-ring",
        help="write a new master key ring file (mode 0600) for a deployment; no database",
    )
    new_ring.add_argument("--out", required=True, type=Path, help="the file; must not exist")
    return parser


def write_new_ring(path: Path, out: TextIO) -> int:
    """A ring for every process of a deployment to share (``CASE_MASTER_KEY_FILE``)."""
    if path.exists():
        print(f"refused: {path} exists; a ring is never overwritten", file=out)
        return EXIT_REFUSED
    write_ring_file(path, KeyRingData.generate())
    print(f"master key ring written to {path}; give every process CASE_MASTER_KEY_FILE={path}"
          " and back it up apart from the database", file=out)  # fmt: skip
    return EXIT_OK


async def execute(keys: KeyRing, args: argparse.Namespace, out: TextIO) -> int:
    masters = keys.masters
    if args.command == "rotate-master":
        old = masters.current_id
        new = masters.add_current()
        changed = await keys.rewrap_all()
        print(f"master key {new} is current (was {old}); {changed} data keys rewrapped", file=out)
        print(f"retire {old} with: python -m commands.keys retire-master --key-id {old}",
              file=out)  # fmt: skip
    elif args.command == "rewrap":
        changed = await keys.rewrap_all()
        print(f"{changed} data keys rewrapped under {masters.current_id}", file=out)
    elif args.command == "retire-master":
        in_use = (await keys.master_key_usage()).get(args.key_id, 0)
        if in_use:
            print(f"refused: {args.key_id} still wraps {in_use} data keys; run rewrap", file=out)
            return EXIT_REFUSED
        masters.retire(args.key_id)
        print(f"master key {args.key_id} retired", file=out)
    else:
        usage = await keys.master_key_usage()
        source = str(masters.path) if masters.path else "CASE_MASTER_KEYS"
        print(f"key ring: {source}", file=out)
        for key_id in masters.ids():
            mark = " (current)" if key_id == masters.current_id else ""
            print(f"  {key_id}{mark}: wraps {usage.pop(key_id, 0)} data keys", file=out)
        for key_id, count in usage.items():
            print(f"  {key_id}: NOT IN THE RING, wraps {count} data keys", file=out)
    return EXIT_OK


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "new-ring":
        return write_new_ring(args.out, out or sys.stdout)
    settings = settings or Settings()
    async with command_pool(settings) as pool:
        try:
            return await execute(open_keyring(pool, settings), args, out or sys.stdout)
        except MasterKeyError as error:
            print(f"refused: {error}", file=sys.stderr)
            return EXIT_REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
