"""The worker: runs case workflows and their activities on one task queue.

``build_worker`` is the composition root for activities (their dependencies injected here);
``python -m worker`` runs only a worker against TEMPORAL_ADDRESS and DATABASE_URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.case_store import CaseStore
from activities.disclosures import Disclosures
from service.settings import Settings
from workflows.case import CaseWorkflow


def _nothing() -> None:
    pass


def build_activities(
    pool: asyncpg.Pool, *, after_handover_commit: Callable[[], None] = _nothing
) -> list[Callable[..., Any]]:
    """The activities the worker registers; the record of processing activities (Art. 30) is
    generated from this very list, so it covers exactly what runs."""
    store = CaseStore(pool)
    disclosures = Disclosures(pool, after_handover_commit=after_handover_commit)
    return [
        store.open_case,
        store.record_event,
        store.record_stage,
        store.create_task,
        store.close_task,
        store.notify,
        store.register_supporter,
        disclosures.record_consent,
        disclosures.hand_over,
        disclosures.withdraw_consent,
    ]


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    task_queue: str | None = None,
    after_handover_commit: Callable[[], None] = _nothing,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[CaseWorkflow],
        activities=build_activities(pool, after_handover_commit=after_handover_commit),
        # More workflow-task pollers measurably help short workflows on a 2-core machine.
        max_concurrent_workflow_task_polls=8,
    )


if __name__ == "__main__":
    from service.main import main

    main(["--role", "worker"])
