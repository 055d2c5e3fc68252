"""Intake under load: many new-case events through the HTTP API, some of them sent twice.

``python -m bench.intake [--events 10000] [--concurrency 50] [--duplicates 0.05]``

Every event opens a case of its own (distinct case and event ids) via
``POST /api/v1/status-events``, served in-process by the real FastAPI app over an ASGI
transport, so the whole API code path runs, without a socket in between. A fraction of the
events is sent again with the same event id: half of them at the same moment as the original
(the race that update-with-start must absorb), half after the original was answered. A racing
re-send attaches to its original's update (the update id is the event id) and gets its answer,
duplicate=false as well; one sent after the answer gets duplicate=true. A 503 (the update
deadline passed under load) is sent again at once, as the back office would, and counted.

The answers are only half of the proof; afterwards the store and Temporal are asked what
really happened: a case row, one ``opened`` timeline entry and one open information
conversation per accepted event, and exactly one workflow run per case. Anything lost,
duplicated or refused makes the exit status non-zero (target: nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.common import (
    BenchEnv,
    bench_environment,
    ms,
    opening_event,
    percentile,
    print_table,
    say,
)
from runtime.app import API_PREFIX, create_app
from workflows.case import workflow_id

INTAKE_PATH = f"{API_PREFIX}/status-events"


@dataclass
class Send:
    case_id: str
    body: dict[str, Any]
    resend: bool


@dataclass
class Tally:
    """What came back, per event id and in all."""

    latencies: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    fresh: Counter[str] = field(default_factory=Counter)  # event id -> 202 duplicate=false
    repeated: Counter[str] = field(default_factory=Counter)  # event id -> 202 duplicate=true
    errors: list[str] = field(default_factory=list)
    accepted_cases: set[str] = field(default_factory=set)
    unavailable: int = 0  # 503s, each sent again
    # Event ids answered 503 at least once. A 503 says "no outcome in time", not "not done": the
    # event may have gone in, and then the repeat is rightly answered duplicate=true.
    retried: set[str] = field(default_factory=set)

    def record(self, send: Send, response: httpx.Response | None, error: str | None) -> None:
        event_id = str(send.body["event_id"])
        if response is not None and response.status_code == 202:
            duplicate = bool(response.json()["duplicate"])
            (self.repeated if duplicate else self.fresh)[event_id] += 1
            self.answers[f"202 duplicate={str(duplicate).lower()}"] += 1
            self.accepted_cases.add(send.case_id)
            return
        label = f"HTTP {response.status_code}" if response is not None else "exception"
        self.answers[label] += 1
        detail = response.text[:200] if response is not None else error
        self.errors.append(f"{event_id} ({'re-send' if send.resend else 'original'}): {detail}")


class Sender:
    """``concurrency`` clients posting jobs from a queue; a job is one event or a racing pair."""

    def __init__(self, http: httpx.AsyncClient, concurrency: int, total: int) -> None:
        self._http = http
        self._concurrency = concurrency
        self._total = total
        self._queue: asyncio.Queue[list[Send]] = asyncio.Queue()
        self._later: dict[str, Send] = {}
        self._done = 0
        self.tally = Tally()

    def plan(self, sends: list[Send], racing: set[str], later: set[str]) -> None:
        for send in sends:
            twin = Send(send.case_id, send.body, resend=True)
            job = [send, twin] if send.case_id in racing else [send]
            if send.case_id in later:
                self._later[send.case_id] = twin
            self._queue.put_nowait(job)

    async def run(self) -> float:
        began = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(self._concurrency):
                group.create_task(self._client())
        return time.perf_counter() - began

    async def _client(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            await asyncio.gather(*(self._post(send) for send in job))
            # The delayed re-send goes to the back of the queue once the original is answered.
            for send in job:
                twin = self._later.pop(send.case_id, None) if not send.resend else None
                if twin is not None:
                    self._queue.put_nowait([twin])

    async def _post(self, send: Send) -> None:
        began = time.perf_counter()
        response: httpx.Response | None = None
        error: str | None = None
        try:
            response = await self._http.post(INTAKE_PATH, json=send.body)
            while response.status_code == 503 and self.tally.unavailable < 10 * self._total:
                self.tally.unavailable += 1
                self.tally.retried.add(str(send.body["event_id"]))
                response = await self._http.post(INTAKE_PATH, json=send.body)
        except Exception as failure:  # counted, never fatal: the tally shows it
            error = f"{type(failure).__name__}: {failure}"
        self.tally.latencies.append(time.perf_counter() - began)
        self.tally.record(send, response, error)
        self._done += 1
        if self._done % 1000 == 0:
            say(f"{self._done} of {self._total} requests answered")


# ------------------------------------------------------------------ checking


@dataclass
class Findings:
    cases: int = 0
    lost_cases: list[str] = field(default_factory=list)
    lost_events: list[str] = field(default_factory=list)
    opened_not_once: list[str] = field(default_factory=list)
    conversation_not_once: list[str] = field(default_factory=list)
    runs_per_workflow: Counter[int] = field(default_factory=Counter)
    duplicated_runs: list[str] = field(default_factory=list)
    missing_runs: list[str] = field(default_factory=list)
    run_status: Counter[str] = field(default_factory=Counter)
    counted_runs: int = 0


async def check_store(env: BenchEnv, prefix: str, accepted: set[str], findings: Findings) -> None:
    """Every accepted case exists once, with its event, one opening and one open task."""
    pool = env.pool
    findings.cases = await pool.fetchval(
        "SELECT count(*) FROM cases WHERE case_id LIKE $1", f"{prefix}%"
    )
    wanted = sorted(accepted)
    rows = await pool.fetch(
        "SELECT w.case_id FROM unnest($1::text[]) AS w(case_id) "
        "LEFT JOIN cases c USING (case_id) WHERE c.case_id IS NULL",
        wanted,
    )
    findings.lost_cases = [row["case_id"] for row in rows]
    rows = await pool.fetch(
        "SELECT w.case_id FROM unnest($1::text[]) AS w(case_id) "
        "LEFT JOIN status_events s ON s.event_id = w.case_id || '-open' "
        "WHERE s.event_id IS NULL",
        wanted,
    )
    findings.lost_events = [row["case_id"] for row in rows]
    rows = await pool.fetch(
        "SELECT w.case_id FROM unnest($1::text[]) AS w(case_id) "
        "LEFT JOIN timeline t ON t.case_id = w.case_id AND t.kind = 'opened' "
        "GROUP BY w.case_id HAVING count(t.case_id) <> 1",
        wanted,
    )
    findings.opened_not_once = [row["case_id"] for row in rows]
    rows = await pool.fetch(
        "SELECT w.case_id FROM unnest($1::text[]) AS w(case_id) "
        "LEFT JOIN tasks t ON t.case_id = w.case_id AND t.status = 'open' "
        "AND t.kind = 'information_conversation' "
        "GROUP BY w.case_id HAVING count(t.task_id) <> 1",
        wanted,
    )
    findings.conversation_not_once = [row["case_id"] for row in rows]


async def check_temporal(
    client: Client, task_queue: str, accepted: set[str], findings: Findings
) -> None:
    """Exactly one run per case's workflow id, read from visibility (retried until it settles).

    Visibility is eventually consistent: the listing is repeated until it holds a run for
    every accepted case or stops growing.
    """
    query = f"WorkflowType = 'CaseWorkflow' AND TaskQueue = '{task_queue}'"
    expected = {workflow_id(case_id) for case_id in accepted}
    runs: dict[str, list[str]] = defaultdict(list)
    status: Counter[str] = Counter()
    for _attempt in range(30):
        runs.clear()
        status.clear()
        async for execution in client.list_workflows(query, page_size=1000):
            runs[execution.id].append(execution.run_id)
            state = execution.status or WorkflowExecutionStatus.RUNNING
            status[state.name.lower()] += 1
        if expected <= runs.keys():
            break
        await asyncio.sleep(2)
    counted = await client.count_workflows(query)
    findings.counted_runs = counted.count
    findings.runs_per_workflow = Counter(len(ids) for ids in runs.values())
    findings.duplicated_runs = sorted(key for key, ids in runs.items() if len(ids) > 1)
    findings.missing_runs = sorted(expected - runs.keys())
    findings.run_status = status


async def terminate_all(client: Client, accepted: set[str], concurrency: int) -> None:
    """On an external server the open cases would stay; end them (ours is thrown away)."""
    gate = asyncio.Semaphore(concurrency)

    async def end(case_id: str) -> None:
        async with gate:
            try:
                await client.get_workflow_handle(workflow_id(case_id)).terminate("benchmark")
            except RPCError:
                pass

    await asyncio.gather(*(end(case_id) for case_id in accepted))


# ------------------------------------------------------------------ the run


def _sample(items: Sequence[str]) -> str:
    return ", ".join(items[:5]) + (" …" if len(items) > 5 else "")


async def raw_start_rate(client: Client, starts: int, concurrency: int, *, clean_up: bool) -> float:
    """Workflow starts per second straight to the server, no API, no worker: the ceiling the
    intake's rate is measured against (each intake request starts one workflow at most)."""
    prefix = f"R{uuid.uuid4().hex[:6]}-"
    queue = f"raw-starts-{prefix}"  # no worker polls it: the runs only wait, then are ended
    pending = iter(range(starts))
    started: list[str] = []

    async def starter() -> None:
        for i in pending:
            handle = await client.start_workflow(
                "RawStart", id=f"{prefix}{i:05d}", task_queue=queue
            )
            started.append(handle.id)

    begin = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(concurrency)))
    wall = time.perf_counter() - begin
    if clean_up:
        for batch in range(0, len(started), concurrency):
            await asyncio.gather(
                *(
                    client.get_workflow_handle(run).terminate("benchmark")
                    for run in started[batch : batch + concurrency]
                ),
                return_exceptions=True,
            )
    return starts / wall


async def bench(events: int, concurrency: int, duplicates: float, seed: int) -> int:
    prefix = f"I{uuid.uuid4().hex[:6]}-"
    case_ids = [f"{prefix}{i:05d}" for i in range(events)]
    sends = [
        Send(case_id, opening_event(case_id, f"{case_id}-open").model_dump(mode="json"), False)
        for case_id in case_ids
    ]
    chooser = random.Random(seed)
    resent = chooser.sample(case_ids, round(events * duplicates))
    racing, later = set(resent[::2]), set(resent[1::2])

    async with bench_environment("intake") as env:
        app = create_app(env.settings, client=env.client, pool=env.pool)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            # The back office's API token (since accounts came, intake needs one).
            token = await app.state.accounts.create_api_token("bench")
            http = httpx.AsyncClient(
                transport=transport,
                base_url="http://bench",
                timeout=120,
                headers={"authorization": f"Bearer {token}"},
            )
            async with http:
                sender = Sender(http, concurrency, events + len(resent))
                sender.plan(sends, racing, later)
                say(
                    f"{events} new-case events and {len(resent)} re-sends "
                    f"({len(racing)} racing the original), {concurrency} at a time"
                )
                wall = await sender.run()
        tally = sender.tally
        say("checking PostgreSQL and Temporal")
        findings = Findings()
        await check_store(env, prefix, tally.accepted_cases, findings)
        await check_temporal(env.client, env.settings.task_queue, tally.accepted_cases, findings)
        if not env.own_temporal:
            await terminate_all(env.client, tally.accepted_cases, concurrency)
        say(f"{events} workflow starts straight to the server, {concurrency} at a time")
        raw_rate = await raw_start_rate(
            env.client, events, concurrency, clean_up=not env.own_temporal
        )

    requests = events + len(resent)
    # Twice duplicate=false is one delivery for a racing pair (the re-send attached to the
    # original's update); none is one too when a 503 came first (the event went in before its
    # deadline ran out, the repeat found it). The store and Temporal tell whether it went in once.
    not_fresh_once = sorted(
        case
        for case in case_ids
        if not (0 if f"{case}-open" in tally.retried else 1)
        <= tally.fresh[f"{case}-open"]
        <= (2 if case in racing else 1)
    )
    lost = sorted(set(findings.lost_cases) | set(findings.lost_events) | set(findings.missing_runs))
    duplicated = sorted(
        set(findings.duplicated_runs)
        | set(findings.opened_not_once)
        | set(findings.conversation_not_once)
        | {case for case in case_ids if tally.fresh[f"{case}-open"] > 1 and case not in racing}
    )
    rows: list[tuple[str, object]] = [
        (
            "events / re-sends (racing / later) / concurrency",
            f"{events} / {len(resent)} ({len(racing)} / {len(later)}) / {concurrency}",
        ),
        ("wall time", f"{wall:.1f} s"),
        ("requests/s", f"{requests / wall:.1f}"),
        ("new cases/s", f"{events / wall:.1f}"),
        ("raw workflow starts/s (same server, no API, no worker)", f"{raw_rate:.1f}"),
        ("new cases/s ÷ raw starts/s", f"{events / wall / raw_rate:.2f}"),
        (
            "request latency p50 / p99",
            f"{ms(percentile(tally.latencies, 50))} / {ms(percentile(tally.latencies, 99))}",
        ),
    ]
    rows += [(f"answers: {label}", count) for label, count in sorted(tally.answers.items())]
    rows += [
        ("503 answers, sent again", tally.unavailable),
        ("events answered 503 first (then duplicate=true is right)", len(tally.retried)),
        (
            "events without one duplicate=false (a racing pair: one or two; none after a 503)",
            len(not_fresh_once),
        ),
        ("cases opened (rows in cases)", findings.cases),
        ("cases lost (accepted, but no case/event/run)", len(lost)),
        ("cases duplicated (runs, openings or tasks ≠ 1)", len(duplicated)),
        ("workflow runs listed per case id", dict(sorted(findings.runs_per_workflow.items()))),
        ("workflow runs counted (count_workflows)", findings.counted_runs),
        ("workflow runs by status", dict(sorted(findings.run_status.items()))),
        ("errors", len(tally.errors)),
    ]
    print_table("Intake benchmark", rows)
    for label, items in (
        ("lost", lost),
        ("duplicated", duplicated),
        ("not accepted exactly once", not_fresh_once),
        ("errors", tally.errors),
    ):
        if items:
            print(f"{label}: {_sample(items)}", file=sys.stderr)
    ok = not (lost or duplicated or tally.errors or not_fresh_once) and findings.cases == events
    print(f"\ntarget (nothing lost, nothing duplicated, no errors): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="new-case events to send")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument(
        "--duplicates", type=float, default=0.05, help="fraction of events sent a second time"
    )
    parser.add_argument("--seed", type=int, default=1, help="which events are re-sent")
    args = parser.parse_args(argv)
    if args.events < 1 or args.concurrency < 1 or not 0 <= args.duplicates <= 1:
        parser.error("--events and --concurrency ≥ 1, 0 ≤ --duplicates ≤ 1")
    return asyncio.run(bench(args.events, args.concurrency, args.duplicates, args.seed))


if __name__ == "__main__":
    sys.exit(main())
