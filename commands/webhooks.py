"""``python -m commands.webhooks``: the back office's webhook subscriptions (docs/webhooks.md).

    python -m commands.webhooks subscribe --name backoffice --url https://fachverfahren.example/hooks
    python -m commands.webhooks subscribe --name backoffice --url URL --secret-file secret.txt
    python -m commands.webhooks list
    python -m commands.webhooks unsubscribe --name backoffice

``subscribe`` prints the secret (``whsec_…``) once, for the receiver to verify signatures with;
it is stored sealed with the key ring. ``--secret-file`` takes one the receiver made instead.
``unsubscribe`` ends the deliveries and drops what was queued for it. Like the other commands it
talks to the database directly. Exit codes: 0 done, 1 refused (a bad URL or secret, a name
taken or unknown), 2 the database is unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from config.settings import Settings
from protection import open_keyring
from runtime.commands import command_pool, run_command
from service.errors import Refused
from service.webhooks import WebhookService

EXIT_OK, EXIT_REFUSED = 0, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m commands.webhooks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    subscribe = commands.add_parser("subscribe", help="subscribe an endpoint")
    subscribe.add_argument("--name", required=True)
    subscribe.add_argument("--url", required=True)
    subscribe.add_argument("--secret-file", type=Path, help="a whsec_ secret to use")
    commands.add_parser("list", help="the subscriptions (never their secrets)")
    unsubscribe = commands.add_parser("unsubscribe", help="end a subscription")
    unsubscribe.add_argument("--name", required=True)
    return parser


async def execute(service: WebhookService, args: argparse.Namespace, out: TextIO) -> int:
    try:
        if args.command == "subscribe":
            given = None
            if args.secret_file is not None:
                given = args.secret_file.read_text("utf-8").strip()
            made = await service.subscribe(args.name, args.url, given)
            print(f"subscribed {made.subscription.name}: {made.subscription.url}", file=out)
            if given is None:
                print(f"secret (shown once): {made.secret}", file=out)
        elif args.command == "list":
            for found in await service.subscriptions():
                state = "active" if found.active else "ended"
                print(f"{found.name}\t{found.url}\t{state}\t{found.created_at:%Y-%m-%d}", file=out)
        else:
            await service.unsubscribe(args.name)
            print(f"unsubscribed {args.name}", file=out)
    except Refused as refused:
        print(f"refused: {refused.message}", file=sys.stderr)
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
        service = WebhookService(pool, open_keyring(pool, settings), system_actor="webhooks_cli")
        return await execute(service, args, out or sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
