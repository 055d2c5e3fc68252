"""Activities on a real PostgreSQL: each is safe to retry; the schema is as migrated."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.case_store import CaseStore
from activities.disclosures import Disclosures
from schemas.events import StatusEvent
from schemas.records import (
    KI_RECIPIENT,
    CaseOpening,
    ConsentRecord,
    Entry,
    Handover,
    NewTask,
    Notice,
    NoticeKind,
    Withdrawal,
)
from schemas.tasks import Queue, TaskKind
from store.migrate import apply_migrations
from tests.casekit import PERSON

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CASE = "ACT-1"


def entry(seq: int, kind: str = "test") -> Entry:
    return Entry(case_id=CASE, seq=seq, at=NOW, kind=kind, detail=kind)


OPENING = StatusEvent.model_validate(
    {
        "event_id": "ev-1",
        "case_id": CASE,
        "status": "ausreisepflichtig",
        "effective_date": "2026-11-20",
        "person": PERSON,
    }
)


async def opened(pool: asyncpg.Pool) -> CaseStore:
    store = CaseStore(pool)
    await ActivityEnvironment().run(store.open_case, CaseOpening(entry=entry(1), event=OPENING))
    return store


async def test_opening_twice_gives_one_case(pool: asyncpg.Pool) -> None:
    store = await opened(pool)
    await ActivityEnvironment().run(store.open_case, CaseOpening(entry=entry(1), event=OPENING))
    assert await pool.fetchval("SELECT count(*) FROM cases") == 1
    assert await pool.fetchval("SELECT count(*) FROM persons") == 1
    assert await pool.fetchval("SELECT count(*) FROM timeline") == 1


async def test_task_and_notice_retried_are_written_once(pool: asyncpg.Pool) -> None:
    store = await opened(pool)
    task_id = str(uuid.uuid4())
    new_task = NewTask(
        entry=entry(2), task_id=task_id, kind=TaskKind.FOLLOW_UP, queue=Queue.KI, due_at=NOW
    )
    notice = Notice(
        entry=entry(3),
        key=f"{task_id}:overdue",
        queue=Queue.KI,
        kind=NoticeKind.OVERDUE,
        task_id=task_id,
    )
    for _ in range(2):
        await ActivityEnvironment().run(store.create_task, new_task)
        await ActivityEnvironment().run(store.notify, notice)
    assert await pool.fetchval("SELECT count(*) FROM tasks") == 1
    assert await pool.fetchval("SELECT count(*) FROM notices") == 1
    assert await pool.fetchval("SELECT overdue FROM tasks")


async def test_handover_is_once_per_consent_and_stops_after_withdrawal(pool: asyncpg.Pool) -> None:
    await opened(pool)
    disclosures = Disclosures(pool)
    consent_id = str(uuid.uuid4())
    env = ActivityEnvironment()
    await env.run(
        disclosures.record_consent,
        ConsentRecord(entry=entry(2), consent_id=consent_id, signed_on=date(2026, 11, 27)),
    )
    handover = Handover(entry=entry(3), consent_id=consent_id, recipient=KI_RECIPIENT, purpose="p")
    first = await env.run(disclosures.hand_over, handover)
    again = await env.run(disclosures.hand_over, handover)
    assert first == again
    assert first.categories == ["personal_data", "contact_data", "residence_status"]
    assert await pool.fetchval("SELECT count(*) FROM disclosures") == 1
    referral = await pool.fetchrow("SELECT personal_data, contact_data FROM ki_referrals")
    assert referral is not None
    assert referral["personal_data"]["family_name"] == PERSON["family_name"]
    assert "date_of_birth" not in referral["contact_data"]

    receipt = await env.run(
        disclosures.withdraw_consent,
        Withdrawal(
            entry=entry(4), consent_id=consent_id, withdrawn_on=date(2026, 11, 28), received_by=None
        ),
    )
    assert receipt.erasure_requested_from == [KI_RECIPIENT]
    to_partner = Handover(entry=entry(5), consent_id=consent_id, recipient="partner:1", purpose="p")
    with pytest.raises(ApplicationError) as refused:
        await env.run(disclosures.hand_over, to_partner)
    assert refused.value.type == "ConsentWithdrawn" and refused.value.non_retryable
    assert await pool.fetchval("SELECT count(*) FROM disclosures") == 1


async def test_fresh_database_migrates_to_the_expected_tables(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                " AND table_type = 'BASE TABLE'"
            )
        }
    finally:
        await connection.close()
    assert tables == {
        "schema_migrations",
        "cases",
        "persons",
        "household_children",
        "household_links",
        "case_notes",
        "case_attachments",  # 028_case_attachments
        "status_events",
        "timeline",
        "tasks",
        "notices",
        "consents",
        "disclosures",
        "ki_referrals",
        "erasure_requests",
        "supporters",
        "partners",
        "accounts",  # 003_accounts
        "sessions",
        "api_tokens",
        "login_failures",
        "access_log",
        "task_assignments",  # 004_inbox
        "data_keys",  # 005_protection
        "erasures",
        "audit_log",  # 006_audit_log
        "case_reporters",  # 036_case_reporters
        "webhook_subscriptions",  # 037_webhooks
        "outbox",  # 008_mail_outbox
        "outbox_attachments",
        "case_documents",  # 009_documents
        "offers",  # 010_offer_directory
        "flyer_versions",
        "arrivals",  # 011_arrivals
        "arrival_deliveries",
        "enforcement_incidents",  # 015_enforcement_incidents
        "report_facts",  # 031_committee_report: anonymous, no personal data (kept at erasure)
        "committee_reports",
        "rule_sets",  # 032_rule_sets
    }


async def test_migrations_run_twice_change_nothing(pool: asyncpg.Pool) -> None:
    assert await apply_migrations(pool) == []
    towns = await pool.fetch("SELECT DISTINCT town FROM partners")
    assert len(towns) == 10  # one partner per town of Kreis Unna, Lünen included


def test_workflow_code_does_no_io() -> None:
    forbidden = {"asyncpg", "fastapi", "structlog", "httpx", "activities", "store", "service"}
    for path in (Path(__file__).parent.parent / "workflows").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
