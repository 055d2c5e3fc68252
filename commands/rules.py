"""``python -m commands.rules``: the rule set's versions, proposed and adopted by two admins.

    python -m commands.rules list
    python -m commands.rules show [VERSION] > regelwerk.json      # the one in force without
    python -m commands.rules propose --file regelwerk.json --by admin1 [--adopted-from 2027-01-01]
    python -m commands.rules simulate VERSION
    python -m commands.rules adopt VERSION --by admin2
    python -m commands.rules withdraw VERSION --by admin1

``show`` prints a version as a proposal file (``adopted_from`` and ``content``): edit it and
propose it. ``--by`` names the admin account acting (the audit log records it): the one who
proposed a version cannot adopt it. ``simulate`` prints the numbers the adoption will store.
Like ``commands.accounts`` it talks to the database directly. Exit codes: 0 done, 1 refused
(no such version or account, the same admin twice, a day in the past, a file that does not
fit), 2 the database is unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from config.settings import Settings
from runtime.commands import command_pool, run_command
from schemas.rule_sets import RuleSetProposal
from service.accounts import AccountService
from service.errors import Invalid, Refused
from service.rules import RuleService

EXIT_OK, EXIT_REFUSED = 0, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m commands.rules", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the versions")
    show = commands.add_parser("show", help="print a version as a proposal file")
    show.add_argument("version", type=int, nargs="?")
    propose = commands.add_parser("propose", help="propose a new version from a file")
    propose.add_argument("--file", type=Path, required=True)
    propose.add_argument("--by", required=True, help="the proposing admin's username")
    propose.add_argument("--adopted-from", type=date.fromisoformat)
    simulate = commands.add_parser("simulate", help="a proposal over the running cases")
    simulate.add_argument("version", type=int)
    for name in ("adopt", "withdraw"):
        sub = commands.add_parser(name, help=f"{name} a proposal")
        sub.add_argument("version", type=int)
        sub.add_argument("--by", required=True, help="the acting admin's username")
    return parser


async def execute(
    rules: RuleService, accounts: AccountService, args: argparse.Namespace, out: TextIO
) -> int:
    try:
        if args.command == "list":
            in_force = (await rules.in_force()).version
            for version in await rules.versions():
                mark = "  in force" if version.version == in_force else ""
                print(
                    f"{version.version:>4}  {version.state.value:<9}  from {version.adopted_from}"
                    f"  {version.content_digest}{mark}",
                    file=out,
                )
        elif args.command == "show":
            found = await (rules.version(args.version) if args.version else rules.in_force())
            proposal = RuleSetProposal(adopted_from=found.adopted_from, content=found.content)
            print(proposal.model_dump_json(indent=2), file=out)
        elif args.command == "propose":
            by = await accounts.account_named(args.by)
            data = json.loads(args.file.read_text("utf-8"))
            if args.adopted_from is not None:
                data["adopted_from"] = args.adopted_from.isoformat()
            made = await rules.propose(RuleSetProposal.model_validate(data), by=by)
            print(f"version {made.version} proposed, from {made.adopted_from}", file=out)
        elif args.command == "simulate":
            simulation = await rules.simulate(args.version)
            for key, value in simulation.audit_detail().items():
                print(f"{key}: {value}", file=out)
        elif args.command == "adopt":
            by = await accounts.account_named(args.by)
            adopted = await rules.adopt(args.version, by=by)
            print(
                f"version {adopted.version} adopted, in force from {adopted.adopted_from}", file=out
            )
        else:
            by = await accounts.account_named(args.by)
            await rules.withdraw(args.version, by=by)
            print(f"version {args.version} withdrawn", file=out)
    except Invalid as error:
        reasons = "; ".join(f"{f.field}: {f.reason}" for f in error.fields) or error.message
        print(f"refused: {reasons}", file=sys.stderr)
        return EXIT_REFUSED
    except Refused as error:
        print(f"refused: {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    except (ValidationError, ValueError, OSError) as error:
        print(f"refused: the file does not fit: {error}", file=sys.stderr)
        return EXIT_REFUSED
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
        rules = RuleService(pool, settings)
        accounts = AccountService(pool, settings, system_actor="rules_cli")
        return await execute(rules, accounts, args, out or sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
