"""``python -m starter``: send status events and keep the partner directory, over the HTTP API.

    python -m starter event '{"event_id": ..., "case_id": ..., ...}'
    python -m starter events FILE.jsonl|FILE.csv
    python -m starter partners list [--town T]
    python -m starter partners add --name N --kind K --town T --contact C [--language xx ...]
                                   [--address A] [--hours H]
    python -m starter partners update ID [--name N] [--kind K] [--town T] [--contact C] [...]
    python -m starter partners remove ID
    python -m starter offers list [--town T]
    python -m starter offers add --name N --category C [--town T] --address A --hours H
                                 [--contact C] [--language xx ...]
    python -m starter offers update ID [--name N] [--town T | --county-wide] [--hours H] [...]
    python -m starter offers remove ID
    python -m starter login --username U [--password-stdin]
    python -m starter logout

Events are validated locally with the API's own model first; a bad line is reported with its
line number and field and not sent. Output names events, cases, stages and fields, never the
values of an event: they are personal data, and terminals end up in logs and screenshots.

Authentication: events need a back-office API token (``--token`` or ``CASE_API_TOKEN``, or a
file: ``--token-file`` or ``CASE_API_TOKEN_FILE``; made with ``python -m commands.accounts
token --name ...``), sent as ``Authorization: Bearer``.
API tokens open the status intake only; the partner and offer commands need a person's login:
``login`` asks for the password and keeps the session for the next commands
(:mod:`starter.session`); ``--session``/``CASE_API_SESSION`` passes one explicitly instead.

Exit codes: 0 all fine, 1 something was refused, 2 the input file or the API could not be used.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from schemas.documents import OfferCategory
from schemas.events import IntakeResult, StatusEvent
from schemas.inputs import line_argument, row_id_argument
from schemas.offers import Offer, OfferDraft
from schemas.partners import Partner, PartnerDraft, PartnerKind
from starter import session as saved
from starter.csv_format import (
    CsvFormatError,
    FieldProblem,
    ParsedEvent,
    problems_of,
    read_csv,
)

SESSION_COOKIE = "sitzung"  # api.auth.SESSION_COOKIE; the CLI does not import the server
PASSWORD_PAGE = "/konto/passwort"  # api.auth.PASSWORD_PAGE: where a reset login is sent
DEFAULT_API = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
# Completing the intake of an event waits for the case workflow to take it in.
TIMEOUT = httpx.Timeout(60.0, connect=5.0)

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


class Unusable(Exception):
    """The input file or the API cannot be used at all (exit code 2)."""


# ------------------------------------------------------------------------ events


def parse_json_event(text: str, line: int) -> ParsedEvent:
    try:
        return ParsedEvent(line, StatusEvent.model_validate_json(text))
    except ValidationError as error:
        return ParsedEvent(line, None, problems_of(error))


def read_jsonl(lines: Sequence[str]) -> Iterator[ParsedEvent]:
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield parse_json_event(text, number)


def read_events_file(path: Path) -> list[ParsedEvent]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise Unusable(f"cannot read {path}: {error.strerror}") from None
    if path.suffix == ".jsonl":
        return list(read_jsonl(text.splitlines()))
    if path.suffix == ".csv":
        try:
            # Not str.splitlines(): it also breaks at U+0085, U+2028 and U+001C-U+001E, which
            # can stand inside a cell; the csv module wants newline="" for exactly this.
            return list(read_csv(io.StringIO(text, newline="")))
        except CsvFormatError as error:
            raise Unusable(f"{path}: {error}") from None
    raise Unusable(f"{path}: expected a .jsonl or .csv file")


def problems_of_response(response: httpx.Response) -> tuple[FieldProblem, ...]:
    """The API's refusal (a problem, RFC 9457) as field problems: a 422's fields, or the
    detail of any other."""
    try:
        answer = response.json()
        errors, detail = answer.get("errors"), answer["detail"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return (FieldProblem("", f"HTTP {response.status_code}"),)
    if not isinstance(errors, list):
        return (FieldProblem("", str(detail)),)
    problems = []
    for item in errors:
        loc = [str(part) for part in item.get("loc", [])]
        if loc and loc[0] in ("body", "path", "query"):
            loc = loc[1:]
        problems.append(FieldProblem(".".join(loc), str(item.get("msg", ""))))
    return tuple(problems)


@dataclass
class Tally:
    sent: int = 0
    opened: int = 0
    updated: int = 0
    duplicate: int = 0
    refused: int = 0
    arrivals: int = 0  # neu_zugewandert: an arrival taken in, no case

    def __str__(self) -> str:
        arrivals = f", arrivals {self.arrivals}" if self.arrivals else ""
        return (
            f"summary: sent {self.sent}, opened {self.opened}, updated {self.updated}, "
            f"duplicate {self.duplicate}, refused {self.refused}{arrivals}"
        )


class EventSender:
    """Sends events one after another (a case's events keep their order) and tallies them."""

    def __init__(self, http: httpx.AsyncClient, out: TextIO) -> None:
        self._http = http
        self._out = out
        self._known_cases: set[str] = set()
        self.tally = Tally()

    def _say(self, parsed: ParsedEvent, text: str) -> None:
        print(f"line {parsed.line}: {text}", file=self._out)

    async def _case_exists(self, case_id: str) -> bool:
        """Asked once per case and run, so the summary can tell opened cases from updates:
        the token reads back the cases it reported (a case only others reported looks new)."""
        if case_id in self._known_cases:
            return True
        response = await self._http.get(f"{API_PREFIX}/reported-cases/{case_id}")
        return response.status_code == httpx.codes.OK

    async def send(self, parsed: ParsedEvent) -> None:
        event = parsed.event
        if event is None:
            self.tally.refused += 1
            self._say(parsed, "refused, not sent: " + "; ".join(map(str, parsed.problems)))
            return
        arrival = event.status.starts_arrival  # the flyer for the newly arrived, no case
        existed = False if arrival else await self._case_exists(event.case_id)
        response = await self._http.post(
            f"{API_PREFIX}/status-events",
            content=event.model_dump_json(exclude_unset=True),
            headers={"content-type": "application/json"},
        )
        self.tally.sent += 1
        what = f"event {event.event_id}, {'arrival' if arrival else 'case'} {event.case_id}"
        if response.status_code != httpx.codes.ACCEPTED:
            self.tally.refused += 1
            problems = "; ".join(map(str, problems_of_response(response)))
            self._say(parsed, f"{what}: refused ({response.status_code}): {problems}")
            return
        result = IntakeResult.model_validate_json(response.content)
        if not arrival:
            self._known_cases.add(event.case_id)
        if result.duplicate:
            self.tally.duplicate += 1
            outcome = "duplicate"
        elif arrival:
            self.tally.arrivals += 1
            outcome = "taken in"
        elif existed:
            self.tally.updated += 1
            outcome = "updated"
        else:
            self.tally.opened += 1
            outcome = "opened"
        self._say(parsed, f"{what}: {outcome}, stage {result.stage}")


async def send_events(http: httpx.AsyncClient, events: list[ParsedEvent], out: TextIO) -> int:
    sender = EventSender(http, out)
    for parsed in events:
        await sender.send(parsed)
    print(sender.tally, file=out)
    return EXIT_REFUSED if sender.tally.refused else EXIT_OK


# ---------------------------------------------------------------------- partners


def _partner_line(partner: Partner) -> str:
    languages = ",".join(partner.languages) or "-"
    state = "" if partner.active else "  (inactive)"
    return (
        f"{partner.partner_id:>4}  {partner.kind.value:<17}  {partner.town:<17}  "
        f"{partner.name}  [{languages}]  {partner.contact}  {partner.address}; "
        f"{partner.hours}{state}"
    )


def _offer_line(offer: Offer) -> str:
    languages = ",".join(offer.languages) or "-"
    contact = f"; {offer.contact}" if offer.contact else ""
    notes = ("  (example)" if offer.example else "") + ("" if offer.active else "  (inactive)")
    return (
        f"{offer.offer_id:>4}  {offer.category.value:<21}  {offer.town or 'county-wide':<17}  "
        f"{offer.name}  [{languages}]  {offer.address}; {offer.hours}{contact}{notes}"
    )


def _refusal(response: httpx.Response, out: TextIO) -> int:
    for problem in problems_of_response(response):
        print(f"refused ({response.status_code}): {problem}", file=out)
    if response.status_code == httpx.codes.UNAUTHORIZED:
        print("log in first: python -m starter login --username NAME", file=out)
    return EXIT_REFUSED


# ---------------------------------------------------------------- login


async def login(http: httpx.AsyncClient, args: argparse.Namespace) -> int:
    """The web inbox's login form, from the terminal; the session is saved for later commands."""
    out: TextIO = args.out
    if args.password_stdin:
        password = args.stdin.readline().rstrip("\r\n")
    elif not args.stdin.isatty():
        print(
            "refused: no terminal to ask for the password on: pipe it in with "
            "--password-stdin, e.g.\n"
            "  printf '%s\\n' \"$PASSWORT\" | python -m starter login --username NAME "
            "--password-stdin",
            file=out,
        )
        return EXIT_REFUSED
    else:
        try:
            password = getpass.getpass("Passwort: ")
        except EOFError:  # Ctrl-D at the prompt
            print("refused: no password entered", file=out)
            return EXIT_REFUSED
    response = await http.post(
        "/login", data={"username": args.username, "password": password, "next": "/"}
    )
    token = response.cookies.get(SESSION_COOKIE)
    if token and response.headers.get("location", "").startswith(PASSWORD_PAGE):
        # The password was reset: the session opens nothing until the person sets a new one,
        # which is done in the browser. It is closed rather than kept.
        await http.post("/logout", headers={"cookie": f"{SESSION_COOKIE}={token}"})
        print(
            "refused: the password was reset and must be changed first: log in at "
            f"{args.api.rstrip('/')}/login in a browser and set a new one",
            file=out,
        )
        return EXIT_REFUSED
    if response.status_code != httpx.codes.SEE_OTHER or not token:
        reason = {429: "too many failed logins; wait 15 minutes"}.get(
            response.status_code, "wrong username or password"
        )
        print(f"refused ({response.status_code}): {reason}", file=out)
        return EXIT_REFUSED
    saved.save(args.session_file, args.api, token)
    print(f"logged in as {args.username}; session kept in {args.session_file}", file=out)
    return EXIT_OK


async def logout(http: httpx.AsyncClient, args: argparse.Namespace) -> int:
    if args.session:
        await http.post("/logout")
    saved.forget(args.session_file)
    print("logged out", file=args.out)
    return EXIT_OK


_Entry = TypeVar("_Entry", Partner, Offer)


def _draft(
    model: type[PartnerDraft] | type[OfferDraft],
    args: argparse.Namespace,
    base: Partner | Offer | None = None,
) -> PartnerDraft | OfferDraft | None:
    """The draft from the options, filled in from ``base`` (update: change only what is given)."""
    fields = set(model.model_fields)
    values: dict[str, Any] = base.model_dump(include=fields) if base else {}
    for name in fields:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    if getattr(args, "county_wide", False):
        values["town"] = None
    if getattr(args, "no_contact", False):
        values["contact"] = None
    try:
        return model.model_validate(values)
    except ValidationError as error:
        for problem in problems_of(error):
            print(f"refused, not sent: {problem}", file=args.out)
        return None


@dataclass(frozen=True)
class _Directory(Generic[_Entry]):
    """One of the admin-kept directories (partners, offers): the same four commands each."""

    noun: str  # "partner", "offer": the API path's singular and the messages' word
    entry: type[_Entry]
    draft: type[PartnerDraft] | type[OfferDraft]
    id_of: Callable[[_Entry], int]
    line: Callable[[_Entry], str]


_PARTNERS = _Directory(
    "partner", Partner, PartnerDraft, lambda partner: partner.partner_id, _partner_line
)
_OFFERS = _Directory("offer", Offer, OfferDraft, lambda offer: offer.offer_id, _offer_line)


async def partners(http: httpx.AsyncClient, args: argparse.Namespace) -> int:
    return await _keep(http, args, _PARTNERS)


async def offers(http: httpx.AsyncClient, args: argparse.Namespace) -> int:
    """The offer directory: like the partners, plus county-wide entries (no town)."""
    return await _keep(http, args, _OFFERS)


async def _keep(
    http: httpx.AsyncClient,
    args: argparse.Namespace,
    directory: _Directory[_Entry],
) -> int:
    """list, remove, update or add one entry of ``directory`` over the API."""
    out: TextIO = args.out
    entry_id: int | None = getattr(args, f"{directory.noun}_id", None)
    base = f"{API_PREFIX}/{directory.noun}s"
    if args.action == "list":
        params = {"town": args.town} if args.town else {}
        response = await http.get(base, params=params)
        if response.status_code != httpx.codes.OK:
            return _refusal(response, out)
        for item in response.json():
            print(directory.line(directory.entry.model_validate(item)), file=out)
        return EXIT_OK
    if args.action == "remove":
        response = await http.delete(f"{base}/{entry_id}")
        if response.status_code != httpx.codes.NO_CONTENT:
            return _refusal(response, out)
        print(f"{directory.noun} {entry_id} deactivated", file=out)
        return EXIT_OK
    current = None
    if args.action == "update":
        response = await http.get(f"{base}/{entry_id}")
        if response.status_code != httpx.codes.OK:
            return _refusal(response, out)
        current = directory.entry.model_validate_json(response.content)
    draft = _draft(directory.draft, args, current)
    if draft is None:
        return EXIT_REFUSED
    body = draft.model_dump(mode="json")
    if current is None:
        response = await http.post(base, json=body)
    else:
        response = await http.put(f"{base}/{directory.id_of(current)}", json=body)
    if response.status_code not in (httpx.codes.OK, httpx.codes.CREATED):
        return _refusal(response, out)
    saved = directory.entry.model_validate_json(response.content)
    print(("added: " if current is None else "updated: ") + directory.line(saved), file=out)
    return EXIT_OK


# ---------------------------------------------------------------------- the CLI


def _language_option(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--language",
        dest="languages",
        action="extend",
        nargs="+",
        metavar="xx",
        help="ISO 639 codes of the languages offered"
        + ("" if required else " (replaces the list)"),
    )


def _partner_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--name", required=required)
    parser.add_argument("--kind", required=required, choices=[kind.value for kind in PartnerKind])
    parser.add_argument("--town", required=required)
    parser.add_argument("--contact", required=required)
    _language_option(parser, required=required)
    parser.add_argument("--address", help="printed on the flyer (default: contact via the KI)")
    parser.add_argument("--hours", help="opening hours, printed on the flyer")


def _offer_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--name", required=required)
    parser.add_argument(
        "--category", required=required, choices=[category.value for category in OfferCategory]
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--town", help="the town; without it the offer is county-wide")
    if not required:
        where.add_argument(
            "--county-wide", action="store_true", help="on every town's flyer (removes the town)"
        )
    parser.add_argument("--address", required=required)
    parser.add_argument("--hours", required=required, help="opening hours")
    contact = parser.add_mutually_exclusive_group()
    contact.add_argument("--contact", help="phone, e-mail or web address of the office")
    if not required:
        contact.add_argument("--no-contact", action="store_true", help="remove the contact")
    _language_option(parser, required=required)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starter",
        description="Client of the departure-case API.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 all fine, 1 something was refused, 2 input or API unusable.",
    )
    parser.add_argument(
        "--api",
        default=os.environ.get("CASE_API_URL", DEFAULT_API),
        help="base URL of the API (default: $CASE_API_URL or %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CASE_API_TOKEN"),
        help="API token for status events (default: $CASE_API_TOKEN)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=os.environ.get("CASE_API_TOKEN_FILE") or None,
        help="a file holding the API token, e.g. a mounted secret (default: "
        "$CASE_API_TOKEN_FILE); not together with --token",
    )
    parser.add_argument(
        "--session",
        default=os.environ.get("CASE_API_SESSION"),
        help="a session (the sitzung cookie) for the partner and offer commands, instead of "
        "the one kept by `login` (default: $CASE_API_SESSION)",
    )
    parser.add_argument(
        "--session-file",
        type=Path,
        default=saved.default_path(),
        help="where `login` keeps the session (default: $CASE_CLI_SESSION_FILE or %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    event = commands.add_parser("event", help="send one status event given as JSON")
    event.add_argument("json", help="the event as a JSON object")

    events = commands.add_parser("events", help="send every event of a .jsonl or .csv file")
    events.add_argument("file", type=Path)

    partner = commands.add_parser("partners", help="the partner directory")
    actions = partner.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list active partners")
    listing.add_argument("--town", type=line_argument)
    _partner_options(actions.add_parser("add", help="add a partner"), required=True)
    update = actions.add_parser("update", help="change a partner (only the options given)")
    update.add_argument("partner_id", type=row_id_argument)
    _partner_options(update, required=False)
    remove = actions.add_parser("remove", help="deactivate a partner")
    remove.add_argument("partner_id", type=row_id_argument)

    offer = commands.add_parser("offers", help="the offer directory the flyers draw on")
    offer_actions = offer.add_subparsers(dest="action", required=True)
    offer_list = offer_actions.add_parser(
        "list", help="list active offers (with --town: the town's and the county-wide ones)"
    )
    offer_list.add_argument("--town", type=line_argument)
    _offer_options(offer_actions.add_parser("add", help="add an offer"), required=True)
    offer_update = offer_actions.add_parser("update", help="change an offer (only options given)")
    offer_update.add_argument("offer_id", type=row_id_argument)
    _offer_options(offer_update, required=False)
    offer_remove = offer_actions.add_parser("remove", help="deactivate an offer")
    offer_remove.add_argument("offer_id", type=row_id_argument)

    log_in = commands.add_parser("login", help="log in as a person (asks for the password)")
    log_in.add_argument("--username", required=True, type=line_argument)
    log_in.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    commands.add_parser("logout", help="end the saved session")
    return parser


def auth_headers(args: argparse.Namespace) -> dict[str, str]:
    """Bearer token and/or session cookie; with the cookie, and for the login form, the API
    wants this origin named."""
    headers = {}
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"
    if args.session or args.command == "login":
        parts = urlsplit(args.api)
        headers["origin"] = f"{parts.scheme}://{parts.netloc}"
    if args.session:
        headers["cookie"] = f"{SESSION_COOKIE}={args.session}"
    return headers


async def _dispatch(http: httpx.AsyncClient, args: argparse.Namespace) -> int:
    if args.command == "event":
        return await send_events(http, [parse_json_event(args.json, 1)], args.out)
    if args.command == "events":
        return await send_events(http, read_events_file(args.file), args.out)
    if args.command == "login":
        return await login(http, args)
    if args.command == "logout":
        return await logout(http, args)
    if args.command == "offers":
        return await offers(http, args)
    return await partners(http, args)


def _token(token: str | None, token_file: Path | None) -> str | None:
    """The API token: given, or the first line of its file (a mounted secret)."""
    if token_file is None:
        return token
    if token:  # which of the two is meant cannot be told
        raise Unusable("give the token or the token file, not both")
    try:
        lines = token_file.read_text("utf-8").splitlines()
    except OSError as error:
        raise Unusable(f"cannot read the token file ({error.strerror})") from None
    return lines[0].strip() if lines else ""


async def run(
    argv: Sequence[str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code. ``transport`` lets tests call an in-process app."""
    args = build_parser().parse_args(argv)
    try:
        args.token = _token(args.token, args.token_file)
    except Unusable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    args.out = out or sys.stdout
    args.stdin = stdin or sys.stdin
    if args.session is None and args.command != "login":
        args.session = saved.load(args.session_file, args.api)
    try:
        async with httpx.AsyncClient(
            base_url=args.api,
            transport=transport,
            timeout=TIMEOUT,
            headers=auth_headers(args),
        ) as http:
            return await _dispatch(http, args)
    except Unusable as error:
        print(f"error: {error}", file=sys.stderr)
    except httpx.TransportError as error:
        print(
            f"error: cannot reach the API at {args.api} ({type(error).__name__})", file=sys.stderr
        )
    return EXIT_UNUSABLE


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(argv))
