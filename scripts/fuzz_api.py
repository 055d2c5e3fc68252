"""Fuzz the HTTP API with schemathesis, once per role, within a fixed time budget.

From the repository root, once ``python3 manage.py test`` (or ``check``) has made ``.venv``::

    .venv/bin/python -m scripts.fuzz_api --budget 120
    .venv/bin/python -m scripts.fuzz_api --budget 600 --seed 1 --keep /tmp/fuzz-run

It needs nothing running and touches nothing of the project's ``.data/``: in a temporary
folder it starts embedded PostgreSQL, a headless Temporal dev server and the service itself
(``python -m runtime.main``: worker and API) on free loopback ports. It creates one account
per role (abh, ki, ops, admin) and a back-office API token, opens a few cases (one handed to
the KI, one arrival) so that tasks, partners, offers, flyers and documents have real ids,
then runs ``schemathesis run`` against ``/openapi.json`` once per caller: each role with its
session cookie (and the ``Origin`` the same-origin check asks for), the back office with its
bearer token. The budget (seconds of fuzzing) is split over the callers by weight; every run
is killed if it overstays its share by more than one request timeout, so the script ends
within the budget plus start-up (about half a minute) plus a few seconds per caller.

It prints, per caller: the requests made, every server error (status >= 500) grouped by
operation with the shortest request as reproduction and the parameters whose values
PostgreSQL cannot hold (control characters, integers beyond int4), requests that got no
answer within the request timeout, what the service logged about its unhandled errors
(exception type and where, never a message), and the other checks that failed. Exit status:
0 when no request got a server error or no answer, 1 otherwise, 2 when setup failed.

Traffic goes to 127.0.0.1 only: proxy variables are removed from the fuzzer's environment
and the service gets no SMTP host (mail lands in the temporary mailbox).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from api.auth import SESSION_COOKIE
from config.settings import Settings
from protection.master import KeyRingData
from runtime.embedded import embedded_postgres, temporal_dev_server
from schemas.accounts import Role
from schemas.local_time import BERLIN
from scripts.fuzz_findings import Findings, Operation, describe, findings_of, operations_of
from service.accounts import AccountService
from store.db import open_pool
from store.migrate import apply_migrations

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
API = "/api/v1"

# Shares of the budget: the ABH and admins reach most operations; ops and the back-office
# token are refused almost everywhere, so a little time shows that they stay refused.
WEIGHTS: dict[str, int] = {"abh": 3, "admin": 3, "ki": 2, "ops": 1, "backoffice": 1}
MIN_SHARE = 3  # seconds; schemathesis needs a moment even to finish its first phase
HAR_FILE, REPORT_FILE, OUTPUT_FILE = "requests.har", "report.json", "schemathesis.txt"

# Variables that could send the fuzzer's requests elsewhere than to loopback.
_PROXY_VARIABLES = frozenset(
    {"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}
)
# The service must see only the settings made here, not a developer's shell.
_FOREIGN_SETTINGS = re.compile(r"^(CASE_|TEMPORAL_|DATABASE_URL$|TEST_DATABASE_URL$)")


def log(message: str) -> None:
    print(f"fuzz_api: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def today() -> date:
    return datetime.now(BERLIN).date()


def shares(budget: int, callers: Sequence[str]) -> dict[str, int]:
    """Seconds of fuzzing per caller, by weight, each at least :data:`MIN_SHARE`."""
    total = sum(WEIGHTS[name] for name in callers)
    return {name: max(MIN_SHARE, budget * WEIGHTS[name] // total) for name in callers}


# --------------------------------------------------------------------------- the service


@dataclass
class Service:
    base: str
    process: asyncio.subprocess.Process
    log_path: Path

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0


def service_environment(
    data_dir: Path, dsn: str, temporal: str, port: int, master_keys: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not _FOREIGN_SETTINGS.match(key) and key not in _PROXY_VARIABLES
    }
    env.update(
        DATABASE_URL=dsn,
        TEMPORAL_ADDRESS=temporal,
        CASE_DATA_DIR=str(data_dir),
        CASE_API_HOST=HOST,
        CASE_API_PORT=str(port),
        CASE_COOKIE_SECURE="false",
        CASE_MASTER_KEYS=master_keys,
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.asynccontextmanager
async def running_service(env: dict[str, str], log_path: Path) -> AsyncIterator[Service]:
    """``python -m runtime.main`` (worker and API), ready when ``/openapi.json`` answers."""
    base = f"http://{HOST}:{env['CASE_API_PORT']}"
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime.main",
            "--log-level",
            "WARNING",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_fd,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        os.close(log_fd)
    try:
        await _wait_for_api(process, base, log_path)
        yield Service(base, process, log_path)
    finally:
        await _stop(process)


async def _wait_for_api(process: asyncio.subprocess.Process, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                text = await asyncio.to_thread(log_path.read_text, errors="replace")
                tail = text.splitlines()[-20:]
                raise SetupFailed(
                    f"the service exited with {process.returncode}:\n" + "\n".join(tail)
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/openapi.json")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise SetupFailed(f"the service did not answer on {base} within 120 s; see {log_path}")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        log("the service did not stop within 30 s of SIGTERM; killed")
        process.kill()
        await process.wait()


class SetupFailed(RuntimeError):
    """The servers, the service or the seed data could not be made: exit 2."""


# ------------------------------------------------------------------------ callers, seed


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]


async def make_callers(dsn: str, base: str) -> dict[str, Caller]:
    """One account and session per role, and an API token, straight in the database: the
    login form is not under test here (and its throttle would count our attempts)."""
    callers: dict[str, Caller] = {}
    async with open_pool(dsn, max_size=2) as pool:
        await apply_migrations(pool)
        accounts = AccountService(pool, Settings(), system_actor="fuzz_api")
        for role in (Role.ABH, Role.KI, Role.OPS, Role.ADMIN):
            account = await accounts.create_account(
                f"fuzz-{role.value}", f"Fuzz {role.value}", role, secrets.token_urlsafe(24)
            )
            session = await accounts.open_session(account)
            callers[role.value] = Caller(
                role.value, {"Cookie": f"{SESSION_COOKIE}={session}", "Origin": base}
            )
        token = await accounts.create_api_token("fuzz-backoffice")
        callers["backoffice"] = Caller("backoffice", {"Authorization": f"Bearer {token}"})
    return callers


def _person(town: str) -> dict[str, Any]:
    return {
        "given_name": "Fuzz",
        "family_name": "Beispiel",
        "date_of_birth": "1990-04-01",
        "nationality": "IRQ",
        "language": "ar",
        "phone": "+49 2303 123456",
        "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": town},
    }


def _opening(case_id: str, status: str = "ausreisepflichtig", town: str = "Unna") -> dict[str, Any]:
    return {
        "event_id": f"{case_id}-e1",
        "case_id": case_id,
        "status": status,
        "effective_date": today().isoformat(),
        "departure_deadline": (today() + timedelta(days=90)).isoformat(),
        "person": _person(town),
    }


def _expect(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        # The answer holds no personal data (the API's contract); the seed data is made up.
        raise SetupFailed(f"{what}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


async def _open_task(client: httpx.AsyncClient, reference: str, kind: str) -> str:
    """The open task of ``kind`` in a case or an arrival (whose tasks have no case id)."""
    for _ in range(100):
        response = await client.get(f"{API}/tasks")
        for task in _expect(response, 200, "the inbox"):
            if task["kind"] == kind and reference in (task["case_id"], task["arrival_reference"]):
                return str(task["task_id"])
        await asyncio.sleep(0.2)
    raise SetupFailed(f"no open {kind} task in {reference}")


async def seed(base: str, callers: dict[str, Caller]) -> list[str]:
    """Cases in three states and a flyer, through the API as the back office and staff would
    make them; returns the case ids."""

    def client(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base, headers=callers[name].headers, trust_env=False, timeout=60
        )

    suffix = uuid.uuid4().hex[:6].upper()
    waiting, handed, arrival = f"FZ-{suffix}-1", f"FZ-{suffix}-2", f"FZ-{suffix}-3"
    async with client("backoffice") as office, client("abh") as abh, client("ki") as ki:
        for case_id, status, town in (
            (waiting, "ausreisepflichtig", "Unna"),
            (handed, "ausreisepflichtig", "Kamen"),
            (arrival, "neu_zugewandert", "Unna"),
        ):
            response = await office.post(
                f"{API}/status-events", json=_opening(case_id, status, town)
            )
            _expect(response, 202, f"opening {case_id}")
        # The second case goes to the KI: it may read that case and has a task in it.
        conversation = {
            "kind": "information_conversation",
            "held_on": today().isoformat(),
            "routes_discussed": ["§25b AufenthG"],
            "perspective": "none_evident",
            "language": "ar",
            "interpreter": {"language": "ar", "mode": "present"},
            "participants": ["person"],
            "record_copy": "handed_over",
            "departure_letter": "handed_over",
        }
        consent = {
            "kind": "referral_consent",
            "interested": True,
            "consent_signed_on": str(today()),
        }
        for kind, body in (
            ("information_conversation", conversation),
            ("referral_consent", consent),
        ):
            task_id = await _open_task(abh, handed, kind)
            response = await abh.post(f"{API}/tasks/{task_id}/complete", json=body)
            _expect(response, 200, f"completing {kind}")
        await _open_task(ki, handed, "ki_contact")
        await _open_task(abh, arrival, "flyer_handover")
        response = await abh.get(f"{API}/flyers/Unna", params={"language": "ar"})
        if response.status_code != 200:
            raise SetupFailed(f"the flyer of Unna: {response.status_code}")
    return [waiting, handed, arrival]


# ----------------------------------------------------------------------------- schemathesis

# Checks left out, each failing by design here, not by a fault:
EXCLUDED_CHECKS = (
    # The document cannot say everything the API checks: the towns of the county (a string in
    # the schema), that an event opening a case needs a person, that a period ends after it
    # starts, that a completion fits its task. Such requests are refused with a 422 naming the
    # field, which is the API's contract; this check would call each of them a failure.
    "positive_data_acceptance",
    # DELETE on a partner or an offer deactivates it, and GET still shows it (active: false):
    # past disclosures and stored flyers name the entry.
    "use_after_free",
)


def fuzzer_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _PROXY_VARIABLES}


def schemathesis_command(
    base: str, caller: Caller, share: int, folder: Path, args: argparse.Namespace
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--url",
        base,
        "--max-time",
        str(share),
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--workers",
        str(args.workers),
        "--request-timeout",
        str(args.request_timeout),
        "--generation-database",
        "none",
        "--report",
        "har,json",
        "--report-har-path",
        str(folder / HAR_FILE),
        "--report-json-path",
        str(folder / REPORT_FILE),
        "--no-color",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    for name, value in caller.headers.items():
        command += ["--header", f"{name}: {value}"]
    return command


async def fuzz(
    service: Service,
    caller: Caller,
    share: int,
    folder: Path,
    operations: list[Operation],
    args: argparse.Namespace,
) -> Findings:
    """One schemathesis run as ``caller``; killed if it overstays its share by more than a
    request timeout (past the share the engine only finishes the requests in flight)."""
    command = schemathesis_command(service.base, caller, share, folder, args)
    log_offset = service.log_size()
    started = time.monotonic()
    with (folder / OUTPUT_FILE).open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=folder,  # hypothesis and schemathesis write nothing into the repository
            env=fuzzer_environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await asyncio.wait_for(process.wait(), share + args.request_timeout + 30)
            overstayed = False
        except TimeoutError:
            process.kill()
            await process.wait()
            overstayed = True
    seconds = time.monotonic() - started
    har, report = await asyncio.to_thread(_reports, folder)
    findings = findings_of(caller.name, har, report, operations)
    findings.service_errors = await asyncio.to_thread(
        _unhandled_errors, service.log_path, log_offset
    )
    if overstayed:
        findings.stopped_early = f"schemathesis overstayed its {share} s and was killed"
    findings.seconds = seconds
    return findings


def _reports(folder: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    def read(name: str) -> dict[str, Any] | None:
        path = folder / name
        if not path.exists():
            return None
        found: dict[str, Any] = json.loads(path.read_text())
        return found

    return read(HAR_FILE), read(REPORT_FILE)


def _unhandled_errors(log_path: Path, offset: int) -> Counter[tuple[str, str, str, str]]:
    """What the service's catch-all logged (type and place of the exception, no message)."""
    found: Counter[tuple[str, str, str, str]] = Counter()
    with log_path.open("rb") as lines:
        lines.seek(offset)
        for raw in lines:
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                if isinstance(line, dict) and line.get("event") == "unhandled error":
                    where = str(line.get("where")).replace(f"{ROOT}/", "")
                    method, route = str(line.get("method")), str(line.get("route"))
                    found[(method, route, str(line.get("error_type")), where)] += 1
    return found


# ------------------------------------------------------------------------------- the run


@contextlib.contextmanager
def work_folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    folder = Path(tempfile.mkdtemp(prefix="fuzz-api-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def run(args: argparse.Namespace, folder: Path) -> int:
    budget_shares = shares(args.budget, args.callers)
    for name in args.callers:
        (folder / "runs" / name).mkdir(parents=True, exist_ok=True)
    failed = False
    async with contextlib.AsyncExitStack() as stack:
        dsn = stack.enter_context(embedded_postgres(folder / "servers"))
        temporal = await stack.enter_async_context(
            temporal_dev_server(folder / "servers", free_port(), None, log_level="error")
        )
        log(f"PostgreSQL and Temporal ({temporal}) started")
        port = free_port()
        base = f"http://{HOST}:{port}"
        callers = await make_callers(dsn, base)
        env = service_environment(
            folder / "service", dsn, temporal, port, KeyRingData.generate().to_json()
        )
        service = await stack.enter_async_context(running_service(env, folder / "service.log"))
        log(f"service answers on {base}")
        case_ids = await seed(base, callers)
        log(f"seeded cases {', '.join(case_ids)}")
        async with httpx.AsyncClient(trust_env=False, timeout=30) as plain:
            operations = operations_of((await plain.get(f"{base}/openapi.json")).json())
        log(
            f"fuzzing {len(operations)} operations for {sum(budget_shares.values())} s: "
            + ", ".join(f"{name} {share} s" for name, share in budget_shares.items())
        )
        for name in args.callers:
            folder_of_run = folder / "runs" / name
            findings = await fuzz(
                service, callers[name], budget_shares[name], folder_of_run, operations, args
            )
            lines = describe(findings)
            lines[0] += f" ({findings.seconds:.0f} s of {budget_shares[name]} s)"
            print("\n".join(lines), flush=True)
            if findings.requests == 0:
                output = (folder_of_run / OUTPUT_FILE).read_text(errors="replace")
                log(f"{name}: no requests made; schemathesis said:\n{output[-3000:]}")
            failed = failed or findings.failed
        if service.process.returncode is not None:
            log(f"the service died during the run (exit {service.process.returncode})")
            failed = True
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.fuzz_api",
        description="Run schemathesis against the API once per role; exit 1 on a server error.",
    )
    parser.add_argument(
        "--budget", type=int, default=120, help="seconds of fuzzing over all callers (120)"
    )
    parser.add_argument(
        "--callers",
        nargs="+",
        choices=list(WEIGHTS),
        default=list(WEIGHTS),
        help="whom to fuzz as (default: all of them)",
    )
    # One: with more, schemathesis' threads compile strategies at once and CPython 3.11.7 fails
    # some of them ("AST constructor recursion depth mismatch"); one also made more requests.
    parser.add_argument("--workers", type=int, default=1, help="parallel requests (1)")
    parser.add_argument(
        "--request-timeout",
        type=int,
        default=30,
        help="seconds a request may take before it counts as unanswered (30)",
    )
    parser.add_argument("--seed", type=int, default=None, help="for a reproducible run")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="work in this folder and keep it: the service log, schemathesis' output and its "
        "HAR and JSON reports per caller (they hold the session cookies: delete it after)",
    )
    args = parser.parse_args(argv)
    if args.budget < MIN_SHARE * len(args.callers):
        parser.error(f"--budget must be at least {MIN_SHARE} s per caller")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with work_folder(args.keep) as folder:
        log(f"working in {folder}")
        try:
            code = asyncio.run(run(args, folder))
        except SetupFailed as error:
            log(f"setup failed: {error}")
            code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
