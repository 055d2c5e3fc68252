"""``python -m commands.records``: the disclosure register, access reports, the Art. 30 record.

    python -m commands.records disclosures --from 2026-01-01 --to 2026-12-31 [--csv]
    python -m commands.records access-report ABH-2026-0001 --username m.muster
    python -m commands.records art30 [--format markdown|json]

``disclosures`` and ``access-report`` talk to the database directly, like
``commands.accounts``: the one in ``DATABASE_URL``, else the embedded PostgreSQL under
``CASE_DATA_DIR`` (attached to when the service runs, started for the command otherwise);
migrations are applied first. They print the same models the API answers with.

An access report shows a person's data, so opening it is written to the access log like any
opening in the API. The console has no login: ``--username`` names the (active ABH or admin)
account the opening is logged for, and whoever runs the command answers for that.

``art30`` needs no database: it renders the declarations on the worker's activities
(``docs/verzeichnis-verarbeitungstaetigkeiten.md`` is its Markdown output).

Exit codes: 0 done, 1 refused (reversed period, unknown case, no such account or role),
2 the database is unusable (and argparse's usage errors, such as a malformed date).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from typing import TextIO

from config.settings import Settings
from runtime.art30 import markdown, registered_record
from runtime.commands import command_pool, run_command
from schemas.events import case_id_argument
from schemas.inputs import line_argument
from service.errors import Invalid, Refused
from service.records import RecordsService, register_csv

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.records",
        description="Disclosure register, access reports (Art. 15) and the Art. 30 record.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser(
        "disclosures", help="every disclosure of a period (days in Europe/Berlin, inclusive)"
    )
    register.add_argument("--from", dest="first", type=_day, required=True, metavar="YYYY-MM-DD")
    register.add_argument("--to", dest="last", type=_day, required=True, metavar="YYYY-MM-DD")
    register.add_argument("--csv", action="store_true", help="CSV with a header instead of JSON")
    report = commands.add_parser(
        "access-report", help="everything held about the person of a case (GDPR Art. 15)"
    )
    report.add_argument("case_id", type=case_id_argument)
    report.add_argument(
        "--username",
        required=True,
        type=line_argument,
        help="your account (abh or admin); the opening is logged",
    )
    art30 = commands.add_parser("art30", help="the record of processing activities (Art. 30)")
    art30.add_argument("--format", choices=("markdown", "json"), default="markdown")
    return parser


async def execute(service: RecordsService, args: argparse.Namespace, out: TextIO) -> int:
    try:
        if args.command == "disclosures":
            register = await service.disclosure_register(args.first, args.last)
            out.write(
                register_csv(register).decode("utf-8")
                if args.csv
                else register.model_dump_json(indent=2)
            )
            if not args.csv:
                out.write("\n")
        else:
            reader = await service.reader(args.username)
            report = await service.access_report(reader, args.case_id, "cli: access report")
            print(report.model_dump_json(indent=2), file=out)
    except Refused as error:
        fields = error.fields if isinstance(error, Invalid) else []
        where = "".join(f"; {e.field}: {e.reason}" for e in fields)
        print(f"refused: {error.message}{where}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    if args.command == "art30":
        record = registered_record()
        out.write(
            markdown(record) if args.format == "markdown" else record.model_dump_json(indent=2)
        )
        if args.format == "json":
            out.write("\n")
        return EXIT_OK
    settings = settings or Settings()
    async with command_pool(settings) as pool:
        return await execute(RecordsService(pool), args, out)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
