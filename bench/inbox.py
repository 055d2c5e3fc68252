"""The inbox and the case list with a large caseload (issue 14): how long the pages and the
API's lists take through HTTP with ``--tasks`` open tasks (one case each).

    .venv/bin/python -m bench.inbox                 # --tasks 10000 --requests 200

The caseload is written straight into a fresh database (names with and without umlauts, all
ten towns, every stage, deadlines and due dates spread over months, a tenth assigned to the
caseworker who measures); no workflow runs. Then the app answers one request after another
(after a warm-up), logged in as an ABH caseworker, and the figures are the p50, p95 and p99
of each kind of request, with how many rows it returned. Targets (issue 14): the group view,
the case list and a name search p99 under 100 ms, a page of the API's task list under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx

from api.auth import SESSION_COOKIE
from bench.common import bench_environment, ms, percentile, print_table, say, today
from runtime.app import create_app
from schemas.accounts import Role
from schemas.case import Stage
from schemas.offers import COUNTY_TOWNS
from schemas.tasks import TaskKind

FAMILIES = [
    "Müller", "Şahin", "Haddad", "Yıldız", "Popescu", "Kovačević", "Al-Hassan", "Nguyen",
    "Özdemir", "Ivanova", "Berisha", "Ahmadi", "Hosseini", "Kaya", "Demir", "Shehu",
]  # fmt: skip
GIVEN = ["Amina", "Karim", "Ayşe", "Jürgen", "Élodie", "Omar", "Fatma", "Dragan", "Leyla"]
STAGES = [stage.value for stage in Stage if stage not in (Stage.OPENING, Stage.CLOSED)]
KINDS = [TaskKind.INFORMATION_CONVERSATION, TaskKind.REFERRAL_CONSENT, TaskKind.FOLLOW_UP]


async def seed(pool: object, tasks: int, account_id: int, rng: random.Random) -> list[str]:
    """``tasks`` cases with one open task each; returns the family names used."""
    now = datetime.now(UTC)
    day = today()
    cases, persons, rows = [], [], []
    for number in range(tasks):
        case_id = f"BI-{number:06d}"
        town = COUNTY_TOWNS[number % len(COUNTY_TOWNS)]
        family = f"{rng.choice(FAMILIES)}{number % 97}"
        cases.append(
            (case_id, rng.choice(STAGES), "ausreisepflichtig", town,
             day + timedelta(days=rng.randint(-20, 120)), now - timedelta(days=rng.randint(0, 400)))
        )  # fmt: skip
        persons.append(
            (case_id, rng.choice(GIVEN), family, day.replace(year=day.year - rng.randint(18, 60)),
             "IRQ", "ar", "Bahnhofstraße 1", "59423", town)
        )  # fmt: skip
        queue = "abh" if number % 5 else "ki"
        rows.append(
            (uuid.uuid4(), case_id, rng.choice(KINDS).value, queue,
             now + timedelta(hours=rng.randint(-24 * 20, 24 * 60)), now,
             account_id if number % 10 == 1 else None)
        )  # fmt: skip
    async with pool.acquire() as con, con.transaction():  # type: ignore[attr-defined]
        await con.executemany(
            "INSERT INTO cases (case_id, stage, residence_status, town, departure_deadline,"
            " opened_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            cases,
        )
        await con.executemany(
            "INSERT INTO persons (case_id, given_name, family_name, date_of_birth, nationality,"
            " language, street, postal_code, town) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            persons,
        )
        await con.executemany(
            "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at,"
            " assigned_to) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7)",
            rows,
        )
        await con.execute("ANALYZE")
    return sorted({family for _, _, family, *_ in persons})


async def measure(
    http: httpx.AsyncClient, label: str, urls: Sequence[str], rows_of: str
) -> tuple[str, str]:
    """Each URL once, in order; the percentiles and the rows of the last answer."""
    times: list[float] = []
    shown = 0
    for url in urls:
        started = time.perf_counter()
        response = await http.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
        if rows_of == "json-list":
            shown = len(response.json())
        elif rows_of == "json-items":
            shown = len(response.json()["items"])
        else:
            shown = response.text.count("<tr>") - 1
    figures = (
        f"p50 {ms(percentile(times, 50))}, p95 {ms(percentile(times, 95))}, "
        f"p99 {ms(percentile(times, 99))}; {shown} rows"
    )
    return label, figures


async def run(tasks: int, requests: int, seed_value: int) -> None:
    rng = random.Random(seed_value)
    async with bench_environment("inbox") as env:
        app = create_app(env.settings, client=env.client, pool=env.pool)
        async with app.router.lifespan_context(app):
            accounts = app.state.accounts
            me = await accounts.create_account("bench-abh", "Bench ABH", Role.ABH, "x" * 16)
            session = await accounts.open_session(me)
            say(f"seeding {tasks} cases with an open task each")
            families = await seed(env.pool, tasks, me.account_id, rng)
            transport = httpx.ASGITransport(app=app)
            http = httpx.AsyncClient(
                transport=transport,
                base_url="http://bench",
                timeout=60,
                headers={"cookie": f"{SESSION_COOKIE}={session}"},
            )
            async with http:
                searches = [rng.choice(families)[:5] for _ in range(requests)]
                plans: list[tuple[str, list[str], str]] = [
                    ("group view", ["/posteingang?ansicht=gruppe"], "html"),
                    ("my view", ["/posteingang?ansicht=meine"], "html"),
                    ("case list /faelle", ["/faelle"], "html"),
                    ("case list by name", ["/faelle?sort=name"], "html"),
                    ("name search /faelle?q=", [f"/faelle?q={q}" for q in searches], "html"),
                    ("API /cases?q=", [f"/api/v1/cases?q={q}" for q in searches], "json-items"),
                    ("API /tasks?queue=abh", ["/api/v1/tasks?queue=abh"], "json-list"),
                ]
                results = []
                for label, urls, rows_of in plans:
                    pattern = (urls * requests)[:requests] if len(urls) == 1 else urls
                    await measure(http, label, pattern[:10], rows_of)  # warm-up
                    say(f"measuring {label}")
                    results.append(await measure(http, label, pattern, rows_of))
    print_table(
        f"{tasks} open tasks, {requests} requests each, one at a time (ASGI, in process)",
        results,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inbox", description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    asyncio.run(run(args.tasks, args.requests, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
