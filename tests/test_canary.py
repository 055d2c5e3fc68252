"""The canary: a person whose name, phone and address are unique random strings is taken
through every stage of a case, through the real API and worker on the dev server. Then every
place that must not hold personal data is searched for those strings: the raw workflow
history as the server stores it (fetched without the codec), workflow ids, search attributes
and memos, the logs of worker and API, the Temporal server's metric labels, and every
PostgreSQL table not meant for personal data. Zero hits. Then the case is erased, and the
decoded history and the personal tables are searched again: nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from protection.codec import ENCODING, CaseCodec, erased_payload
from protection.erasure import erase_case
from protection.keyring import KeyRing
from schemas.accounts import Role
from schemas.local_time import BERLIN
from store import erasure
from store.erasure import PERSONAL_TABLES
from tests.test_api import (
    V1,
    complete,
    conversation,
    event,
    logged_in,
    partner_in,
    serving,
    today,
)
from workflows.case import HAND_OUT_DOCUMENTS, RECORD_WITHDRAWAL_AT_ONCE, workflow_id

# Where personal data is meant to be: whole tables, or some columns of a table.
PERSONAL_COLUMNS: dict[str, tuple[str, ...] | None] = {
    table: None for table in PERSONAL_TABLES
} | dict(erasure.PERSONAL_COLUMNS)


def canary() -> dict[str, str]:
    tag = secrets.token_hex(5)
    return {
        "given_name": f"Kanarvor{tag}",
        "family_name": f"Kanarnach{tag}",
        "phone": f"+49 2303 {secrets.randbelow(10**9):09d}",
        "street": f"Kanarweg {tag}",
        "email": f"kanar.{tag}@example.org",
        "supporter": f"Kanarhelfer{tag}",
        "supporter_contact": f"Kanarkontakt{tag}",
    }


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message (histories nest them deeply), but for search
    attributes: the server indexes those, so they stay readable and carry ids and states only
    (the byte search below covers them)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if field.is_repeated:
            items = value.values() if field.message_type.GetOptions().map_entry else value
            for item in items:
                if isinstance(item, Message):
                    yield from payloads_in(item)
        else:
            yield from payloads_in(value)


def _is_patch_marker(event: HistoryEvent) -> bool:
    return (
        event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
    )


def _patch_id(event: HistoryEvent) -> str:
    [payload] = event.marker_recorded_event_attributes.details["patch-data"].payloads
    assert payload.metadata["encoding"] == b"json/plain"
    data = json.loads(payload.data)
    assert set(data) <= {"id", "deprecated"}, data
    return str(data["id"])


def hits(text: str | bytes, secrets_: dict[str, str]) -> list[str]:
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return [name for name, value in secrets_.items() if value in data]


async def table_hits(
    pool: asyncpg.Pool, secrets_: dict[str, str], *, personal: bool
) -> dict[str, list[str]]:
    """Hits per table; ``personal`` searches the personal places, else everything else."""
    found: dict[str, list[str]] = {}
    tables = [
        row["table_name"]
        for row in await pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE'"
        )
    ]
    for table in tables:
        columns = PERSONAL_COLUMNS.get(table, ())
        if personal and table not in PERSONAL_COLUMNS:
            continue
        if personal:
            expression = (
                "jsonb_build_array(" + ", ".join(f"t.{c}" for c in columns) + ")"
                if columns
                else "to_jsonb(t)"
            )
        else:
            if table in PERSONAL_COLUMNS and columns is None:
                continue
            names = ",".join(columns or ())
            expression = f"to_jsonb(t) - '{{{names}}}'::text[]" if columns else "to_jsonb(t)"
        rows = await pool.fetch(f"SELECT ({expression})::text AS row FROM {table} t")
        text = "\n".join(str(row["row"]) for row in rows)
        if found_here := hits(text, secrets_):
            found[table] = found_here
    return found


async def wait_for(condition: Any, what: str, seconds: float = 30) -> Any:
    for _ in range(int(seconds * 10)):
        result = await condition()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def short_follow_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Follow-up check-ins after a second, and one miss escalates: every stage within seconds."""
    monkeypatch.setenv("CASE_FOLLOW_UP_INTERVAL", "PT1S")
    monkeypatch.setenv("CASE_UNREACHABLE_AFTER", "1")


async def test_no_personal_data_outside_its_place_and_none_after_erasure(
    dev_env: WorkflowEnvironment,
    dev_metrics_url: str,
    pool: asyncpg.Pool,
    short_follow_up: None,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = canary()
    case_id = f"KAN-{secrets.token_hex(6)}"
    async with (
        serving(dev_env, pool) as app,
        logged_in(app, Role.ABH, token=True) as abh,
        logged_in(app, Role.KI) as ki,
    ):
        await run_through_every_stage(abh, ki, case_id, secret)
        # The environment's own client has no codec: it sees what the server stores.
        plain = dev_env.client
        handle = plain.get_workflow_handle(workflow_id(case_id))
        await wait_for(lambda: _closed(handle), "the case workflow to complete after the departure")
        history = await handle.fetch_history()

        # 1. The raw history: every payload encrypted, no canary anywhere in its bytes.
        # Patch markers (workflow.patched) are written by the SDK's core, past the codec: they
        # hold the patch id alone, checked here.
        patches = [e for e in history.events if _is_patch_marker(e)]
        assert {_patch_id(e) for e in patches} <= {HAND_OUT_DOCUMENTS, RECORD_WITHDRAWAL_AT_ONCE}
        events = [e for e in history.events if not _is_patch_marker(e)]
        payloads = [p for e in events for p in payloads_in(e)]
        assert len(payloads) > 30, len(payloads)
        assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
        assert hits(b"".join(e.SerializeToString() for e in history.events), secret) == []

        # 2. Workflow ids, search attributes and memos, as the server describes and lists them.
        description = await handle.describe()
        assert hits(description.raw_description.SerializeToString(), secret) == []
        listed = [w async for w in plain.list_workflows(f"WorkflowId = '{workflow_id(case_id)}'")]
        assert len(listed) == 1
        assert hits(listed[0].raw_info.SerializeToString(), secret) == []

        # Positive control: the same search finds the canary once decoded with the key.
        codec = CaseCodec(app.state.keys)
        decoded = await codec.decode(payloads)
        assert set(hits(b"".join(p.data for p in decoded), secret)) >= {
            "given_name", "family_name", "phone", "street"
        }  # fmt: skip

        # 3. The PostgreSQL tables not meant for personal data (and the personal ones do hold it).
        assert await table_hits(pool, secret, personal=False) == {}
        assert await table_hits(pool, secret, personal=True)

        # 4. The Temporal server's metrics.
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(dev_metrics_url)).text
        assert "temporal" in metrics and hits(metrics, secret) == []

        # 5. The erasure: the key is shredded, the personal rows are gone.
        result = await erase_case(pool, app.state.keys, case_id, reason="manual")
        assert result.keys_shredded == 1 and result.rows_removed["persons"] == 1
        # A key ring without a cache, as any other process after the erasure would have.
        after = await CaseCodec(KeyRing(pool, app.state.keys.masters)).decode(payloads)
        assert {p.data for p in after} == {erased_payload().data}
        assert hits(b"".join(p.data for p in after), secret) == []
        assert await table_hits(pool, secret, personal=True) == {}
        assert await table_hits(pool, secret, personal=False) == {}

    # 6. Everything the worker, the API and the SDK logged during all of it.
    out, err = capfd.readouterr()
    logged = out + err + "\n".join(r.getMessage() for r in caplog.records)
    assert hits(logged, secret) == []


async def task_of(http: httpx.AsyncClient, case_id: str, queue: str, kind: str) -> str:
    """The open task of ``kind`` (others may be open beside it), once the workflow opened it."""

    async def find() -> str | None:
        response = await http.get(f"{V1}/tasks", params={"queue": queue, "case_id": case_id})
        assert response.status_code == 200, response.text
        found = [task["task_id"] for task in response.json() if task["kind"] == kind]
        return found[0] if found else None

    task_id: str = await wait_for(find, f"an open {kind} task")
    return task_id


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def run_through_every_stage(
    abh: httpx.AsyncClient, ki: httpx.AsyncClient, case_id: str, secret: dict[str, str]
) -> None:
    """Intake → conversation → referral offer → KI referral → follow-up → escalation →
    enforcement planned → closed, with a representative on the side track."""
    person = {
        "given_name": secret["given_name"],
        "family_name": secret["family_name"],
        "date_of_birth": "1988-02-03",
        "nationality": "IRQ",
        "language": "ar",
        "phone": secret["phone"],
        "email": secret["email"],
        "address": {"street": secret["street"], "postal_code": "59174", "town": "Kamen"},
    }
    opening = event(
        case_id, 1, person=person, household={"children": [{"date_of_birth": "2015-05-05"}]}
    )
    response = await abh.post(f"{V1}/status-events", json=opening)
    assert response.status_code == 202, response.text

    response = await abh.post(
        f"{V1}/cases/{case_id}/supporters",
        json={"name": secret["supporter"], "organisation": "Caritas",
              "contact": secret["supporter_contact"], "is_representative": True},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    response = await complete(
        abh,
        await task_of(abh, case_id, "abh", "representative"),
        {"kind": "representative", "name": secret["supporter"],
         "contact": secret["supporter_contact"], "power_of_attorney_on": str(today())},
    )  # fmt: skip
    assert response.status_code == 200, response.text

    # A refusal on the way: validators answer without echoing what was sent.
    task = await task_of(abh, case_id, "abh", "information_conversation")
    refused = await complete(abh, task, conversation(today() + timedelta(days=2)))
    assert refused.status_code == 422
    steps: list[tuple[httpx.AsyncClient, str, str, dict[str, Any], str]] = [
        (abh, "abh", "information_conversation", conversation(), "referral_offer"),
        (abh, "abh", "referral_consent",
         {"kind": "referral_consent", "interested": True, "consent_signed_on": str(today())},
         "ki_referral"),
        (ki, "ki", "ki_contact",
         {"kind": "ki_contact", "partner_id": await partner_in(abh, "Kamen"),
          "contacted_on": str(today())}, "follow_up"),
        (ki, "ki", "follow_up", {"kind": "follow_up", "reached": False}, "escalation"),
    ]  # fmt: skip
    for client, queue, kind, body, stage in steps:
        response = await complete(client, await task_of(client, case_id, queue, kind), body)
        assert response.status_code == 200, response.text
        assert response.json()["stage"] == stage, response.text
    assert (await ki.get(f"{V1}/cases/{case_id}")).status_code == 200  # the KI's view

    tomorrow_ten = datetime.combine(today() + timedelta(days=1), time(10), BERLIN)
    escalation = await task_of(abh, case_id, "abh", "escalation")
    response = await complete(
        abh,
        escalation,
        {"kind": "escalation", "decision": "enforcement",
         "enforcement_at": tomorrow_ten.replace(hour=20).isoformat(),
         "enforcement_until": tomorrow_ten.replace(hour=23).isoformat()},
    )  # fmt: skip
    # The household's child is a minor: the measure would run into the night.
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["errors"]] == ["enforcement_at"] * 2
    response = await complete(
        abh,
        escalation,
        {"kind": "escalation", "decision": "enforcement",
         "enforcement_at": tomorrow_ten.isoformat()},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["errors"]] == ["enforcement_until"]
    response = await complete(
        abh,
        await task_of(abh, case_id, "abh", "escalation"),
        {"kind": "escalation", "decision": "enforcement",
         "enforcement_at": tomorrow_ten.isoformat(),
         "enforcement_until": (tomorrow_ten + timedelta(hours=3)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["stage"] == "enforcement_planned"
    departed = event(case_id, 2, status="ausgereist", departure_deadline=None)
    response = await abh.post(f"{V1}/status-events", json=departed)
    assert response.status_code == 202, response.text
    # The report alone does not close it: the ABH records what happened at the enforcement.
    assert (await abh.get(f"{V1}/cases/{case_id}")).json()["stage"] == "enforcement_planned"
    yesterday_ten = tomorrow_ten - timedelta(days=2)
    response = await complete(
        abh,
        await task_of(abh, case_id, "abh", "enforcement_result"),
        {"kind": "enforcement_result", "result": "carried_out",
         "started_at": yesterday_ten.isoformat(),
         "ended_at": (yesterday_ten + timedelta(hours=2)).isoformat(),
         "minors_present": True},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert (await abh.get(f"{V1}/cases/{case_id}")).json()["stage"] == "closed"
