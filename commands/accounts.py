"""``python -m commands.accounts``: create accounts and API tokens, list accounts.

    python -m commands.accounts create --username U --display-name "Name" --role admin
    python -m commands.accounts create ... --password-stdin < file
    python -m commands.accounts reset-password --username U
    python -m commands.accounts token --name backoffice
    python -m commands.accounts tokens
    python -m commands.accounts revoke-token --name backoffice
    python -m commands.accounts list
    python -m commands.accounts email --username U --email name@kreis-unna.de
    python -m commands.accounts email --username U --clear
    python -m commands.accounts team-lead --username U
    python -m commands.accounts team-lead --username U --off

It talks to the database directly (this is how the first admin comes to exist): the one in
``DATABASE_URL``, else the embedded PostgreSQL under ``CASE_DATA_DIR`` (attached to when the
service runs, started for the command otherwise). Migrations are applied first. Passwords are
read with getpass (asked twice) or, with ``--password-stdin``, from the first line of stdin;
they never appear on the command line. Without a terminal on stdin (a pipe, cron, CI) and
without ``--password-stdin`` the command does not ask: it says to use ``--password-stdin`` and
exits 1, before it touches the database. A token is printed once and stored only as a hash.

``reset-password`` gives an account a one-time password, printed once: the account's sessions
end, and at its next login the person must set a password of their own (how an admin who
forgot theirs gets back in).

A token name is used once: a name any token has had, a revoked one too, is refused.

``email`` sets (or, with ``--clear``, removes) the address an account's notices go to
(reminders, overdue tasks, new KI referrals, the daily digest; docs/benachrichtigungen.md).

``team-lead`` makes an ABH or KI account its team's lead (``--off``: no longer): a lead
reassigns the team's open tasks in bulk (the inbox, ``POST /api/v1/tasks/assign``). The
account keeps its role; ``list`` marks leads with ``lead``.

A token is revoked by the name it was made with (all active tokens of that name): the next
request with it is refused, so a leaked token is closed without restarting anything.

Exit codes: 0 done, 1 refused (taken username or token name, short password, no such token
or account, a team lead of another role than abh or ki, no terminal to ask on), 2 the
database is unusable.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import TextIO

from config.settings import Settings
from runtime.commands import command_pool, run_command
from schemas.accounts import Role
from service.accounts import AccountService
from service.errors import AccountError, NotFound

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.accounts",
        description="Personal accounts and back-office API tokens of the case service.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a personal account")
    create.add_argument("--username", required=True)
    create.add_argument("--display-name", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    reset = commands.add_parser(
        "reset-password",
        help="give an account a one-time password (printed once); it must be changed at login",
    )
    reset.add_argument("--username", required=True)
    token = commands.add_parser("token", help="create an API token for status intake")
    token.add_argument(
        "--name", required=True, help="which system uses it, e.g. backoffice (used once)"
    )
    commands.add_parser("tokens", help="list the API tokens (names and dates, no secrets)")
    revoke = commands.add_parser("revoke-token", help="revoke the active API tokens of a name")
    revoke.add_argument("--name", required=True)
    commands.add_parser("list", help="list the accounts")
    email = commands.add_parser("email", help="set the address an account's notices go to")
    email.add_argument("--username", required=True)
    address = email.add_mutually_exclusive_group(required=True)
    address.add_argument("--email", help="a work address, e.g. name@kreis-unna.de")
    address.add_argument("--clear", action="store_true", help="no notice mails to this account")
    lead = commands.add_parser(
        "team-lead", help="let an abh or ki account reassign its team's tasks in bulk"
    )
    lead.add_argument("--username", required=True)
    lead.add_argument("--off", action="store_true", help="the account no longer leads its team")
    return parser


NO_TERMINAL = (
    "no terminal to ask for the password on: pipe it in with --password-stdin, e.g.\n"
    "  printf '%s\\n' \"$PASSWORT\" | python -m commands.accounts create ... --password-stdin"
)


def asks_for_password(args: argparse.Namespace) -> bool:
    return args.command == "create" and not args.password_stdin


def read_password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    try:
        first = getpass.getpass("Passwort: ")
        again = getpass.getpass("Passwort wiederholen: ")
    except EOFError:  # Ctrl-D at the prompt
        raise AccountError("Kein Passwort eingegeben.") from None
    if again != first:
        raise AccountError("Die Passwörter stimmen nicht überein.")
    return first


async def execute(
    service: AccountService, args: argparse.Namespace, out: TextIO, stdin: TextIO
) -> int:
    try:
        if args.command == "create":
            password = read_password(args.password_stdin, stdin)
            account = await service.create_account(
                args.username, args.display_name, Role(args.role), password
            )
            print(
                f"account {account.account_id} created: {account.username} ({account.role})",
                file=out,
            )
        elif args.command == "reset-password":
            account = await service.account_named(args.username)
            account, one_time = await service.reset_password(account.account_id)
            print(
                f"one-time password of {account.username} (shown only now; all its sessions "
                "ended; it must be changed at the next login):",
                file=sys.stderr,
            )
            print(one_time, file=out)
        elif args.command == "token":
            token = await service.create_api_token(args.name)
            print(f"API token for {args.name} (shown only now):", file=sys.stderr)
            print(token, file=out)
        elif args.command == "tokens":
            for api_token in await service.list_api_tokens():
                state = (
                    f"revoked {api_token.revoked_at:%Y-%m-%d %H:%M}"
                    if api_token.revoked_at
                    else "active"
                )
                print(
                    f"{api_token.token_id:>4}  {api_token.name}  "
                    f"created {api_token.created_at:%Y-%m-%d %H:%M}  {state}",
                    file=out,
                )
        elif args.command == "revoke-token":
            count = await service.revoke_api_tokens(args.name)
            if count == 0:
                raise AccountError(f"no active API token named {args.name!r}")
            print(f"revoked {count} API token(s) named {args.name}", file=out)
        elif args.command == "email":
            found = [a for a in await service.list_accounts() if a.username == args.username]
            if not found:
                raise AccountError(f"no account named {args.username!r}")
            await service.set_email(found[0].account_id, None if args.clear else args.email)
            state = "removed" if args.clear else "set"
            print(f"notice address of {args.username} {state}", file=out)
        elif args.command == "team-lead":
            account = await service.account_named(args.username)
            await service.set_team_lead(account.account_id, not args.off)
            state = "no longer leads" if args.off else "leads"
            print(f"{account.username} {state} the {account.role.value} team", file=out)
        else:
            emails = await service.emails()
            for account in await service.list_accounts():
                state = "  lead" if account.team_lead else ""
                state += "" if account.active else "  (inactive)"
                address = (
                    f"  <{emails[account.account_id]}>" if account.account_id in emails else ""
                )
                print(
                    f"{account.account_id:>4}  {account.role.value:<5}  {account.username}  "
                    f"{account.display_name}{address}{state}",
                    file=out,
                )
    except (AccountError, NotFound) as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    stdin = stdin or sys.stdin
    if asks_for_password(args) and not stdin.isatty():
        # getpass would fall back to reading stdin with a warning, and end in a traceback
        # at its end; nothing has been done yet, not even the database opened.
        print(f"refused: {NO_TERMINAL}", file=sys.stderr)
        return EXIT_REFUSED
    settings = settings or Settings()
    async with command_pool(settings) as pool:
        service = AccountService(pool, settings, system_actor="accounts_cli")
        return await execute(service, args, out or sys.stdout, stdin)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
