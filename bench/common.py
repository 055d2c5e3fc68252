"""What both benchmarks share: fresh servers, a running case worker, percentiles, a table.

A benchmark is only comparable with itself when it starts from the same state every time, so
:func:`bench_environment` starts on *fresh* servers: a new embedded PostgreSQL and a new
Temporal dev server (SQLite with the service's WAL pragmas, headless, on a free port) in a
throw-away folder ``.data/bench-<uuid>``, removed afterwards. With ``DATABASE_URL`` /
``TEMPORAL_ADDRESS`` set it uses those servers instead, but still a new database of its own
(dropped afterwards) and a task queue of its own, so it never touches the service's data.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import math
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from config.settings import Settings
from protection import protect
from protection.master import KeyRingData
from runtime.embedded import HOST, embedded_postgres, temporal_dev_server
from runtime.worker import build_worker
from schemas.events import StatusEvent
from schemas.local_time import BERLIN
from service.temporal import connect, ensure_search_attributes
from store.db import open_pool
from store.migrate import apply_migrations

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchEnv:
    """Everything a benchmark needs; ``settings.task_queue`` is the case worker's own queue.

    ``case_worker`` is exposed so a baseline worker can copy its configuration (pollers,
    slots, sandbox): a comparison is only fair when both workers are set up alike.
    """

    client: Client
    pool: asyncpg.Pool
    settings: Settings
    case_worker: Worker
    own_temporal: bool  # False: an external server, where what we start must be cleaned up
    cpu: CpuMeter


def free_port() -> int:
    """A TCP port nobody listens on right now (the dev server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@contextlib.asynccontextmanager
async def _fresh_database(server_dsn: str) -> AsyncIterator[str]:
    """A new, empty database on ``server_dsn``'s server, dropped on exit."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_dsn, name)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def bench_environment(label: str = "bench") -> AsyncIterator[BenchEnv]:
    """Fresh servers, a migrated database, search attributes, and a case worker running.

    Everything is stopped (and the temporary folder removed) on exit, also on Ctrl-C.
    """
    base = Settings()
    # As `manage.py run` does: the sandbox re-imports workflows/ for every run, and without
    # bytecode (PYTHONDONTWRITEBYTECODE) it would compile them from source each time.
    compileall.compile_dir(ROOT / "workflows", quiet=1)
    data_dir = ROOT / ".data" / f"bench-{uuid.uuid4().hex[:12]}"
    try:
        async with contextlib.AsyncExitStack() as stack:
            server_dsn = base.database_url
            if server_dsn is None:
                say(f"starting embedded PostgreSQL in {data_dir.relative_to(ROOT)}")
                server_dsn = stack.enter_context(embedded_postgres(data_dir))
            address = base.temporal_address
            if address is None:
                say("starting the Temporal dev server (SQLite, WAL pragmas, headless)")
                address = await stack.enter_async_context(
                    temporal_dev_server(
                        data_dir, free_port(), None, namespace=base.temporal_namespace
                    )
                )
            dsn = await stack.enter_async_context(_fresh_database(server_dsn))
            pool = await stack.enter_async_context(open_pool(dsn))
            await apply_migrations(pool)
            client = await connect(address, base.temporal_namespace)
            await ensure_search_attributes(client, base.temporal_namespace)
            settings = base.model_copy(
                update={
                    "task_queue": f"{label}-cases-{uuid.uuid4().hex[:8]}",
                    "database_url": dsn,
                    "temporal_address": address,
                    # The servers are this run's own: so is the ring (one process holds it).
                    "master_keys": base.master_keys or SecretStr(KeyRingData.generate().to_json()),
                }
            )
            # Every payload encrypted, as in production; the trivial baseline's worker copies
            # this client, so both pay the codec and the ratio shows the workflow's own cost.
            client = protect(client, pool, settings)
            worker = build_worker(client, pool, settings, task_queue=settings.task_queue)
            await stack.enter_async_context(worker)
            yield BenchEnv(
                client, pool, settings, worker, base.temporal_address is None, CpuMeter(data_dir)
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure printed was really measured)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def print_table(title: str, rows: Sequence[tuple[str, object]]) -> None:
    """Two aligned columns under a title; values are printed as given."""
    width = max((len(label) for label, _ in rows), default=0)
    print(f"\n{title}")
    print("-" * len(title))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    sys.stdout.flush()


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- events

# Fictitious, in the ABH's jurisdiction (Unna has partners in the seeded directory).
PERSON: dict[str, object] = {
    "given_name": "Benchvorname",
    "family_name": "Benchnachname",
    "date_of_birth": "1990-04-01",
    "nationality": "IRQ",
    "language": "ar",
    "phone": "+49 2303 123456",
    "address": {"street": "Bahnhofstraße 1", "postal_code": "59423", "town": "Unna"},
}


def today() -> date:
    """The workflow checks dates against Berlin's calendar, so the benchmark uses it too."""
    return datetime.now(BERLIN).date()


def opening_event(case_id: str, event_id: str) -> StatusEvent:
    """A status event that opens a new case: obliged to leave, 90 days' deadline, in Unna."""
    day = today()
    return StatusEvent.model_validate(
        {
            "event_id": event_id,
            "case_id": case_id,
            "status": "ausreisepflichtig",
            "effective_date": day.isoformat(),
            "departure_deadline": (day + timedelta(days=90)).isoformat(),
            "person": PERSON,
        }
    )


# ------------------------------------------------------------------------ CPU


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, float, bytes]]:
    """pid → (parent pid, CPU seconds used, command line), from /proc (Linux only)."""
    found: dict[int, tuple[int, float, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[1] is the ppid; utime and stime are fields 14 and 15 of stat(5).
        found[int(entry.name)] = (
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / _TICK,
            cmdline,
        )
    return found


def _busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (not idle, not iowait) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICK


class CpuMeter:
    """Who used the two cores: this process, the Temporal server, PostgreSQL, the rest.

    Server and worker share the cores, so a slower workflow is often just a workflow that
    needs more CPU somewhere; CPU seconds per lifecycle show where. The embedded servers are
    recognised by their data folder on the command line and counted with their children
    (PostgreSQL's backends). Exited processes are not counted; the pool keeps its backends.
    """

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir
        self._marker = os.fsencode(str(data_dir.resolve()))
        self._me = os.getpid()

    def available(self) -> bool:
        return Path("/proc/stat").exists()

    def snapshot(self) -> dict[str, float]:
        if not self.available():
            return {}
        processes = _processes()
        roots: dict[int, str] = {self._me: "benchmark process (worker, client, API)"}
        for pid, (_, _, cmdline) in processes.items():
            if self._marker in cmdline:
                roots[pid] = "PostgreSQL" if b"postgres" in cmdline else "Temporal server"
        used: dict[str, float] = {label: 0.0 for label in roots.values()}
        for pid, (_, cpu, _) in processes.items():
            ancestor = pid
            while ancestor not in roots and ancestor in processes and ancestor > 1:
                ancestor = processes[ancestor][0]
            if ancestor in roots:
                used[roots[ancestor]] += cpu
        used["everything else on the machine"] = _busy_seconds() - sum(used.values())
        return used


def cpu_rows(
    label: str, spent: dict[str, float], runs: int, wall: float
) -> list[tuple[str, object]]:
    """CPU seconds per workflow run and cores busy on average, per process group."""
    return [
        (f"{label}: {name}", f"{cpu / runs * 1000:.0f} ms CPU per run, {cpu / wall:.2f} cores")
        for name, cpu in spent.items()
    ]


@dataclass(frozen=True)
class DatabaseWrites:
    """What the case store wrote: commits, rows and WAL bytes, from PostgreSQL's own counters.

    These are what the sizing (docs/operations.md) turns into IOPS: every commit flushes the
    WAL once (group commit may merge a few), and the WAL's bytes are what reaches the disk.
    Commits and rows count this database only; the WAL is the whole server's, which is the
    benchmark's own when it started its own (with ``DATABASE_URL`` set, others' writes count).
    """

    commits: int
    rows: int
    wal_bytes: int

    @classmethod
    async def read(cls, pool: asyncpg.Pool) -> DatabaseWrites:
        async with pool.acquire() as connection:
            # The cumulative statistics are flushed by each backend at most once a second.
            await asyncio.sleep(1.1)
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            row = await connection.fetchrow(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted AS rows,"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS wal"
                " FROM pg_stat_database WHERE datname = current_database()"
            )
        assert row is not None
        return cls(int(row["xact_commit"]), int(row["rows"]), int(row["wal"]))

    def __sub__(self, other: DatabaseWrites) -> DatabaseWrites:
        return DatabaseWrites(
            self.commits - other.commits, self.rows - other.rows, self.wal_bytes - other.wal_bytes
        )

    def __add__(self, other: DatabaseWrites) -> DatabaseWrites:
        return DatabaseWrites(
            self.commits + other.commits, self.rows + other.rows, self.wal_bytes + other.wal_bytes
        )

    def per_run(self, runs: int) -> str:
        return (
            f"{self.commits / runs:.0f} commits, {self.rows / runs:.0f} rows,"
            f" {self.wal_bytes / runs / 1024:.0f} KB WAL per run"
        )


async def store_size(pool: asyncpg.Pool) -> tuple[int, int]:
    """(rows, bytes) of every table of the case store, indexes and TOAST included."""
    await pool.execute("ANALYZE")
    rows = await pool.fetch(
        "SELECT greatest(c.reltuples, 0)::bigint AS rows, pg_total_relation_size(c.oid) AS bytes"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname = 'public'"
    )
    return sum(r["rows"] for r in rows), sum(r["bytes"] for r in rows)
