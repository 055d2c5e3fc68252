"""The production layout, without Docker (issue 16, point 7).

What ``docker-compose.yml`` describes, as plain processes: one PostgreSQL and one Temporal
server as externals (``DATABASE_URL``, ``TEMPORAL_ADDRESS``), the schema brought up by
``--role migrate``, then two worker processes and two API processes, each with a data folder
of its own and the one master key ring file they share. Cases are driven through both APIs
(every request to the other one than the last) to every stage the API can bring a case to;
meanwhile one worker is killed with SIGKILL (a replacement starts) and PostgreSQL is
restarted. The client retries a 503 after ``Retry-After``, as the back office does
(docs/verfuegbarkeit.md). Afterwards, in the case store: no case lost, no task or disclosure
twice, no disclosure without a signed consent, every case where it should be; and no answer
was a 5xx other than a 503 that its repetition resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from config.settings import Settings
from protection.master import KeyRingData, write_ring_file
from runtime.embedded import embedded_postgres, temporal_dev_server
from schemas.accounts import Role
from schemas.local_time import BERLIN
from scripts.service_process import alive, free_port
from service.accounts import AccountService
from store.db import open_pool
from tests.test_api import PASSWORD, conversation, event, opening, today

ROOT = Path(__file__).resolve().parent.parent
V1 = "/api/v1"
RUN_LIMIT = 240  # seconds; it takes about 60-90 on a loaded 2-core machine

pytestmark = pytest.mark.timeout(RUN_LIMIT)


# --- the processes ------------------------------------------------------------------------


class RoleProcess:
    """One ``python -m runtime.main --role …`` process; its output goes to files, so that a
    long run never blocks on a full pipe."""

    def __init__(self, name: str, role: str, folder: Path, env: dict[str, str]) -> None:
        self.name = name
        self.role = role
        self.folder = folder
        self.port = free_port()
        self.env = dict(env, CASE_DATA_DIR=str(folder), CASE_API_PORT=str(self.port))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def stdout(self) -> Path:
        return self.folder / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.folder / "stderr.txt"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runtime.main", "--role", self.role,
                 "--log-level", "WARNING"],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            )  # fmt: skip

    def ready(self) -> bool:
        """The banner is printed once everything is started (``runtime.main._serve``)."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} ended with {self.process.returncode}: {self.tail()}")
        marker = "API:" if self.role == "api" else "Worker:"
        return any(line.startswith(marker) for line in self.stdout.read_text().splitlines())

    def tail(self) -> str:
        return self.stderr.read_text(errors="replace")[-3000:]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stop_all(roles: list[RoleProcess]) -> None:
    """SIGTERM to all at once, then wait for each (each stops within its grace)."""
    for role in roles:
        role.stop()
    for role in roles:
        role.wait()


async def until_ready(*roles: RoleProcess, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not all(role.ready() for role in roles):
        assert time.monotonic() < deadline, "not ready: " + ", ".join(
            r.name for r in roles if not r.ready()
        )
        await asyncio.sleep(0.3)


async def command(env: dict[str, str], *args: str, stdin: str = "") -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
    assert process.returncode == 0, f"{args}: {err.decode()[-2000:]}"
    return out.decode()


# --- the clients --------------------------------------------------------------------------


@dataclass
class Answers:
    """Every answer the clients got: (method, path, status); and the 503s each request took."""

    seen: list[tuple[str, str, int]] = field(default_factory=list)
    retried: Counter[int] = field(default_factory=Counter)
    # Events answered "duplicate" (a repetition after a 503 that the store had recorded):
    # they name the stage the first delivery led to, like any other answer.
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    turn: int = 0
    steps: int = 0


class Staff:
    """One person (session and, for the ABH, the back office's token) at both APIs, each
    request at the other API than the one before."""

    def __init__(self, apis: list[str], headers: dict[str, str], answers: Answers) -> None:
        self.clients = [
            httpx.AsyncClient(base_url=url, timeout=60, headers={**headers, "origin": url})
            for url in apis
        ]
        self.answers = answers

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send until the answer is no 503, waiting its Retry-After, as a back office does."""
        attempts = 0
        deadline = time.monotonic() + 120
        while True:
            self.answers.turn += 1
            client = self.clients[self.answers.turn % len(self.clients)]
            response = await client.request(method, path, **kwargs)
            self.answers.seen.append((method, path, response.status_code))
            if response.status_code != 503:
                self.answers.retried[attempts] += 1
                return response
            attempts += 1
            assert time.monotonic() < deadline, f"{method} {path}: 503 for 120 s"
            await asyncio.sleep(int(response.headers["retry-after"]))

    async def task(self, case_id: str, queue: str, kind: str) -> str:
        deadline = time.monotonic() + 90
        while True:
            response = await self.call("GET", f"{V1}/tasks",
                                       params={"queue": queue, "case_id": case_id})  # fmt: skip
            assert response.status_code == 200, response.text
            found = [t["task_id"] for t in response.json() if t["kind"] == kind]
            if found:
                return str(found[0])
            assert time.monotonic() < deadline, f"no open {kind} task for {case_id}"
            await asyncio.sleep(0.5)

    async def complete(self, case_id: str, queue: str, kind: str, body: dict[str, Any]) -> str:
        task_id = await self.task(case_id, queue, kind)
        response = await self.call("POST", f"{V1}/tasks/{task_id}/complete", json=body)
        assert response.status_code == 200, response.text
        self.answers.steps += 1
        return str(response.json()["stage"])

    async def report(self, body: dict[str, Any]) -> str:
        response = await self.call("POST", f"{V1}/status-events", json=body)
        assert response.status_code == 202, response.text
        self.answers.steps += 1
        answer = response.json()
        if answer["duplicate"]:
            self.answers.duplicates.append((body["case_id"], answer["stage"]))
        return str(answer["stage"])


async def log_in(api: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=api, timeout=60) as client:
        response = await client.post(
            "/login",
            data={"username": username, "password": PASSWORD},
            headers={"origin": api},
        )
    assert response.status_code in (302, 303), response.text
    session = response.cookies.get("sitzung")
    assert session, response.headers
    return session


# --- the cases: one per stage the API brings a case to ----------------------------------


def consent(interested: bool) -> dict[str, Any]:
    signed = {"consent_signed_on": str(today())} if interested else {}
    return {"kind": "referral_consent", "interested": interested, **signed}


def enforcement() -> dict[str, Any]:
    at = datetime.combine(today() + timedelta(days=1), clock(10), BERLIN)
    return {"kind": "escalation", "decision": "enforcement", "enforcement_at": at.isoformat(),
            "enforcement_until": (at + timedelta(hours=3)).isoformat()}  # fmt: skip


def enforcement_result() -> dict[str, Any]:
    at = datetime.combine(today() - timedelta(days=1), clock(10), BERLIN)
    return {"kind": "enforcement_result", "result": "carried_out",
            "started_at": at.isoformat(), "ended_at": (at + timedelta(hours=2)).isoformat(),
            "minors_present": False}  # fmt: skip


@dataclass
class People:
    abh: Staff
    ki: Staff
    partner_id: int


async def to_stage(people: People, case_id: str, target: str) -> str:
    """Drive ``case_id`` to ``target`` the way the staff would; return the stage answered."""
    abh, ki = people.abh, people.ki
    kamen = target in ("ki_referral", "follow_up", "escalation", "enforcement_planned", "closed")
    stage = await abh.report(opening(case_id, town="Kamen" if kamen else "Unna"))
    if target == "information_conversation":
        return stage
    if target == "suspended":
        return await abh.report(event(case_id, 2, status="asylverfahren"))
    if target == "moved_away":
        return await abh.report(event(case_id, 2, status="weggezogen"))
    if target == "route_pursued":
        body = {**conversation(), "perspective": "route_possible", "route_pursued": "§25b AufenthG"}
        return await abh.complete(case_id, "abh", "information_conversation", body)
    stage = await abh.complete(case_id, "abh", "information_conversation", conversation())
    if target == "referral_offer":
        return stage
    stage = await abh.complete(case_id, "abh", "referral_consent",
                               consent(target != "declined"))  # fmt: skip
    if target in ("ki_referral", "declined"):
        return stage
    contact = {"kind": "ki_contact", "partner_id": people.partner_id, "contacted_on": str(today())}
    stage = await ki.complete(case_id, "ki", "ki_contact", contact)
    if target == "follow_up":
        return stage
    stage = await ki.complete(case_id, "ki", "follow_up", {"kind": "follow_up", "reached": False})
    if target == "escalation":
        return stage
    stage = await abh.complete(case_id, "abh", "escalation", enforcement())
    if target == "enforcement_planned":
        return stage
    await abh.report(event(case_id, 2, status="ausgereist", departure_deadline=None))
    return await abh.complete(case_id, "abh", "enforcement_result", enforcement_result())


# What each case's last answer says, and where the case must stand at the end.
TARGETS: dict[str, str] = {
    "information_conversation": "information_conversation",
    "route_pursued": "route_pursued",
    "referral_offer": "referral_offer",
    "ki_referral": "ki_referral",
    "declined": "follow_up",  # no consent: the ABH follows up itself, nothing disclosed
    "follow_up": "follow_up",
    "escalation": "escalation",
    "enforcement_planned": "enforcement_planned",
    "suspended": "suspended",
    "moved_away": "closed",
    "closed": "closed",
}
# Status events and completions it takes to get there.
STEPS: dict[str, int] = {
    "information_conversation": 1, "route_pursued": 2, "referral_offer": 2, "ki_referral": 3,
    "declined": 3, "follow_up": 4, "escalation": 5, "enforcement_planned": 6, "suspended": 2,
    "moved_away": 2, "closed": 8,
}  # fmt: skip


# --- the servers ------------------------------------------------------------------------


def stop_postgres(pgdata: Path) -> None:
    """A fast shutdown (SIGINT to the postmaster: open sessions are ended), as a restart by
    the operator or a failover does; waits until it is gone."""
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while alive(pid):
        assert time.monotonic() < deadline, "PostgreSQL did not stop"
        time.sleep(0.1)


async def test_two_workers_two_apis_one_killed_worker_one_database_restart_lose_nothing(
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    ring = tmp_path / "secrets" / "master-keys.json"
    write_ring_file(ring, KeyRingData.generate())
    answers = Answers()
    roles: list[RoleProcess] = []
    async with contextlib.AsyncExitStack() as stack:
        restarted = stack.enter_context(contextlib.ExitStack())  # stops after everything else
        postgres = contextlib.ExitStack()
        stack.callback(postgres.close)
        dsn = postgres.enter_context(embedded_postgres(tmp_path / "postgres"))
        address = await stack.enter_async_context(
            temporal_dev_server(tmp_path / "temporal", free_port(), None)
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("CASE_MASTER_KEYS", "CASE_DATA_DIR")
        }
        env.update(
            DATABASE_URL=dsn,
            TEMPORAL_ADDRESS=address,
            CASE_MASTER_KEY_FILE=str(ring),
            CASE_SHRED_LOG=str(tmp_path / "secrets" / "shredded-keys.log"),
            CASE_TASK_QUEUE=f"prod-{uuid.uuid4().hex[:8]}",
            CASE_RETRY_AFTER_SECONDS="1",
            # A follow-up check-in a second after the KI's contact, one miss escalates.
            CASE_FOLLOW_UP_INTERVAL="PT1S",
            CASE_UNREACHABLE_AFTER="1",
            CASE_MIGRATE_ON_START="false",  # the migrate step alone changes the schema
            CASE_SHUTDOWN_GRACE="PT5S",
        )
        await command(dict(env, CASE_DATA_DIR=str(tmp_path / "migrate")),
                      "runtime.main", "--role", "migrate")  # fmt: skip

        stack.callback(stop_all, roles)

        def role(name: str, kind: str) -> RoleProcess:
            made = RoleProcess(name, kind, tmp_path / name, env)
            roles.append(made)
            made.start()
            return made

        workers = [role("worker-1", "worker"), role("worker-2", "worker")]
        apis = [role("api-1", "api"), role("api-2", "api")]
        # The accounts, as the operator commands make them (in this process: fewer starts).
        async with open_pool(dsn, max_size=2) as pool:
            accounts = AccountService(pool, Settings())
            sessions = {}
            for kind in (Role.ABH, Role.KI):
                account = await accounts.create_account(f"{kind}-prod", f"Test {kind}", kind,
                                                        PASSWORD)  # fmt: skip
                sessions[kind] = await accounts.open_session(account)
            token = await accounts.create_api_token("backoffice")
        await until_ready(*workers, *apis)
        started = time.monotonic() - began

        urls = [api.url() for api in apis]
        # The caseworker logs in at one API and works at both (the session is in the store).
        abh = Staff(urls, {"cookie": f"sitzung={await log_in(urls[0], 'abh-prod')}",
                           "authorization": f"Bearer {token}"}, answers)  # fmt: skip
        ki = Staff(urls, {"cookie": f"sitzung={sessions[Role.KI]}"}, answers)
        stack.push_async_callback(abh.aclose)
        stack.push_async_callback(ki.aclose)
        partners = await abh.call("GET", f"{V1}/partners", params={"town": "Kamen"})
        assert partners.status_code == 200, partners.text
        people = People(abh, ki, partners.json()[0]["partner_id"])

        # A case per target, two for the status events that close or suspend (where a
        # repetition may answer "duplicate"), all at once.
        targets = [*TARGETS, "closed", "moved_away", "suspended"]
        cases = {f"PROD-{target[:6]}-{uuid.uuid4().hex[:8]}": target for target in targets}
        driving = asyncio.gather(*(to_stage(people, case_id, target)
                                   for case_id, target in cases.items()))  # fmt: skip
        total = sum(STEPS[target] for target in cases.values())

        async def when(share: float) -> None:
            while True:
                if answers.steps >= total * share or driving.done():
                    return
                await asyncio.sleep(0.2)

        # The disturbances, while the cases move.
        await when(0.25)
        workers[0].kill()
        killed_at = answers.steps
        replacement = role("worker-3", "worker")
        await when(0.55)
        stop_postgres(tmp_path / "postgres" / "postgres")  # its clients cut off
        postgres.close()
        await asyncio.sleep(2)
        restarted.enter_context(embedded_postgres(tmp_path / "postgres"))
        restarted_at = answers.steps

        answered = await asyncio.wait_for(driving, RUN_LIMIT - 60)
        driven = time.monotonic() - began
        await until_ready(replacement)
        assert not alive(workers[0].process.pid)  # type: ignore[union-attr]

        # Every last answer named the stage expected, a repetition's too.
        last = dict(zip(cases, answered, strict=True))
        assert last == {case_id: TARGETS[target] for case_id, target in cases.items()}
        # Every case stands there, read back from both APIs.
        for case_id, target in cases.items():
            page = await abh.call("GET", f"{V1}/cases/{case_id}")
            assert page.status_code == 200, page.text
            assert page.json()["stage"] == TARGETS[target], (case_id, page.json())

        # No answer a 5xx but 503s, each resolved by its repetition (call() returned).
        statuses = Counter(status for _, _, status in answers.seen)
        assert {s for s in statuses if s >= 500} <= {503}, statuses
        assert {s for s in statuses if s < 500} <= {200, 202}, statuses

        # Every process used the one ring: none made a ring of its own in its data folder.
        assert [str(p) for p in tmp_path.glob("*/keys/master-keys.json")] == []

        con = await asyncpg.connect(dsn)
        try:
            await store_is_consistent(con, cases)
        finally:
            await con.close()
        print(f"\nproduction layout: {len(cases)} cases, {total} steps, started in "
              f"{started:.0f} s, driven in {driven - started:.0f} s; worker killed at step "
              f"{killed_at}, PostgreSQL restarted at step {restarted_at}; answers {statuses}; "
              f"retries per request {dict(answers.retried)}; "
              f"duplicates {answers.duplicates}")  # fmt: skip


async def store_is_consistent(con: asyncpg.Connection, cases: dict[str, str]) -> None:
    ids = list(cases)
    # 0 cases lost.
    stored = await con.fetch("SELECT case_id, stage FROM cases WHERE case_id = ANY($1)", ids)
    assert {row["case_id"]: row["stage"] for row in stored} == {
        case_id: TARGETS[target] for case_id, target in cases.items()
    }
    # 0 tasks twice: one completed task per step that completed one, none open twice.
    twice = await con.fetch(
        "SELECT case_id, kind, status, count(*) FROM tasks WHERE case_id = ANY($1)"
        " AND (status = 'completed' OR status = 'open') GROUP BY case_id, kind, status"
        " HAVING count(*) > 1",
        ids,
    )
    assert twice == [], [dict(row) for row in twice]
    opened = await con.fetch(
        "SELECT case_id, count(*) AS n FROM timeline WHERE kind = 'opened'"
        " AND case_id = ANY($1) GROUP BY case_id",
        ids,
    )
    assert {row["case_id"]: row["n"] for row in opened} == dict.fromkeys(ids, 1)
    events = await con.fetchval(
        "SELECT count(*) - count(DISTINCT (case_id, event_id)) FROM status_events"
        " WHERE case_id = ANY($1)",
        ids,
    )
    assert events == 0
    # 0 disclosures twice; each on a signed consent of its case; only where one was given.
    disclosures = await con.fetch(
        "SELECT d.case_id, d.recipient, c.signed_on, c.case_id AS consent_case"
        " FROM disclosures d LEFT JOIN consents c USING (consent_id) WHERE d.case_id = ANY($1)",
        ids,
    )
    assert len({(row["case_id"], row["recipient"]) for row in disclosures}) == len(disclosures)
    assert all(
        row["signed_on"] is not None and row["consent_case"] == row["case_id"]
        for row in disclosures
    ), [dict(row) for row in disclosures]
    disclosed = {row["case_id"] for row in disclosures}
    consented = {"ki_referral", "follow_up", "escalation", "enforcement_planned", "closed"}
    assert disclosed == {case_id for case_id, target in cases.items() if target in consented}
