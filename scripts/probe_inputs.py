"""Send the inputs of issue 10 (points 1 and 2) and print what each one answers, and how fast.

    .venv/bin/python -m scripts.probe_inputs          # fresh embedded servers, removed afterwards

Every probe has a client timeout (``--timeout``, 20 s): a request that does not answer within
it is printed as ``no answer``. After the probes it reports whether the refused intake left a
workflow or a case row behind. It starts its own servers (``bench.common.bench_environment``:
embedded PostgreSQL, a Temporal dev server and a case worker), so it never touches the
service's data; with ``DATABASE_URL`` / ``TEMPORAL_ADDRESS`` set it uses those servers, in a
database and a task queue of its own. Prints ids, statuses and times only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from temporalio.service import RPCError

from api.auth import SESSION_COOKIE
from bench.common import PERSON, bench_environment, print_table, say, today
from runtime.app import API_PREFIX, create_app
from schemas.accounts import Role
from service.accounts import AccountService
from workflows.case import workflow_id

ORIGIN = "http://probe"
NUL = "A\u0000B"
BEYOND_INT4 = 2**31
PARTNER = {"name": "Probe", "kind": "ehrenamt", "town": "Unna", "contact": "probe@example.org"}


def _event(
    case_id: str, n: int, status: str = "ausreisepflichtig", **person: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"{case_id}-e{n}",
        "case_id": case_id,
        "status": status,
        "effective_date": today().isoformat(),
        "departure_deadline": (today() + timedelta(days=90)).isoformat(),
    }
    if status == "ausreisepflichtig":
        body["person"] = {**PERSON, **person}
    return body


def _where(response: httpx.Response) -> str:
    """The refused fields of a 422 (its ``loc``), else nothing: never the answer's values."""
    if response.status_code != 422:
        return ""
    try:
        errors = response.json()["errors"]
        return " ".join(".".join(str(p) for p in error["loc"]) for error in errors)
    except (ValueError, KeyError, TypeError):
        return "?"


async def _client(app: Any, role: Role, *, token: bool = False) -> httpx.AsyncClient:
    service: AccountService = app.state.accounts
    account = await service.create_account(
        f"probe-{role}-{uuid.uuid4().hex[:6]}", f"Probe {role}", role, "ein langes Probepasswort"
    )
    headers = {
        "origin": ORIGIN,
        "cookie": f"{SESSION_COOKIE}={await service.open_session(account)}",
    }
    if token:
        headers["authorization"] = f"Bearer {await service.create_api_token('probe')}"
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers=headers
    )


async def _timed(
    label: str, call: Callable[[], Awaitable[httpx.Response]], patience: float
) -> tuple[str, str]:
    started = time.perf_counter()
    request = asyncio.ensure_future(call())
    done, _ = await asyncio.wait({request}, timeout=patience)
    if not done:
        # Cancelled, the app may still turn the cancellation into an answer: not the client's.
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        return label, f"no answer within {patience:.0f} s"
    response = request.result()
    elapsed = time.perf_counter() - started
    where = _where(response)
    return label, f"{response.status_code} in {elapsed:.2f} s" + (f"  ({where})" if where else "")


async def probe(patience: float) -> None:
    async with bench_environment("probe") as env:
        app = create_app(env.settings, client=env.client, pool=env.pool)
        async with app.router.lifespan_context(app):
            abh = await _client(app, Role.ABH, token=True)
            admin = await _client(app, Role.ADMIN)
            rows: list[tuple[str, str]] = []
            v1 = API_PREFIX

            nul_case = f"PROBE-{uuid.uuid4().hex[:10]}"
            rows.append(
                await _timed(
                    'POST /status-events, given_name "A\\u0000B"',
                    lambda: abh.post(
                        f"{v1}/status-events", json=_event(nul_case, 1, given_name=NUL)
                    ),
                    patience,
                )
            )

            held, other = (f"PROBE-{uuid.uuid4().hex[:10]}" for _ in range(2))
            for case_id in (held, other):
                opened = await abh.post(f"{v1}/status-events", json=_event(case_id, 1))
                assert opened.status_code == 202, opened.status_code
            supporter = {"name": NUL, "contact": "0170 1", "is_representative": False}
            rows.append(
                await _timed(
                    'POST /cases/{id}/supporters, name "A\\u0000B"',
                    lambda: abh.post(f"{v1}/cases/{held}/supporters", json=supporter),
                    patience,
                )
            )
            rows.append(
                await _timed(
                    "  then a status event for that case",
                    lambda: abh.post(f"{v1}/status-events", json=_event(held, 2, "geduldet")),
                    patience,
                )
            )
            rows.append(
                await _timed(
                    "  the same event for another case",
                    lambda: abh.post(f"{v1}/status-events", json=_event(other, 2, "geduldet")),
                    patience,
                )
            )
            for path in ("partners", "offers"):
                rows.append(
                    await _timed(
                        f"GET /{path}/2**31 (abh)",
                        functools.partial(abh.get, f"{v1}/{path}/{BEYOND_INT4}"),
                        patience,
                    )
                )
            rows.append(
                await _timed(
                    "PUT /partners/2**31 (admin)",
                    lambda: admin.put(f"{v1}/partners/{BEYOND_INT4}", json=PARTNER),
                    patience,
                )
            )
            rows.append(
                await _timed(
                    "GET /partners?town=Un\\u0000na (abh)",
                    lambda: abh.get(f"{v1}/partners", params={"town": "Un\u0000na"}),
                    patience,
                )
            )
            rows.append(
                await _timed(
                    'POST /partners, name "A\\u0000B" (admin)',
                    lambda: admin.post(f"{v1}/partners", json={**PARTNER, "name": NUL}),
                    patience,
                )
            )

            async with env.pool.acquire() as con:
                case_row = await con.fetchval("SELECT 1 FROM cases WHERE case_id = $1", nul_case)
            try:
                described = await env.client.get_workflow_handle(workflow_id(nul_case)).describe()
                workflow = f"{described.status.name if described.status else '?'}"
            except RPCError:
                workflow = "none"
            rows.append(("refused intake left: a case row", "yes" if case_row else "no"))
            rows.append(("refused intake left: a workflow", workflow))
            print_table("Inputs of issue 10 (points 1 and 2)", rows)
            await abh.aclose()
            await admin.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="client timeout per request")
    args = parser.parse_args()
    say("probing (each request bounded by the client timeout)")
    asyncio.run(probe(args.timeout))


if __name__ == "__main__":
    main()
