"""Retention: erasure dates by outcome, the nightly erasure (a Temporal Schedule), legal holds."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from commands import retention as retention_cli
from config.settings import Settings
from protection.codec import KEY_ID, CaseCodec, erased_payload
from protection.keyring import KeyRing
from schemas.case import Outcome
from schemas.process import ProcessTimings
from schemas.retention import ARRIVAL, RetentionReport, RetentionRule, default_retention_rules
from service.retention import SCHEDULE_ID, ensure_schedule, run_now
from store import audit
from tests.casekit import CaseDriver, running_worker
from tests.test_api import V1, event, logged_in, open_case, serving
from workflows.case import workflow_id


@pytest.fixture
async def case(time_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[CaseDriver]:
    async with running_worker(time_env, pool) as task_queue:
        driver = CaseDriver(time_env, pool, task_queue, ProcessTimings())
        yield driver
        await driver.terminate()


# ------------------------------------------------------------------ the rules


def test_periods_are_added_in_calendar_terms() -> None:
    ten_years = RetentionRule(outcome=Outcome.DEPARTED_VOLUNTARILY, keep_years=10, source="x")
    assert ten_years.erase_after(date(2026, 11, 27)) == date(2036, 11, 27)
    assert ten_years.erase_after(date(2028, 2, 29)) == date(2038, 2, 28)
    half = RetentionRule(outcome=Outcome.MOVED_AWAY, keep_years=0, keep_months=6, source="x")
    assert half.erase_after(date(2026, 8, 31)) == date(2027, 2, 28)
    assert half.erase_after(date(2026, 7, 15)) == date(2027, 1, 15)


def test_every_outcome_has_a_default_rule_with_its_source() -> None:
    rules = default_retention_rules()
    assert {rule.outcome for rule in rules.rules} == set(Outcome) | {ARRIVAL}
    assert rules.for_arrival().keep_months == 3 and rules.for_arrival().keep_years == 0
    assert rules.for_outcome(Outcome.DEPARTED_VOLUNTARILY).keep_years == 10
    assert "86a AufenthG" in rules.for_outcome(Outcome.DEPARTED_VOLUNTARILY).source
    assert all(rule.source for rule in rules.rules)
    # §91(1): a latest date for erasing deportation data, counted from the end of the ban.
    enforced = rules.for_outcome(Outcome.DEPARTED_ENFORCED).source
    assert "§ 91 Abs. 1 AufenthG" in enforced and "§ 11 Abs. 2" in enforced
    assert "https://www.gesetze-im-internet.de/aufenthg_2004/__91.html" in enforced


def test_the_rules_can_be_replaced_by_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps([{"outcome": "moved_away", "keep_years": 1, "source": "Kreisordnung"}])
    )
    rules = Settings().model_copy(update={"retention_rules_file": path}).retention_rules()
    assert rules.for_outcome(Outcome.MOVED_AWAY).keep_years == 1
    # An outcome the file forgot is kept as long as the longest rule: never erased too early.
    assert rules.for_outcome(Outcome.DEPARTED_ENFORCED).keep_years == 1


async def test_a_closed_case_gets_its_erasure_date_from_its_outcome(case: CaseDriver) -> None:
    await case.open()
    await case.event("ausgereist")
    row = await case.case_row()
    assert row["outcome"] == "departed_voluntarily"
    rule = default_retention_rules().for_outcome(Outcome.DEPARTED_VOLUNTARILY)
    assert row["erase_after"] == rule.erase_after(await case.today())
    assert row["erase_after"].year == (await case.today()).year + 10


# ------------------------------------------------------------ the nightly erasure


async def wait_until(query: str, *args: object, pool: asyncpg.Pool, seconds: float = 30) -> None:
    for _ in range(int(seconds * 10)):
        if await pool.fetchval(query, *args):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {query}")


async def closed_case(http: httpx.AsyncClient) -> str:
    case_id = await open_case(http)
    departed = event(case_id, 2, status="ausgereist", departure_deadline=None)
    response = await http.post(f"{V1}/status-events", json=departed)
    assert response.status_code == 202, response.text
    return case_id


async def test_the_schedule_erases_due_cases_and_spares_held_and_open_ones(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    async with (
        serving(dev_env, pool) as app,
        logged_in(app, "abh", token=True) as abh,
        logged_in(app, "admin") as admin,
    ):
        due, held, later = [await closed_case(abh) for _ in range(3)]
        still_open = await open_case(abh)
        yesterday = date.today() - timedelta(days=1)
        await pool.execute(
            "UPDATE cases SET erase_after = $2 WHERE case_id = ANY($1::text[])",
            [due, held],
            yesterday,
        )
        response = await admin.put(
            f"{V1}/admin/cases/{held}/legal-hold", json={"reason": "Klage anhängig"}
        )
        assert response.status_code == 200 and response.json()["legal_hold"] is True
        assert (await admin.put(f"{V1}/admin/cases/NOPE-1/legal-hold",
                                json={"reason": "x y z"})).status_code == 404  # fmt: skip
        refused = await admin.put(f"{V1}/admin/cases/{held}/legal-hold", json={})
        assert refused.status_code == 422

        history_before = await dev_env.client.get_workflow_handle(workflow_id(due)).fetch_history()
        client: Client = app.state.cases._client  # the API's protected client
        await ensure_schedule(client, app.state.settings.task_queue)
        await ensure_schedule(client, app.state.settings.task_queue)  # idempotent
        try:
            description = await client.get_schedule_handle(SCHEDULE_ID).describe()
            calendar = description.schedule.spec.calendars[0]
            assert (calendar.hour[0].start, calendar.minute[0].start) == (2, 30)
            assert description.schedule.spec.time_zone_name == "Europe/Berlin"

            await run_now(client)
            await wait_until("SELECT true FROM erasures WHERE case_id = $1", due, pool=pool)
            runs = [w async for w in client.list_workflows("WorkflowType = 'RetentionWorkflow'")]
            assert runs
            handle = client.get_workflow_handle(
                runs[0].id, run_id=runs[0].run_id, result_type=RetentionReport
            )
            report = await handle.result()
            assert report.erased == [due] and report.refused == {}
        finally:
            await client.get_schedule_handle(SCHEDULE_ID).delete()

        assert await pool.fetchval("SELECT count(*) FROM persons WHERE case_id = $1", due) == 0
        for kept in (held, later, still_open):
            assert await pool.fetchval("SELECT count(*) FROM persons WHERE case_id = $1", kept)
        erased = await pool.fetchrow("SELECT * FROM erasures WHERE case_id = $1", due)
        assert erased is not None
        assert erased["reason"] == "retention" and erased["keys_shredded"] == 1
        assert erased["outcome"] == "departed_voluntarily"
        figures = await pool.fetchrow(
            "SELECT town, outcome, stage FROM cases WHERE case_id = $1", due
        )
        assert figures is not None and figures["town"] == "Unna" and figures["stage"] == "closed"

        # The history of the erased case is unreadable now; the held case's is not.
        keys = KeyRing(pool, app.state.keys.masters)
        sealed = [
            p
            for e in history_before.events
            if e.HasField("workflow_execution_started_event_attributes")
            for p in e.workflow_execution_started_event_attributes.input.payloads
        ]
        assert sealed and KEY_ID in sealed[0].metadata
        assert await CaseCodec(keys).decode(sealed) == [erased_payload()]

        # The hold lifted, the next run erases the held case too.
        response = await admin.delete(f"{V1}/admin/cases/{held}/legal-hold")
        assert response.status_code == 200 and response.json()["legal_hold"] is False

        # Both are in the tamper-evident audit log, with who did them.
        audited = {
            (row["case_id"], row["action"], row["role"])
            for row in await pool.fetch("SELECT case_id, action, role FROM audit_log")
        }
        assert {
            (due, "case_erased", "system"),
            (held, "legal_hold_set", "admin"),
            (held, "legal_hold_lifted", "admin"),
        } <= audited
        async with pool.acquire() as con:
            assert (await audit.verify(con)).ok


async def test_the_retention_cli_holds_releases_and_counts(
    app: FastAPI, http: httpx.AsyncClient, dsn: str
) -> None:
    case_id = await closed_case(http)
    settings = Settings().model_copy(update={"database_url": dsn})
    out = io.StringIO()
    assert await retention_cli.run(["hold", case_id, "--reason", "Prüfung DSB"],
                                   settings=settings, out=out) == 0  # fmt: skip
    out = io.StringIO()
    assert await retention_cli.run(["status"], settings=settings, out=out) == 0
    assert "on_legal_hold: 1" in out.getvalue()
    assert await retention_cli.run(["release", case_id], settings=settings, out=out) == 0
    assert await retention_cli.run(["release", "NOPE-1"], settings=settings) == 1
