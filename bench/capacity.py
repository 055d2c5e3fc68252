"""Open cases in bulk and measure what each costs, with the worker in a process of its own.

``python -m bench.capacity [--cases 10000] [--concurrency 50] [--caches 250,1000]``

The figures the sizing in docs/operations.md ("Sizing") is computed from:

* **Worker memory.** A worker process (``python -m runtime.main --role worker``, as in
  production) serves the cases. Its resident memory (VmRSS, and the peak VmHWM) is read after
  the cases are open and quiet, then again after every case was queried once (each query puts
  the case into the worker's cache, evicting the oldest): that is the memory of a full cache,
  and the query rate is the rate of replays (a case not in the cache is replayed from its
  history). For each further cache size given (``CASE_WORKER_CACHED_WORKFLOWS``) a fresh worker
  is started and twice its cache in cases are queried; the difference per cached case is the
  memory one cached case costs.
* **Per open case:** history events and bytes (a sample of histories), rows and bytes in the
  case store (every table's ``pg_total_relation_size`` over the cases), the Temporal server's
  database on disk (the dev server's SQLite file), and the CPU the opening cost (worker,
  server, PostgreSQL).

Every case waits for its information conversation (the first human task), which is where a
real caseload spends most of its time: open, with timers, nothing running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from bench.common import (
    ROOT,
    BenchEnv,
    DatabaseWrites,
    bench_environment,
    cpu_rows,
    opening_event,
    print_table,
    say,
    store_size,
)
from config.settings import Settings
from schemas.case import Stage
from service.availability import ServiceUnavailable
from service.cases import CaseService
from workflows.case import CaseWorkflow, workflow_id

TARGET_RSS_MB = 500


def _memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc (Linux only)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class WorkerProcess:
    """``runtime.main --role worker`` against the benchmark's servers, on its task queue."""

    def __init__(self, settings: Settings, cache: int, folder: Path) -> None:
        assert settings.master_keys is not None
        environment = {
            **os.environ,
            "DATABASE_URL": str(settings.database_url),
            "TEMPORAL_ADDRESS": str(settings.temporal_address),
            "CASE_TASK_QUEUE": settings.task_queue,
            "CASE_MASTER_KEYS": settings.master_keys.get_secret_value(),
            "CASE_DATA_DIR": str(folder),
            "CASE_WORKER_CACHED_WORKFLOWS": str(cache),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "runtime.main", "--role", "worker", "--log-level", "WARNING"],
            cwd=ROOT,
            env=environment,
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def memory_mb(self) -> tuple[float, float]:
        return _memory_mb(self._process.pid)

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self._process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


async def _open_all(service: CaseService, ids: Sequence[str], concurrency: int) -> int:
    """Open every case (a 503 is retried after a pause); the number of retries."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for case_id in ids:
        queue.put_nowait(case_id)
    retries = 0
    done = 0

    async def opener() -> None:
        nonlocal retries, done
        while not queue.empty():
            case_id = queue.get_nowait()
            event = opening_event(case_id, f"{case_id}-open")
            while True:
                try:
                    await service.submit_event(event)
                    break
                except ServiceUnavailable:
                    retries += 1
                    await asyncio.sleep(1)
            done += 1
            if done % 1000 == 0:
                say(f"{done} cases open")

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(opener())
    return retries


async def _until_quiet(env: BenchEnv, prefix: str, cases: int) -> None:
    """Until every case has its conversation task: the worker has nothing left to do."""
    while True:
        waiting = await env.pool.fetchval(
            "SELECT count(*) FROM tasks WHERE case_id LIKE $1 AND kind ="
            " 'information_conversation' AND status = 'open'",
            f"{prefix}%",
        )
        if waiting >= cases:
            return
        await asyncio.sleep(2)


async def _query_all(client: Client, ids: Sequence[str], concurrency: int) -> tuple[float, int]:
    """Ask every case its stage once: each is loaded into the worker's cache.

    (seconds, queries that failed): a failure is counted, not raised, so the table still says
    what the rest measured; any failure fails the benchmark.
    """
    began = time.perf_counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for case_id in ids:
        queue.put_nowait(case_id)
    failed = 0

    async def asker() -> None:
        nonlocal failed
        while not queue.empty():
            handle: WorkflowHandle[CaseWorkflow, object] = client.get_workflow_handle_for(
                CaseWorkflow.run, workflow_id(queue.get_nowait())
            )
            try:
                stage = await handle.query(CaseWorkflow.stage, rpc_timeout=timedelta(seconds=30))
            except (WorkflowQueryFailedError, RPCError):  # a deadlock, or no answer in 30 s
                failed += 1
                continue
            assert stage == Stage.INFORMATION_CONVERSATION.value, stage

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(asker())
    return time.perf_counter() - began, failed


async def _history_sizes(client: Client, ids: Sequence[str]) -> tuple[float, float]:
    """Mean history events and bytes of the sampled cases."""
    events = 0
    size = 0
    for case_id in ids:
        history = await client.get_workflow_handle(workflow_id(case_id)).fetch_history()
        events += len(history.events)
        size += sum(event.ByteSize() for event in history.events)
    return events / len(ids), size / len(ids)


def _temporal_disk_bytes(env: BenchEnv) -> int | None:
    """The dev server's SQLite files (database and WAL) in the benchmark's folder."""
    folder = env.cpu.folder
    files = [p for p in folder.rglob("*") if p.is_file() and ".db" in p.name]
    return sum(p.stat().st_size for p in files) if files else None


async def bench(cases: int, concurrency: int, caches: Sequence[int], sample: int) -> int:
    run = uuid.uuid4().hex[:6]
    prefix = f"C{run}-"
    ids = [f"{prefix}{i:05d}" for i in range(cases)]
    async with bench_environment("capacity") as env:
        # A queue of its own: the benchmark process runs a worker on env.settings.task_queue.
        settings = env.settings.model_copy(update={"task_queue": f"capacity-{run}"})
        service = CaseService(env.client, env.pool, settings)
        folder = env.cpu.folder / "worker"
        rows: list[tuple[str, object]] = [("cases open", cases)]
        store_before = await store_size(env.pool)
        temporal_before = _temporal_disk_bytes(env) or 0
        per_cache: list[tuple[int, float, float]] = []
        failures = 0
        for index, cache in enumerate(caches):
            say(f"worker with a cache of {cache} case runs")
            worker = WorkerProcess(settings, cache, folder)
            try:
                await asyncio.sleep(5)
                if index == 0:
                    writes_before = await DatabaseWrites.read(env.pool)
                    cpu_before = env.cpu.snapshot()
                    worker_cpu_before = worker.cpu_seconds()
                    began = time.perf_counter()
                    retries = await _open_all(service, ids, concurrency)
                    await _until_quiet(env, prefix, cases)
                    wall = time.perf_counter() - began
                    worker_cpu = worker.cpu_seconds() - worker_cpu_before
                    spent = {
                        name: env.cpu.snapshot()[name] - cpu_before.get(name, 0.0)
                        for name in cpu_before
                    }
                    writes = await DatabaseWrites.read(env.pool) - writes_before
                    rss, peak = worker.memory_mb()
                    rows += [
                        ("opening: wall time", f"{wall:.0f} s ({cases / wall:.1f} cases/s)"),
                        ("opening: 503s retried", retries),
                        ("opening: worker CPU per case", f"{worker_cpu / cases * 1000:.1f} ms"),
                        *cpu_rows("opening", spent, cases, wall),
                        ("opening: case store writes", writes.per_run(cases)),
                        (f"worker RSS after opening (cache {cache})", f"{rss:.0f} MB"),
                    ]
                    for row in rows:  # now, too: a later failure must not lose them
                        say(" = ".join(str(part) for part in row))
                # The service's cache (the first) sees every case, as after a restart; a
                # larger one only needs to be filled for the slope of memory per case.
                asked = ids if index == 0 else ids[: min(cases, 2 * cache)]
                say(f"querying {len(asked)} cases once (cache {cache})")
                queried, failed = await _query_all(env.client, asked, concurrency)
                failures += failed
                rss, peak = worker.memory_mb()
                per_cache.append((cache, rss, peak))
                rows.append(
                    (
                        f"worker RSS, {len(asked)} cases queried (cache {cache})",
                        f"{rss:.0f} MB, peak {peak:.0f} MB ({queried:.0f} s,"
                        f" {len(asked) / queried:.0f} queries/s, {failed} failed)",
                    )
                )
                say(" = ".join(str(part) for part in rows[-1]))
            finally:
                worker.stop()
        store_after = await store_size(env.pool)
        temporal_after = _temporal_disk_bytes(env) or 0
        events, size = await _history_sizes(env.client, ids[:sample])

    rows += [
        ("history per open case (sample)", f"{events:.0f} events, {size / 1024:.1f} KB"),
        (
            "case store per open case",
            f"{(store_after[0] - store_before[0]) / cases:.1f} rows,"
            f" {(store_after[1] - store_before[1]) / cases / 1024:.1f} KB",
        ),
        (
            "Temporal database per open case (dev server, SQLite)",
            f"{(temporal_after - temporal_before) / cases / 1024:.1f} KB",
        ),
    ]
    if len(per_cache) >= 2:
        (big, big_rss, _), (small, small_rss, _) = per_cache[0], per_cache[-1]
        if big != small:
            rows.append(
                (
                    "memory per cached case run",
                    f"{(big_rss - small_rss) / (big - small) * 1024:.0f} KB",
                )
            )
    print_table(f"Capacity: {cases} open cases", rows)
    # The target is the service's own cache size; larger ones are measured for the slope.
    default = Settings.model_fields["worker_cached_workflows"].default
    peaks = [peak for cache, _, peak in per_cache if cache <= default] or [
        peak for _, _, peak in per_cache
    ]
    worst = max(peaks)
    print(
        f"\nworker peak RSS with a cache of at most {default}: {worst:.0f} MB"
        f" (target < {TARGET_RSS_MB} MB); queries failed: {failures}"
    )
    return 0 if worst < TARGET_RSS_MB and failures == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--caches",
        default="250,1000",
        help="cache sizes to measure, the first also opens the cases (default: 250,1000)",
    )
    parser.add_argument("--sample", type=int, default=20, help="histories read for their size")
    args = parser.parse_args(argv)
    caches = [int(part) for part in args.caches.split(",") if part.strip()]
    return asyncio.run(bench(args.cases, args.concurrency, caches, args.sample))


if __name__ == "__main__":
    sys.exit(main())
