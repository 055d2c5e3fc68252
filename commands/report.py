"""``python -m commands.report``: the county's report to its committees, and its check.

    python -m commands.report generate --from 2026-01-01 --to 2026-06-30 [--town Unna] \\
        [--format json|csv|xlsx|pdf] > bericht.pdf
    python -m commands.report verify <report_id>

``generate`` makes, stores and logs a report (the audit entry names the command as actor) and
writes it to stdout; ``verify`` counts the stored report's facts again, compares figures and
table, and checks its entry and the head it names in the (intact) audit chain. The database
is found as by ``commands.records``.

Exit codes: 0 done (verify: the report holds), 1 refused or the report does not hold,
2 the database is unusable (and argparse's usage errors, such as a malformed date).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from typing import BinaryIO

from config.settings import Settings
from runtime.commands import command_pool, run_command
from schemas.report import CommitteeReport, ReportFormat
from service.errors import Invalid, Refused
from service.report import ReportService, check_request, report_csv, report_pdf, report_xlsx
from service.rules import RuleService

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2
ACTOR = "report_cli"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commands.report", description="The report to the county's committees."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="make, store and print a report")
    generate.add_argument("--from", dest="first", type=_day, required=True, metavar="YYYY-MM-DD")
    generate.add_argument("--to", dest="last", type=_day, required=True, metavar="YYYY-MM-DD")
    generate.add_argument("--town", default=None, help="one town of the county (default: all)")
    generate.add_argument(
        "--format", choices=[f.value for f in ReportFormat], default=ReportFormat.JSON.value
    )
    verify = commands.add_parser("verify", help="check a stored report against the audit log")
    verify.add_argument("report_id")
    return parser


def encode(report: CommitteeReport, output: ReportFormat) -> bytes:
    match output:
        case ReportFormat.CSV:
            return report_csv(report)
        case ReportFormat.XLSX:
            return report_xlsx(report)
        case ReportFormat.PDF:
            return report_pdf(report)
        case ReportFormat.JSON:
            return (report.model_dump_json(indent=2) + "\n").encode()


async def execute(service: ReportService, args: argparse.Namespace, out: BinaryIO) -> int:
    try:
        if args.command == "generate":
            request = check_request(args.first, args.last, args.town)
            report = await service.generate(request, ACTOR)
            out.write(encode(report, ReportFormat(args.format)))
            return EXIT_OK
        result = await service.verify(args.report_id)
        out.write((result.model_dump_json(indent=2) + "\n").encode())
        return EXIT_OK if result.ok else EXIT_REFUSED
    except Refused as error:
        fields = error.fields if isinstance(error, Invalid) else []
        where = "".join(f"; {e.field}: {e.reason}" for e in fields)
        print(f"refused: {error.message}{where}", file=sys.stderr)
        return EXIT_REFUSED


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    out: BinaryIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    settings = settings or Settings()
    async with command_pool(settings) as pool:
        service = ReportService(pool, RuleService(pool, settings))
        return await execute(service, args, out or sys.stdout.buffer)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(run(argv))


if __name__ == "__main__":
    sys.exit(main())
