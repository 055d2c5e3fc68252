"""Liveness and readiness of one process (``/healthz``, ``/readyz``).

Alive means the process answers at all; nothing is asked of anyone else, so a database
outage never gets a healthy process restarted. Ready means this process can do its work now:
PostgreSQL answers, the Temporal frontend answers its health check, the schema is what this
code expects, and the master key ring holds every master key the database's data keys are
wrapped under (a process with another ring would fail every workflow task with "master key …
is not in the key ring"). A worker process adds its own check: the Temporal worker runs. The
API reports whether any worker polls its task queue, but is ready without one: no worker is
no outage of the API (the intake answers 503 with Retry-After until one returns), and an
orchestrator that took every API out of service for it would turn that into one.

Every check has the same short deadline and they run at once, so a readiness probe answers
within that deadline even when a server hangs. A reason names what failed without host
names, paths or any case data: a failed connection is named by its error type only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from protection.keyring import KeyRing
from schemas.health import Check, CheckResult, Readiness
from store.migrate import migration_state

CheckFn = Callable[[], Awaitable[str | None]]
"""A check: None when it passed (or a remark), raising or returning via :class:`Failed`."""


class Failed(Exception):
    """A check that found the process not ready; ``str`` is the reason shown."""


def _reason(error: BaseException) -> str:
    if isinstance(error, Failed):
        return str(error)
    if isinstance(error, RPCError):
        return f"{type(error).__name__} {error.status.name if error.status else ''}".strip()
    # Only the type: the message of a failed connection may carry host names or paths.
    return type(error).__name__


class HealthService:
    """The readiness checks of one process over its pool, Temporal client and key ring."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: Client,
        keys: KeyRing,
        *,
        deadline: timedelta = timedelta(seconds=2),
        worker_running: Callable[[], bool] | None = None,
        task_queue: str | None = None,
    ) -> None:
        self._pool = pool
        self._client = client
        self._keys = keys
        self._deadline = deadline.total_seconds()
        checks: dict[Check, CheckFn] = {
            Check.DATABASE: self._database,
            Check.TEMPORAL: self._temporal,
            Check.MIGRATIONS: self._migrations,
            Check.KEY_RING: self._key_ring,
        }
        if worker_running is not None:
            running = worker_running

            async def worker() -> str | None:
                if not running():
                    raise Failed("the Temporal worker is not running")
                return None

            checks[Check.WORKER] = worker
        self._optional: set[Check] = set()
        if task_queue is not None:
            self._task_queue = task_queue
            checks[Check.WORKERS] = self._workers
            self._optional.add(Check.WORKERS)
        self._checks = checks

    async def _database(self) -> str | None:
        async with self._pool.acquire() as con:
            await con.fetchval("SELECT 1")
        return None

    async def _temporal(self) -> str | None:
        served = await self._client.service_client.check_health(
            timeout=timedelta(seconds=self._deadline)
        )
        if not served:
            raise Failed("the Temporal frontend reports itself not serving")
        return None

    async def _migrations(self) -> str | None:
        state = await migration_state(self._pool)
        if not state.current:
            raise Failed(
                f"{len(state.pending)} migrations pending, {len(state.changed)} changed "
                "(python -m runtime.main --role migrate)"
            )
        if state.unknown:
            # A newer release migrated already (a rolling update): this code still works.
            return f"{len(state.unknown)} migrations applied that this code does not know"
        return None

    async def _key_ring(self) -> str | None:
        held = set(self._keys.masters.ids())
        if self._keys.masters.current_id not in held:
            raise Failed("the ring's current master key is not in the ring")
        missing = sorted(set(await self._keys.master_key_usage()) - held)
        if missing:
            raise Failed(
                "data keys are wrapped under master keys not in this ring: " + ", ".join(missing)
            )
        return None

    async def _workers(self) -> str | None:
        """Has any worker polled the task queue lately? The server forgets a poller some
        minutes after its last poll, so a stopped worker is noticed with that delay."""
        described = await self._client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self._client.namespace,
                task_queue=TaskQueue(name=self._task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=self._deadline),
        )
        if not described.pollers:
            raise Failed(
                f"no worker polls the task queue {self._task_queue}: the intake answers 503 "
                "(Retry-After) and the cases wait until one does"
            )
        return f"workers polling the task queue: {len(described.pollers)}"

    async def _run(self, name: Check, check: CheckFn) -> CheckResult:
        started = time.monotonic()
        try:
            remark = await asyncio.wait_for(check(), self._deadline)
        except TimeoutError:
            ok, remark = False, f"no answer within {self._deadline:g} s"
        except Exception as error:  # every failure is an answer here, never a 500
            ok, remark = False, _reason(error)
        else:
            ok = True
        return CheckResult(
            name=name,
            ok=ok,
            reason=remark,
            seconds=round(time.monotonic() - started, 4),
            required=name not in self._optional,
        )

    async def readiness(self) -> Readiness:
        results = await asyncio.gather(
            *(self._run(name, check) for name, check in self._checks.items())
        )
        ready = all(result.ok or not result.required for result in results)
        return Readiness(ready=ready, checks=list(results))
