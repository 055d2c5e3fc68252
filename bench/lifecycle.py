"""Full case lifecycles against a trivial baseline of the same shape, on the same server.

``python -m bench.lifecycle [--cases 200] [--concurrency 20] [--rounds 2] [--baseline-upserts]``

Each case goes through the API's code path (:class:`service.cases.CaseService`): the opening
event (update-with-start), then each human task looked up in the inbox as the API does and
completed (information_conversation → referral_consent → ki_contact, which leaves the case in
follow_up), then an ``ausgereist`` event closes it as departed_voluntarily. As many
:mod:`bench.trivial` workflows run at the same concurrency on the same server, in alternating
blocks (cases, trivial, trivial, cases, ...), so that neither kind runs on a fuller server.

Absolute figures depend on the machine and its neighbours; the ratio of the two, measured in
one run, is the figure that means something (target: ≥ 0.8). Server, worker and PostgreSQL
share the cores, so the run ends with the CPU each of them spent per lifecycle: that, and the
per-activity durations read from histories, show where a case's extra time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.common import (
    BenchEnv,
    CpuMeter,
    DatabaseWrites,
    bench_environment,
    cpu_rows,
    ms,
    opening_event,
    percentile,
    print_table,
    say,
    store_size,
    today,
)
from bench.trivial import Baseline, Shape, shape_of, trivial_worker
from schemas.case import CaseResult, Outcome
from schemas.conversation import CopyDelivery, Interpreter, InterpreterMode, Participant
from schemas.events import StatusEvent
from schemas.tasks import (
    InformationConversation,
    KiContact,
    Queue,
    ReferralConsent,
    TaskCompletion,
    TaskKind,
    TaskResult,
)
from service.availability import ServiceUnavailable
from service.cases import CaseService
from service.directory import DirectoryService
from workflows.case import workflow_id

TARGET_RATIO = 0.8
_T = TypeVar("_T")


@dataclass
class Sample:
    """Latencies of one lifecycle, in seconds."""

    submits: list[float] = field(default_factory=list)
    lookups: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)
    repeats: int = 0  # calls answered "unavailable" (past the update deadline) and sent again


@dataclass
class Phase:
    """One kind of lifecycle, measured over one or more blocks; walls and CPU add up."""

    name: str
    one: Callable[[str], Awaitable[Sample]]
    wall: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    block_rates: list[float] = field(default_factory=list)  # lifecycles/s of each block
    writes: DatabaseWrites = field(default_factory=lambda: DatabaseWrites(0, 0, 0))

    def per_second(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    def all_of(self, what: Callable[[Sample], list[float]]) -> list[float]:
        return [value for sample in self.samples for value in what(sample)]

    async def run(
        self, ids: Sequence[str], concurrency: int, meter: CpuMeter, pool: asyncpg.Pool
    ) -> None:
        """Run ``one`` for every id, at most ``concurrency`` at a time; errors are counted."""
        gate = asyncio.Semaphore(concurrency)

        async def guarded(item: str) -> None:
            async with gate:
                try:
                    self.samples.append(await self.one(item))
                except Exception as error:
                    self.errors.append(f"{item}: {type(error).__name__}: {error}")

        writes_before = await DatabaseWrites.read(pool)
        before = meter.snapshot()
        began = time.perf_counter()
        done_before = len(self.samples)
        await asyncio.gather(*(guarded(item) for item in ids))
        took = time.perf_counter() - began
        self.wall += took
        self.block_rates.append((len(self.samples) - done_before) / took if took else 0.0)
        for name, spent in meter.snapshot().items():
            self.cpu[name] = self.cpu.get(name, 0.0) + spent - before.get(name, 0.0)
        self.writes += await DatabaseWrites.read(pool) - writes_before


def blocks(ids: Sequence[str], rounds: int) -> list[list[str]]:
    """``ids`` in ``rounds`` nearly equal, consecutive blocks."""
    size, extra = divmod(len(ids), rounds)
    out: list[list[str]] = []
    start = 0
    for index in range(rounds):
        end = start + size + (1 if index < extra else 0)
        out.append(list(ids[start:end]))
        start = end
    return [block for block in out if block]


# ------------------------------------------------------------------- one case


class CaseLifecycle:
    """One case from opening to departure, through :class:`CaseService` only."""

    def __init__(self, service: CaseService, client: Client, partner_id: int) -> None:
        self._service = service
        self._client = client
        self._partner_id = partner_id

    def _steps(self) -> list[tuple[TaskKind, Queue, TaskCompletion]]:
        day = today()
        return [
            (
                TaskKind.INFORMATION_CONVERSATION,
                Queue.ABH,
                InformationConversation(
                    held_on=day,
                    routes_discussed=["§25b AufenthG"],
                    perspective="none_evident",
                    language="ar",
                    interpreter=Interpreter(language="ar", mode=InterpreterMode.PRESENT),
                    participants=[Participant.PERSON],
                    record_copy=CopyDelivery.HANDED_OVER,
                    departure_letter=CopyDelivery.HANDED_OVER,
                ),
            ),
            (
                TaskKind.REFERRAL_CONSENT,
                Queue.ABH,
                ReferralConsent(interested=True, consent_signed_on=day),
            ),
            (
                TaskKind.KI_CONTACT,
                Queue.KI,
                KiContact(partner_id=self._partner_id, contacted_on=day),
            ),
        ]

    async def _answered(self, sample: Sample, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call`` until it answers, as a client does after a 503: the same request again
        attaches to the update still running, so it is carried out once. At once, without
        Retry-After's pause: the latency measured is the service's, not the pause's."""
        while True:
            try:
                return await call()
            except ServiceUnavailable:
                sample.repeats += 1
                if sample.repeats > 50:
                    raise

    async def __call__(self, case_id: str) -> Sample:
        sample = Sample()
        service = self._service
        began = time.perf_counter()
        opening = opening_event(case_id, f"{case_id}-open")
        opened = await self._answered(sample, lambda: service.submit_event(opening))
        sample.submits.append(time.perf_counter() - began)
        _expect(opened.stage == "information_conversation", f"opened in {opened.stage}")
        stage = opened.stage
        for kind, queue, completion in self._steps():
            began = time.perf_counter()
            tasks = [t for t in await self._service.open_tasks(queue, case_id) if t.kind is kind]
            sample.lookups.append(time.perf_counter() - began)
            _expect(len(tasks) == 1, f"{len(tasks)} open {kind.value} tasks in {stage}")
            began = time.perf_counter()
            task_id = tasks[0].task_id

            def complete(t: str = task_id, c: TaskCompletion = completion) -> Awaitable[TaskResult]:
                return service.complete_task(t, c)

            done = await self._answered(sample, complete)
            sample.completions.append(time.perf_counter() - began)
            stage = done.stage
        _expect(stage == "follow_up", f"in {stage} after the KI contact")
        departed = StatusEvent.model_validate(
            {
                "event_id": f"{case_id}-departed",
                "case_id": case_id,
                "status": "ausgereist",
                "effective_date": today().isoformat(),
            }
        )
        began = time.perf_counter()
        closed = await self._answered(sample, lambda: service.submit_event(departed))
        sample.submits.append(time.perf_counter() - began)
        _expect(closed.stage == "closed", f"in {closed.stage} after ausgereist")
        handle = self._client.get_workflow_handle(workflow_id(case_id), result_type=CaseResult)
        result = await handle.result()
        _expect(result.outcome is Outcome.DEPARTED_VOLUNTARILY, f"outcome {result.outcome}")
        return sample


def _spread(cases: Sequence[float], trivial: Sequence[float]) -> str:
    ratios = [c / t for c, t in zip(cases, trivial, strict=True) if t]
    if not ratios:
        return "-"
    each = " ".join(f"{r:.2f}" for r in ratios)
    return f"{each} (min {min(ratios):.2f}, max {max(ratios):.2f})"


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


# ------------------------------------------------------------- where time goes


@dataclass
class Profile:
    """Mean durations per workflow run, from histories (server timestamps)."""

    runs: int = 0
    duration: float = 0.0
    workflow_tasks: int = 0
    workflow_task_wait: float = 0.0  # scheduled → started: waiting for a poller
    workflow_task_run: float = 0.0  # started → completed: the worker's processing
    activity_wait: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    activity_run: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    activity_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, history: WorkflowHistory) -> None:
        at: dict[int, float] = {}
        activity_type: dict[int, str] = {}
        events = history.events
        for event in events:
            now = event.event_time.ToNanoseconds() / 1e9
            at[event.event_id] = now
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                activity_type[event.event_id] = name
                self.activity_count[name] += 1
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                scheduled = event.activity_task_started_event_attributes.scheduled_event_id
                self.activity_wait[activity_type[scheduled]] += now - at[scheduled]
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attrs = event.activity_task_completed_event_attributes
                self.activity_run[activity_type[attrs.scheduled_event_id]] += (
                    now - at[attrs.started_event_id]
                )
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                scheduled = event.workflow_task_started_event_attributes.scheduled_event_id
                self.workflow_task_wait += now - at[scheduled]
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                started = event.workflow_task_completed_event_attributes.started_event_id
                self.workflow_task_run += now - at[started]
                self.workflow_tasks += 1
        self.duration += at[events[-1].event_id] - at[events[0].event_id]
        self.runs += 1

    def rows(self, label: str) -> list[tuple[str, object]]:
        n = max(self.runs, 1)
        activity_total = sum(self.activity_wait.values()) + sum(self.activity_run.values())
        rows: list[tuple[str, object]] = [
            (f"{label}: runs sampled", self.runs),
            (f"{label}: first event → last event", ms(self.duration / n)),
            (
                f"{label}: workflow tasks (waiting + running)",
                f"{self.workflow_tasks / n:.0f} tasks: {ms(self.workflow_task_wait / n)} + "
                f"{ms(self.workflow_task_run / n)}",
            ),
            (
                f"{label}: activities (waiting + running)",
                f"{sum(self.activity_count.values()) / n:.0f} activities, "
                f"{ms(activity_total / n)} in all",
            ),
        ]
        for name in sorted(self.activity_count):
            count = self.activity_count[name]
            rows.append(
                (
                    f"{label}:   {name} (each)",
                    f"wait {ms(self.activity_wait[name] / count)}, "
                    f"run {ms(self.activity_run[name] / count)}",
                )
            )
        return rows


async def profile_of(client: Client, ids: Sequence[str]) -> Profile:
    profile = Profile()
    for one in ids:
        profile.add(await client.get_workflow_handle(one).fetch_history())
    return profile


# ------------------------------------------------------------------ the run


def _trivial_lifecycle(
    env: BenchEnv, baseline: Baseline, task_queue: str
) -> Callable[[str], Awaitable[Sample]]:
    async def one(workflow_id: str) -> Sample:
        latencies = await baseline.run_once(env.client, task_queue, workflow_id)
        # Updates 2..n-1 stand where the case's task completions stand.
        return Sample(submits=[latencies[0], latencies[-1]], completions=latencies[1:-1])

    return one


def _shape_rows(case: Shape, trivial: Shape) -> list[tuple[str, object]]:
    return [
        ("case workflow", case.summary()),
        ("trivial workflow", trivial.summary()),
        ("case updates", ", ".join(case.update_names)),
        ("activities per workflow (case / trivial)", f"{case.activities} / {trivial.activities}"),
        ("updates per workflow (case / trivial)", f"{case.updates} / {trivial.updates}"),
        ("timers per workflow (case / trivial)", f"{case.timers} / {trivial.timers}"),
        (
            "mean activity input (case / trivial)",
            f"{sum(case.activity_sizes) // max(case.activities, 1)} B / "
            f"{sum(trivial.activity_sizes) // max(trivial.activities, 1)} B",
        ),
    ]


async def bench(
    cases: int, concurrency: int, warmup: int, rounds: int, mirror_upserts: bool, sample: int
) -> int:
    run = uuid.uuid4().hex[:6]
    async with bench_environment("lifecycle") as env:
        service = CaseService(env.client, env.pool, env.settings)
        partners = await DirectoryService(env.pool).list_partners("Unna")
        if not partners:
            raise SystemExit("no partner in Unna in the directory: the seed migration is missing")
        lifecycle = CaseLifecycle(service, env.client, partners[0].partner_id)

        # The shape of a real case decides the baseline's shape.
        say("warm-up: one case, to read its shape from the history")
        first = f"W{run}-0000"
        await lifecycle(first)
        history = await env.client.get_workflow_handle(workflow_id(first)).fetch_history()
        case_shape = shape_of(history)
        baseline = Baseline.mirroring(case_shape, mirror_upserts=mirror_upserts)

        trivial_queue = f"lifecycle-trivial-{run}"
        async with trivial_worker(env.case_worker, trivial_queue):
            say(f"warm-up: {warmup} cases and {warmup} trivial workflows (not counted)")
            await baseline.run_once(env.client, trivial_queue, f"trivial-W{run}-0000")
            trivial_shape = shape_of(
                await env.client.get_workflow_handle(f"trivial-W{run}-0000").fetch_history()
            )
            trivial = _trivial_lifecycle(env, baseline, trivial_queue)
            warm = [f"W{run}-{i:04d}" for i in range(1, warmup)]
            await Phase("warm-up", lifecycle).run(warm, concurrency, env.cpu, env.pool)
            await Phase("warm-up", trivial).run(
                [f"trivial-{w}" for w in warm], concurrency, env.cpu, env.pool
            )

            # Blocks in the order ABBA (ABBAAB...): the server's database grows during the run,
            # and whatever runs later pays for that; alternating cancels the drift.
            case_ids = [f"B{run}-{i:05d}" for i in range(cases)]
            trivial_ids = [f"trivial-B{run}-{i:05d}" for i in range(cases)]
            case_phase = Phase("cases", lifecycle)
            trivial_phase = Phase("trivial", trivial)
            pairs = list(zip(blocks(case_ids, rounds), blocks(trivial_ids, rounds), strict=True))
            store_before = await store_size(env.pool)
            for index, (case_block, trivial_block) in enumerate(pairs):
                order = [(case_phase, case_block), (trivial_phase, trivial_block)]
                for phase, block in order if index % 2 == 0 else order[::-1]:
                    say(
                        f"round {index + 1}/{len(pairs)}: {len(block)} {phase.name}, "
                        f"{concurrency} at a time"
                    )
                    await phase.run(block, concurrency, env.cpu, env.pool)

        store_after = await store_size(env.pool)
        closed = await env.pool.fetchval(
            "SELECT count(*) FROM cases WHERE case_id LIKE $1 "
            "AND stage = 'closed' AND outcome = 'departed_voluntarily'",
            f"B{run}-%",
        )
        say(f"reading {sample} histories of each kind for the time profile")
        case_profile = await profile_of(
            env.client, [workflow_id(c) for c in case_ids[: min(sample, cases)]]
        )
        trivial_profile = await profile_of(env.client, trivial_ids[: min(sample, cases)])

    ratio = case_phase.per_second() / trivial_phase.per_second() if trivial_phase.wall else 0.0
    print_table("Shape (from the first history of each)", _shape_rows(case_shape, trivial_shape))
    rows: list[tuple[str, object]] = [
        (
            "cases / concurrency / warm-up / rounds",
            f"{cases} / {concurrency} / {warmup} / {len(pairs)}",
        ),
        ("baseline mirrors SA upserts", "yes" if mirror_upserts else "no"),
        ("cases/s", f"{case_phase.per_second():.2f} ({case_phase.wall:.1f} s)"),
        ("trivial/s", f"{trivial_phase.per_second():.2f} ({trivial_phase.wall:.1f} s)"),
        (
            "ratio (cases/s ÷ trivial/s)",
            f"{ratio:.2f} (target ≥ {TARGET_RATIO}: "
            + ("met)" if ratio >= TARGET_RATIO else "NOT met)"),
        ),
        # The same ratio for each round (a block of cases beside its block of trivial runs):
        # how far the machine's neighbours move it within this run.
        ("ratio per round", _spread(case_phase.block_rates, trivial_phase.block_rates)),
    ]
    for phase in (case_phase, trivial_phase):
        completions = phase.all_of(lambda s: s.completions)
        submits = phase.all_of(lambda s: s.submits)
        rows += [
            (
                f"{phase.name}: task completion p50 / p99",
                f"{ms(percentile(completions, 50))} / {ms(percentile(completions, 99))} "
                f"(n={len(completions)})",
            ),
            (
                f"{phase.name}: opening+closing event p50 / p99",
                f"{ms(percentile(submits, 50))} / {ms(percentile(submits, 99))} (n={len(submits)})",
            ),
        ]
    lookups = case_phase.all_of(lambda s: s.lookups)
    rows += [
        (
            "cases: inbox lookup p50 / p99",
            f"{ms(percentile(lookups, 50))} / {ms(percentile(lookups, 99))}",
        ),
        (
            "cases: calls past the update deadline, sent again",
            sum(sample.repeats for sample in case_phase.samples),
        ),
        ("errors (cases / trivial)", f"{len(case_phase.errors)} / {len(trivial_phase.errors)}"),
        ("closed departed_voluntarily in PostgreSQL", f"{closed} of {cases}"),
        ("cases: case store writes", case_phase.writes.per_run(cases)),
        (
            "cases: case store per closed case",
            f"{(store_after[0] - store_before[0]) / cases:.0f} rows,"
            f" {(store_after[1] - store_before[1]) / cases / 1024:.1f} KB",
        ),
        ("trivial: case store writes", trivial_phase.writes.per_run(cases)),
    ]
    print_table("Lifecycle benchmark", rows)
    print_table(
        "Where time goes (mean per workflow run)",
        case_profile.rows("case") + trivial_profile.rows("trivial"),
    )
    if env.cpu.available():
        print_table(
            "CPU during each phase (per lifecycle, and cores busy on average)",
            cpu_rows("cases", case_phase.cpu, cases, case_phase.wall)
            + cpu_rows("trivial", trivial_phase.cpu, cases, trivial_phase.wall),
        )
    for error in (case_phase.errors + trivial_phase.errors)[:10]:
        print(f"error: {error}", file=sys.stderr)
    failed = bool(case_phase.errors or trivial_phase.errors) or closed != cases
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__)
    parser.add_argument("--cases", type=int, default=200, help="lifecycles of each kind")
    parser.add_argument("--concurrency", type=int, default=20, help="lifecycles at a time")
    parser.add_argument("--warmup", type=int, default=5, help="uncounted runs of each kind")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternating blocks of each kind (ABBA...), against drift during the run",
    )
    parser.add_argument(
        "--baseline-upserts",
        action="store_true",
        help="let the baseline upsert search attributes as often as a case does",
    )
    parser.add_argument(
        "--profile-sample", type=int, default=20, help="histories read for the time profile"
    )
    args = parser.parse_args(argv)
    if min(args.cases, args.concurrency, args.warmup, args.rounds) < 1:
        parser.error("--cases, --concurrency, --warmup and --rounds must be at least 1")
    return asyncio.run(
        bench(
            args.cases,
            args.concurrency,
            args.warmup,
            args.rounds,
            args.baseline_upserts,
            args.profile_sample,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
