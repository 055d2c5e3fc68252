"""The worker: case, arrival, retention and notice workflows and their activities on one queue.

``build_worker`` wires the activities (their dependencies injected here);
``python -m worker`` (the top-level entry point) runs only a worker against TEMPORAL_ADDRESS and
DATABASE_URL.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.arrivals import Arrivals
from activities.case_store import CaseStore
from activities.disclosures import Disclosures
from activities.documents import CaseDocuments
from activities.failures import FailureClassifier
from activities.flyers import Flyers
from activities.notices import Notices
from activities.retention import Retention
from activities.rules import Rules
from config.settings import Settings
from protection import open_keyring, protect
from protection.codec import keyring_of
from protection.keyring import KeyRing
from schemas.case_documents import AUTHORITY_CONTACT
from schemas.notices import NoticeDelivery
from schemas.retention import RetentionRules, default_retention_rules
from workflows.arrival import ArrivalWorkflow
from workflows.case import CaseWorkflow
from workflows.erasure_watch import ErasureWatchWorkflow
from workflows.notices import NoticeWorkflow
from workflows.retention import RetentionWorkflow


def _nothing() -> None:
    pass


def _no_traceback_carets_on_python_311() -> None:
    """Work around a CPython 3.11 race: format tracebacks without ``^^^`` carets.

    Python 3.11 finds the carets with ``ast.parse``, and the AST module's recursion counter is
    shared by all threads: two threads formatting a traceback at once can fail with
    "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905; it broke a
    run of this test suite). A worker does exactly that: workflows turn refusals into failures
    (with stack traces) in sandbox threads while activities do so on the event loop's thread.
    The carets are cosmetic; stack traces keep every file, line and source text.
    """
    name = "_extract_caret_anchors_from_line_segment"
    if sys.version_info[:2] == (3, 11) and hasattr(traceback, name):
        setattr(traceback, name, lambda segment: None)


_no_traceback_carets_on_python_311()


def build_activities(
    pool: asyncpg.Pool,
    keys: KeyRing,
    rules: RetentionRules | None = None,
    *,
    after_handover_commit: Callable[[], None] = _nothing,
    before_handover: Callable[[], Awaitable[None]] | None = None,
    authority_contact: str = AUTHORITY_CONTACT,
    texts_dir: Path | None = None,
    notices: NoticeDelivery | None = None,
) -> list[Callable[..., Any]]:
    """The activities the worker registers; the record of processing activities (Art. 30) is
    generated from this very list, so it covers exactly what runs."""
    rules = rules or default_retention_rules()
    store = CaseStore(pool, rules)
    disclosures = Disclosures(
        pool, after_handover_commit=after_handover_commit, before_handover=before_handover
    )
    retention = Retention(pool, keys, rules)
    documents = CaseDocuments(pool, authority_contact, texts_dir)
    flyers = Flyers(pool)
    arrivals = Arrivals(pool, rules)
    notice_mails = Notices(pool, notices)
    rule_sets = Rules(pool)
    return [
        store.open_case,
        store.record_event,
        store.record_stage,
        store.create_task,
        store.close_task,
        store.notify,
        store.record_incident,
        store.report_unconfirmed_erasure,
        store.register_supporter,
        disclosures.record_consent,
        disclosures.hand_over,
        disclosures.withdraw_consent,
        retention.due_cases,
        retention.erase_case,
        retention.due_arrivals,
        retention.erase_arrivals,
        documents.produce,
        rule_sets.in_force,
        flyers.issue,
        arrivals.record_arrival,
        arrivals.mail_flyer,
        arrivals.mail_outcome,
        arrivals.mail_unsettled,
        arrivals.create_handover_task,
        arrivals.notice,
        arrivals.close_handover_task,
        arrivals.finish,
        notice_mails.dispatch,
        notice_mails.digest,
    ]


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    task_queue: str | None = None,
    after_handover_commit: Callable[[], None] = _nothing,
    before_handover: Callable[[], Awaitable[None]] | None = None,
    encrypt: bool = True,
) -> Worker:
    """The worker for ``settings.task_queue`` (or ``task_queue``), its payloads encrypted.

    ``encrypt=False`` is for one purpose only: recording the replay fixtures in
    ``tests/histories``, which CI must decode without any key.
    """
    if encrypt:
        client = protect(client, pool, settings)
    keys = keyring_of(client) if encrypt else open_keyring(pool, settings)
    activities = build_activities(
        pool,
        keys,
        settings.retention_rules(),
        after_handover_commit=after_handover_commit,
        before_handover=before_handover,
        authority_contact=settings.authority_contact,
        texts_dir=settings.document_texts_dir,
        notices=settings.notice_delivery(),
    )
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[
            CaseWorkflow,
            ArrivalWorkflow,
            RetentionWorkflow,
            ErasureWatchWorkflow,
            NoticeWorkflow,
        ],
        activities=activities,
        # One rule for every activity: refused data fails for good, anything else is retried.
        interceptors=[FailureClassifier()],
        # More workflow-task pollers measurably help short workflows on a 2-core machine.
        max_concurrent_workflow_task_polls=8,
        max_cached_workflows=settings.worker_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_workflow_slots,
    )
