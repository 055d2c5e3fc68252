"""Probe the pages' and the API's own defences (issue 10, points 5-7), to compare runs.

    .venv/bin/python -m scripts.probe_pagesec            # fresh servers under .data/bench-*

Starts fresh servers as the benchmarks do (:func:`bench.common.bench_environment`), serves
the app under uvicorn on a loopback port and talks to it over real HTTP, as a browser would:

1. the security headers and ``Cache-Control`` of the login page, the inbox, a case page, the
   JSON case view, the access report, a document (PDF), the stylesheet, ``/docs`` and the
   codec;
2. ``POST /login`` with the right password but a foreign ``Origin`` (login CSRF);
3. what the KI's ``GET /api/v1/cases/{id}`` holds against what the KI's case page shows;
4. 40 parallel ``POST /login`` with wrong passwords for one username: how many passwords were
   evaluated (answers 401, and rows in ``login_failures``; every other answer is the
   throttle's 429), and how long a ``GET /login`` takes meanwhile.

Prints results only (progress goes to stderr); nothing personal leaves the throw-away servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI

from bench.common import PERSON, bench_environment, print_table, say, today
from protection.master import KeyRingData
from runtime.app import create_app
from schemas.accounts import Role
from service.accounts import AccountService

# A key ring of this run only: the service's default would write a key file into .data/.
os.environ.setdefault("CASE_MASTER_KEYS", KeyRingData.generate().to_json())

PASSWORD = "ein-langes-probepasswort"
BURST = 40
UI_ORIGIN = "http://127.0.0.1:8233"
HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "strict-transport-security",
    "cache-control",
)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` under uvicorn on a free loopback port (its lifespan runs elsewhere)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def client(base: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, timeout=120, headers=headers)


async def person(base: str, accounts: AccountService, role: Role) -> httpx.AsyncClient:
    """A new account, logged in through the form (naming this site as a browser would)."""
    username = f"probe-{role.value}-{uuid.uuid4().hex[:6]}"
    await accounts.create_account(username, f"Probe {role.value}", role, PASSWORD)
    http = client(base, origin=base)
    response = await http.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    return http


async def wait_for(what: str, probe: Any, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.3)
    raise SystemExit(f"gave up waiting for {what}")


async def task_of(http: httpx.AsyncClient, case_id: str, queue: str, kind: str) -> str:
    async def probe() -> str | None:
        response = await http.get("/api/v1/tasks", params={"queue": queue, "case_id": case_id})
        found = [t["task_id"] for t in response.json() if t["kind"] == kind]
        return found[0] if found else None

    task_id: str = await wait_for(f"the {kind} task", probe)
    return task_id


async def case_for_the_ki(base: str, token: str, abh: httpx.AsyncClient) -> str:
    """A case opened by the back office and handed over to the KI on a signed consent."""
    case_id = f"PROBE-{uuid.uuid4().hex[:8]}"
    async with client(base, authorization=f"Bearer {token}") as backoffice:
        opened = await backoffice.post(
            "/api/v1/status-events",
            json={
                "event_id": f"{case_id}-e1",
                "case_id": case_id,
                "status": "ausreisepflichtig",
                "effective_date": today().isoformat(),
                "departure_deadline": today().replace(year=today().year + 1).isoformat(),
                "person": PERSON,
            },
        )
        assert opened.status_code == 202, opened.text
    steps = [
        (
            "information_conversation",
            {
                "kind": "information_conversation",
                "held_on": today().isoformat(),
                "routes_discussed": ["§25b AufenthG"],
                "perspective": "none_evident",
                "language": "ar",
                "participants": ["person"],
                "record_copy": "handed_over",
                "departure_letter": "handed_over",
            },
        ),
        (
            "referral_consent",
            {"kind": "referral_consent", "interested": True, "consent_signed_on": str(today())},
        ),
    ]
    for kind, body in steps:
        task_id = await task_of(abh, case_id, "abh", kind)
        done = await abh.post(f"/api/v1/tasks/{task_id}/complete", json=body)
        assert done.status_code == 200, done.text
    return case_id


def header_rows(responses: dict[str, httpx.Response]) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for what, response in responses.items():
        rows.append((what, f"{response.status_code} {response.headers.get('content-type', '')}"))
        for name in HEADERS:
            rows.append((f"  {name}", response.headers.get(name, "-- missing --")))
    return rows


async def headers_of(base: str, abh: httpx.AsyncClient, case_id: str) -> dict[str, httpx.Response]:
    async def documents() -> list[dict[str, Any]]:
        listed = await abh.get(f"/api/v1/cases/{case_id}/documents")
        found: list[dict[str, Any]] = listed.json()
        return found

    document = (await wait_for("a document of the case", documents))[0]
    async with client(base) as anonymous:
        login_page = await anonymous.get("/login")
        style = await anonymous.get("/static/style.css")
        docs = await anonymous.get("/docs")
    codec = await abh.post("/codec/decode", json={"payloads": []}, headers={"origin": UI_ORIGIN})
    return {
        "GET /login": login_page,
        "GET /posteingang (abh)": await abh.get("/posteingang"),
        "GET /faelle/{id} (abh)": await abh.get(f"/faelle/{case_id}"),
        "GET /api/v1/cases/{id} (abh)": await abh.get(f"/api/v1/cases/{case_id}"),
        "GET /api/v1/cases/{id}/access-report": await abh.get(
            f"/api/v1/cases/{case_id}/access-report"
        ),
        "GET /api/v1/cases/{id}/documents/{doc} (PDF)": await abh.get(
            f"/api/v1/cases/{case_id}/documents/{document['document_id']}"
        ),
        "POST /codec/decode (abh, from the UI)": codec,
        "GET /static/style.css": style,
        "GET /docs": docs,
    }


async def foreign_login(base: str, accounts: AccountService) -> list[tuple[str, object]]:
    username = f"probe-csrf-{uuid.uuid4().hex[:6]}"
    await accounts.create_account(username, "Probe CSRF", Role.ABH, PASSWORD)
    rows: list[tuple[str, object]] = []
    form = {"username": username, "password": PASSWORD}
    for label, headers in (
        ("Origin https://evil.example", {"origin": "https://evil.example"}),
        ("Referer https://evil.example/x, no Origin", {"referer": "https://evil.example/x"}),
        ("neither Origin nor Referer", {}),
        ("Origin of this site", {"origin": base}),
    ):
        async with client(base, **headers) as http:
            response = await http.post("/login", data=form)
        cookie = "sitzung" in response.headers.get("set-cookie", "")
        rows.append((label, f"{response.status_code}, session cookie set: {cookie}"))
    return rows


async def ki_view(base: str, ki: httpx.AsyncClient, case_id: str) -> list[tuple[str, object]]:
    api = await ki.get(f"/api/v1/cases/{case_id}")
    body = api.json()
    page = await ki.get(f"/faelle/{case_id}")
    headings = re.findall(r"<h2>(.*?)</h2>", page.text)
    timeline = [entry["kind"] for entry in body.get("timeline", [])]
    tasks = body.get("open_tasks", []) + body.get("done_tasks", [])
    kinds = sorted({task["kind"] for task in tasks})
    return [
        ("API status", api.status_code),
        ("API top-level fields", ", ".join(body)),
        ("API timeline entries (kinds)", f"{len(timeline)}: {', '.join(sorted(set(timeline)))}"),
        ("API tasks (kinds)", f"{len(tasks)}: {', '.join(kinds) or '-'}"),
        ("page status", page.status_code),
        ("page sections", ", ".join(headings)),
    ]


async def timed_get(base: str) -> float:
    """Seconds for one ``GET /login`` on a new connection: on a kept-alive one, delayed ACKs
    add about 40 ms on loopback whatever the server does."""
    async with client(base) as http:
        started = time.perf_counter()
        await http.get("/login")
        return time.perf_counter() - started


async def burst_client(base: str, username: str) -> dict[str, Any]:
    """The burst and the timed reads, run in a process of their own (``--burst-client``): in
    the server's process the clients' own work would hold the event loop under test."""
    quiet = [await timed_get(base) for _ in range(20)]
    during: list[float] = []
    finished = asyncio.Event()

    async def reader() -> None:
        while not finished.is_set():
            during.append(await timed_get(base))
            await asyncio.sleep(0.01)

    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=base, timeout=120, headers={"origin": base}, limits=limits
    ) as http:

        async def attempt(n: int) -> int:
            form = {"username": username, "password": f"falsch-{n}"}
            return (await http.post("/login", data=form)).status_code

        watching = asyncio.create_task(reader())
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(attempt(n) for n in range(BURST)))
        wall = time.perf_counter() - started
        finished.set()
        await watching
    return {"statuses": statuses, "quiet": quiet, "during": during, "wall": wall}


async def burst(base: str, app: FastAPI, pool: asyncpg.Pool) -> list[tuple[str, object]]:
    accounts: AccountService = app.state.accounts
    username = f"probe-burst-{uuid.uuid4().hex[:6]}"
    await accounts.create_account(username, "Probe Burst", Role.ABH, PASSWORD)
    await pool.execute("DELETE FROM login_failures")  # the earlier logins came from here too
    await asyncio.sleep(2)  # let the worker finish the case's documents first
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.probe_pagesec",
        "--burst-client",
        base,
        username,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    measured = json.loads(out)
    statuses: list[int] = measured["statuses"]
    quiet: list[float] = measured["quiet"]
    during: list[float] = measured["during"]
    rows = await pool.fetchval("SELECT count(*) FROM login_failures WHERE username = $1", username)
    await pool.execute("DELETE FROM login_failures")
    counted = {code: statuses.count(code) for code in sorted(set(statuses))}
    return [
        ("answers", ", ".join(f"{code}: {n}" for code, n in counted.items())),
        ("passwords evaluated (401 answers)", statuses.count(401)),
        ("login_failures rows for the username", rows),
        ("burst wall time", f"{measured['wall'] * 1000:.0f} ms"),
        ("GET /login idle, median of 20", f"{statistics.median(quiet) * 1000:.1f} ms"),
        ("GET /login during the burst, n", len(during)),
        ("  median", f"{statistics.median(during) * 1000:.1f} ms" if during else "-"),
        ("  max", f"{max(during) * 1000:.1f} ms" if during else "-"),
    ]


async def main() -> None:
    async with bench_environment("probe") as env:
        settings = env.settings.model_copy(update={"cookie_secure": False})
        app = create_app(settings, client=env.client, pool=env.pool)
        async with app.router.lifespan_context(app), serving(app) as base:
            accounts: AccountService = app.state.accounts
            token = await accounts.create_api_token("probe")
            abh = await person(base, accounts, Role.ABH)
            ki = await person(base, accounts, Role.KI)
            say("opening a case and handing it over to the KI")
            case_id = await case_for_the_ki(base, token, abh)
            await task_of(ki, case_id, "ki", "ki_contact")
            say("reading headers")
            print_table("1. Response headers", header_rows(await headers_of(base, abh, case_id)))
            print_table("2. POST /login, right password", await foreign_login(base, accounts))
            print_table("3. The KI's case: API and page", await ki_view(base, ki, case_id))
            say(f"{BURST} parallel wrong logins")
            print_table(
                f"4. {BURST} parallel wrong logins, one username", await burst(base, app, env.pool)
            )
            await abh.aclose()
            await ki.aclose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--burst-client"]:
        print(json.dumps(asyncio.run(burst_client(sys.argv[2], sys.argv[3]))))
    else:
        asyncio.run(main())
