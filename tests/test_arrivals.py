"""Neu zugewandert (issue 5): the arrival workflow, its intake, inbox task, mail and erasure.

Real PostgreSQL, real Temporal (the time-skipping server for the long waits, the dev server
for the API and the pages), a real SMTP server (aiosmtpd on loopback) for the mail, the real
flyer store (flyers.issue renders the town's flyer from the seeded directory). What must hold:

- a newly arrived person with an e-mail address gets one mail with the flyer of their town
  attached, recorded in ``arrival_deliveries``; an SMTP outage delays it and loses nothing;
- without an address (or when the mail fails for good) the ABH gets a task to print and hand
  the flyer over, completed through the API or the page; it lapses after four weeks;
- a re-sent event sends nothing twice; a second arrival of the reference is refused while
  the first runs, and after it only for a town whose flyer the reference has not had;
- the intake refuses an arrival without a person or outside the county's ten towns (422);
- the arrival's personal data is erased after its retention period, the Temporal history with
  it (its key shredded), and is nowhere but in its place before;
- a hand-over task not done in time brings its team a reminder and, at the due date, an
  overdue notice (the task shows overdue); one done before the reminder brings none; the
  notices go with the arrival's erasure.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.arrivals import Arrivals, flyer_mail
from mail.delivery import deliver_due
from mail.transport import SmtpTransport
from protection.codec import CaseCodec, erased_payload
from protection.erasure import ErasureRefused, erase_arrivals
from protection.keyring import KeyRing
from schemas.accounts import Role
from schemas.arrivals import ArrivalNotice, NewArrival
from schemas.events import IntakeResult, StatusEvent
from schemas.file_names import flyer_file_name
from schemas.records import NoticeKind
from schemas.retention import RetentionReport, RetentionRun
from schemas.rows import Row
from schemas.tasks import CompleteTask, FlyerHandover, Queue
from service.temporal import update_method
from store import arrivals as arrival_store
from store import flyers as flyer_store
from store.erasure import retention_counts
from tests.arrivalkit import ArrivalDriver, arrival, new_reference, wait_for
from tests.casekit import running_worker
from tests.conftest import _free_port
from tests.sitekit import Site
from tests.test_api import V1, logged_in, serving, today
from tests.test_canary import hits, payloads_in, table_hits
from tests.test_mail import Recorder
from workflows.arrival import ArrivalWorkflow, arrival_workflow_id
from workflows.retention import RetentionWorkflow

DAY = timedelta(days=1)


async def arrival_row(pool: asyncpg.Pool, reference: str) -> asyncpg.Record:
    rows = await pool.fetch(
        "SELECT * FROM arrivals WHERE reference = $1 ORDER BY received_at", reference
    )
    assert len(rows) == 1, rows
    return rows[0]


async def deliveries(pool: asyncpg.Pool, reference: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT d.* FROM arrival_deliveries d JOIN arrivals a USING (arrival_id)"
        " WHERE a.reference = $1 ORDER BY d.created_at",
        reference,
    )


async def flyer_bytes(pool: asyncpg.Pool, flyer_id: object) -> bytes:
    async with pool.acquire() as con:
        pdf = await flyer_store.flyer_pdf(con, str(flyer_id))
    assert pdf is not None and pdf.startswith(b"%PDF")
    return pdf


@pytest.fixture
def smtp_port() -> int:
    return _free_port()


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[Recorder]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


def transport(port: int) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, starttls=False, timeout=5)


def later() -> datetime:
    """The delivery loop's clock, a day ahead: the queued mail is due whatever the run's pace."""
    return datetime.now(UTC) + DAY


# ------------------------------------------------------------- the mail's text


def test_the_mail_is_german_and_the_persons_language_without_a_name() -> None:
    from schemas.flyers import IssuedFlyer

    flyer = IssuedFlyer(
        flyer_id=str(uuid.uuid4()),
        town="Fröndenberg/Ruhr",
        requested_language="uk",
        languages=["de", "uk"],
        template_version="t",
        directory_version="d",
        content_hash="h",
        flags=[],
        created_at=datetime.now(UTC),
    )
    subject, body, filename = flyer_mail(flyer)
    assert subject.startswith("Beratung und Unterstützung in Fröndenberg/Ruhr / ")
    assert "Fröndenberg/Ruhr" in subject.split(" / ")[1]  # the Ukrainian title
    assert body.startswith("Guten Tag,")
    assert "Im Anhang finden Sie das Faltblatt" in body
    assert "Машинний/попередній переклад" in body  # the draft marker, as on the PDF
    assert filename == flyer_file_name(flyer) == "Faltblatt-Froendenberg-Ruhr-de-uk.pdf"


# -------------------------------------------------- the workflow, time skipped


@pytest.fixture
async def skipping(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> AsyncIterator[ArrivalDriver]:
    async with running_worker(time_env, pool) as task_queue:
        driver = ArrivalDriver(time_env, pool, task_queue)
        yield driver
        await driver.terminate()


async def test_an_unanswered_handover_task_lapses_after_four_weeks(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    intake = await skipping.start(email=None)
    assert intake == IntakeResult(
        case_id=skipping.reference, stage="arrival_information", duplicate=False
    )
    task_id = await skipping.task_id()
    task = await pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id)
    assert task is not None
    assert task["kind"] == "flyer_handover" and task["queue"] == "abh"
    assert task["case_id"] is None and task["due_at"] - task["created_at"] == 7 * DAY

    result = await skipping.result()  # the server skips the four weeks
    assert result.outcome == "lapsed"
    # Two days before the due date a reminder, at it an overdue notice (ArrivalTimings).
    assert [n["kind"] for n in await notices_of(pool, skipping.reference)] == [
        "reminder",
        "overdue",
    ]
    assert await pool.fetchval("SELECT status FROM tasks WHERE task_id = $1", task_id) == (
        "cancelled"
    )
    [delivery] = await deliveries(pool, skipping.reference)
    assert (delivery["channel"], delivery["status"]) == ("print", "lapsed")
    row = await arrival_row(pool, skipping.reference)
    assert row["outcome"] == "lapsed" and row["email"] is None
    finished_on = row["finished_at"].astimezone(UTC).date()
    assert row["erase_after"] - finished_on in (
        timedelta(days=d) for d in range(88, 94)
    )  # three months (rule "arrival")


def assert_as_stored(row: Row, record: asyncpg.Record) -> None:
    """Every field of ``row`` is the column as asyncpg returned it, of the same type."""
    for name, value in row:
        expected = record[name]
        if isinstance(expected, uuid.UUID) and isinstance(value, str):
            expected = str(expected)  # the query casts it (::text)
        assert value == expected and type(value) is type(expected), name


async def test_the_store_reads_an_arrival_as_stored(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    await skipping.start(email=None)
    await skipping.result()
    stored = await arrival_row(pool, skipping.reference)
    [delivery] = await deliveries(pool, skipping.reference)
    arrival_id = str(stored["arrival_id"])
    async with pool.acquire() as con:
        found = await arrival_store.arrival(con, arrival_id)
        by_event = await arrival_store.by_event(con, stored["event_id"])
        [typed_delivery] = await arrival_store.deliveries(con, arrival_id)
        [locked] = await arrival_store.lock_reference(con, skipping.reference)
        assert await arrival_store.arrival(con, str(uuid.uuid4())) is None
    assert found is not None and by_event is not None
    for row in (found, by_event, locked):
        assert_as_stored(row, stored)
    assert_as_stored(typed_delivery, delivery)
    assert found.finished_at is not None and found.finished_at.tzinfo is not None


async def test_an_overdue_handover_can_still_be_completed(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    await skipping.start(email=None)
    task_id = await skipping.task_id()
    await skipping.env.sleep(10 * DAY)  # three days overdue
    assert skipping.handle is not None
    done = await skipping.handle.execute_update(
        update_method(ArrivalWorkflow.complete_task),
        CompleteTask(task_id=task_id, completion=FlyerHandover(handed_over=False)),
    )
    assert (done.stage, done.case_id, done.arrival_reference) == (
        "arrival_informed",
        None,
        skipping.reference,
    )
    assert (await skipping.result()).outcome == "not_reachable"
    [delivery] = await deliveries(pool, skipping.reference)
    assert delivery["status"] == "not_reachable" and delivery["handed_over_on"] is None
    completion = await pool.fetchval("SELECT completion FROM tasks WHERE task_id = $1", task_id)
    assert completion == {"kind": "flyer_handover", "handed_over": False, "handed_over_on": None}


async def test_a_mail_the_outbox_never_settles_is_handed_over_in_print_as_well(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    """No delivery loop runs here: the mail stays queued; after two days the ABH gets the task."""
    await skipping.start()
    await wait_for(
        "SELECT true FROM outbox o JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        skipping.reference,
        pool=pool,
    )
    await skipping.env.sleep(3 * DAY)  # the outbox is asked again and again, then given up on
    task_id = await skipping.task_id()
    first, second = await deliveries(pool, skipping.reference)
    assert (first["channel"], first["status"]) == ("email", "unknown")
    assert (second["channel"], second["status"]) == ("print", "open")
    assert second["flyer_id"] == first["flyer_id"]
    assert (
        await pool.fetchval("SELECT status FROM outbox WHERE id = $1", first["outbox_id"])
        == "queued"
    )
    assert skipping.handle is not None
    await skipping.handle.execute_update(
        update_method(ArrivalWorkflow.complete_task),
        CompleteTask(
            task_id=task_id,
            completion=FlyerHandover(handed_over=True, handed_over_on=today()),
        ),
    )
    assert (await skipping.result()).outcome == "handed_over"


async def test_a_resent_event_is_a_duplicate_and_another_one_is_refused_while_running(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError

    await skipping.start(email=None)
    again = await skipping.send(email=None)
    assert again.duplicate and again.stage == "arrival_information"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await skipping.send(2, email=None, town="Kamen")
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ArrivalUnderWay"
    # The same event id with other content is no duplicate either.
    with pytest.raises(WorkflowUpdateFailedError) as reused:
        await skipping.send(email=None, town="Kamen")
    cause = reused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "EventIdReused"
    await skipping.task_id()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM arrivals WHERE reference = $1", skipping.reference
        )
        == 1
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM tasks t JOIN arrivals a USING (arrival_id)"
            " WHERE a.reference = $1",
            skipping.reference,
        )
        == 1
    )


# --------------------------------------------- through the API, on the dev server


@pytest.fixture
def quick_mail_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow looks at the outbox every second, not after 30 s and doubling."""
    monkeypatch.setenv("CASE_ARRIVAL_MAIL_CHECK_FIRST", "PT0.5S")
    monkeypatch.setenv("CASE_ARRIVAL_MAIL_CHECK_MAX", "PT1S")


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, quick_mail_checks: None
) -> AsyncIterator[Any]:
    async with serving(dev_env, pool) as app:
        yield app


@pytest.fixture
async def backoffice(api: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ABH caseworker who also carries the back office's API token."""
    async with logged_in(api, Role.ABH, token=True) as client:
        yield client


async def outbox_of(pool: asyncpg.Pool, reference: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT o.* FROM outbox o JOIN arrivals a USING (arrival_id) WHERE a.reference = $1"
        " ORDER BY o.id",
        reference,
    )


def attachment_of(message: EmailMessage) -> tuple[str | None, bytes]:
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    return attachment.get_filename(), attachment.get_content()


async def test_with_an_address_one_mail_with_the_towns_flyer_and_nothing_twice(
    api: Any, backoffice: httpx.AsyncClient, pool: asyncpg.Pool, smtp: Recorder, smtp_port: int
) -> None:
    reference = new_reference()
    response = await backoffice.post(f"{V1}/status-events", json=arrival(reference))
    assert response.status_code == 202, response.text
    assert response.json() == {
        "case_id": reference,
        "stage": "arrival_information",
        "duplicate": False,
    }
    await wait_for(
        "SELECT true FROM outbox o JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        reference,
        pool=pool,
    )
    # No return case: an arrival is not a case, whatever the status.
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", reference) == 0
    assert (await deliver_due(pool, transport(smtp_port), later())).sent == 1
    await wait_for(
        "SELECT true FROM arrivals WHERE reference = $1 AND outcome = 'emailed'",
        reference,
        pool=pool,
    )

    [message] = smtp.received
    assert message["To"] == "neu.zugang@example.org"
    assert message["Subject"].startswith("Beratung und Unterstützung in Unna / ")
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Olena" not in body.get_content()  # one text for everyone
    [delivery] = await deliveries(pool, reference)
    assert (delivery["channel"], delivery["status"]) == ("email", "sent")
    assert delivery["languages"] == ["de", "uk"] and delivery["town"] == "Unna"
    filename, pdf = attachment_of(message)
    assert filename == "Faltblatt-Unna-de-uk.pdf"
    assert pdf == await flyer_bytes(pool, delivery["flyer_id"])
    version = await pool.fetchrow(
        "SELECT template_version, directory_version, content_hash FROM flyer_versions"
        " WHERE flyer_id = $1",
        delivery["flyer_id"],
    )
    assert version is not None
    assert dict(version) == {
        key: delivery[key] for key in ("template_version", "directory_version", "content_hash")
    }
    [mail] = await outbox_of(pool, reference)
    assert mail["id"] == delivery["outbox_id"] and mail["status"] == "sent"
    assert mail["case_id"] is None and mail["body"] is None  # sent: only the proof stays
    row = await arrival_row(pool, reference)
    assert (row["given_name"], row["family_name"], row["email"], row["language"]) == (
        "Olena",
        "Beispiel",
        "neu.zugang@example.org",
        "uk",
    )

    # The same event again: a duplicate, nothing sent.
    again = await backoffice.post(f"{V1}/status-events", json=arrival(reference))
    assert again.status_code == 202
    assert again.json() == {"case_id": reference, "stage": "arrival_informed", "duplicate": True}
    # Another arrival event for the same town: that flyer was had already.
    same_town = await backoffice.post(f"{V1}/status-events", json=arrival(reference, 2))
    assert same_town.status_code == 409, same_town.text
    assert (await deliver_due(pool, transport(smtp_port), later() + DAY)).claimed == 0
    assert len(smtp.received) == 1 and len(await outbox_of(pool, reference)) == 1

    # A move within the county: the new town's flyer, once.
    moved = await backoffice.post(f"{V1}/status-events", json=arrival(reference, 3, town="Kamen"))
    assert moved.status_code == 202 and moved.json()["duplicate"] is False
    await wait_for(
        "SELECT count(*) = 2 FROM outbox o JOIN arrivals a USING (arrival_id)"
        " WHERE a.reference = $1",
        reference,
        pool=pool,
    )
    assert (await deliver_due(pool, transport(smtp_port), later() + DAY)).sent == 1
    assert smtp.received[1]["Subject"].startswith("Beratung und Unterstützung in Kamen")


async def test_an_smtp_outage_delays_the_flyer_and_loses_nothing(
    api: Any, backoffice: httpx.AsyncClient, pool: asyncpg.Pool, smtp_port: int
) -> None:
    reference = new_reference()
    response = await backoffice.post(f"{V1}/status-events", json=arrival(reference))
    assert response.status_code == 202, response.text
    await wait_for(
        "SELECT true FROM outbox o JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        reference,
        pool=pool,
    )
    # 1. Nothing listens: refused, the mail stays queued and the arrival waits.
    first = later()
    report = await deliver_due(pool, transport(smtp_port), first)
    assert report.retried == 1 and report.sent == 0
    [mail] = await outbox_of(pool, reference)
    assert mail["status"] == "queued" and mail["last_error"] == "ConnectionRefusedError"
    await asyncio.sleep(2)  # the workflow looks at the outbox meanwhile, more than once
    [delivery] = await deliveries(pool, reference)
    assert delivery["status"] == "queued"
    assert (await arrival_row(pool, reference))["outcome"] is None

    # 2. The server is back: delivered once, the arrival records it.
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert (await deliver_due(pool, transport(smtp_port), first + timedelta(seconds=30))).sent
        for round_at in (first + DAY, first + 3 * DAY):
            assert (await deliver_due(pool, transport(smtp_port), round_at)).claimed == 0
        await wait_for(
            "SELECT true FROM arrivals WHERE reference = $1 AND outcome = 'emailed'",
            reference,
            pool=pool,
        )
        [message] = recorder.received
        [delivery] = await deliveries(pool, reference)
        assert delivery["status"] == "sent"
        assert attachment_of(message)[1] == await flyer_bytes(pool, delivery["flyer_id"])
    finally:
        controller.stop()
    [mail] = await outbox_of(pool, reference)
    assert mail["status"] == "sent" and mail["attempts"] == 2


async def test_a_refused_mail_becomes_a_handover_task_completed_through_the_api(
    api: Any,
    backoffice: httpx.AsyncClient,
    pool: asyncpg.Pool,
    smtp: Recorder,
    smtp_port: int,
) -> None:
    smtp.reply = "550 5.1.1 mailbox unknown"
    reference = new_reference()
    response = await backoffice.post(f"{V1}/status-events", json=arrival(reference))
    assert response.status_code == 202, response.text
    await wait_for(
        "SELECT true FROM outbox o JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        reference,
        pool=pool,
    )
    assert (await deliver_due(pool, transport(smtp_port), later())).failed == 1
    task_id = await wait_for(
        "SELECT t.task_id::text FROM tasks t JOIN arrivals a USING (arrival_id)"
        " WHERE a.reference = $1 AND t.status = 'open'",
        reference,
        pool=pool,
    )
    # The task is in the ABH's inbox, named by the reference; the KI does not see it.
    listed = await backoffice.get(f"{V1}/tasks", params={"queue": "abh"})
    mine = [task for task in listed.json() if task["task_id"] == task_id]
    assert mine and mine[0]["kind"] == "flyer_handover"
    assert (mine[0]["case_id"], mine[0]["arrival_reference"]) == (None, reference)
    async with logged_in(api, Role.KI) as ki:
        assert task_id not in {task["task_id"] for task in (await ki.get(f"{V1}/tasks")).json()}
        refused = await ki.post(
            f"{V1}/tasks/{task_id}/complete",
            json={"kind": "flyer_handover", "handed_over": False},
        )
        assert refused.status_code == 403

    # Refusals name the field: a date in the future, a date without a hand-over, no date.
    tomorrow = (today() + DAY).isoformat()
    for body, field in (
        ({"handed_over": True, "handed_over_on": tomorrow}, "handed_over_on"),
        ({"handed_over": False, "handed_over_on": today().isoformat()}, "handed_over_on"),
        ({"handed_over": True}, "handed_over_on"),
        ({}, "handed_over"),
    ):
        refused = await backoffice.post(
            f"{V1}/tasks/{task_id}/complete", json={"kind": "flyer_handover", **body}
        )
        assert refused.status_code == 422, refused.text
        assert [error["loc"][-1] for error in refused.json()["errors"]] == [field]
    wrong_kind = await backoffice.post(
        f"{V1}/tasks/{task_id}/complete", json={"kind": "follow_up", "reached": True}
    )
    assert [e["loc"][-1] for e in wrong_kind.json()["errors"]] == ["kind"]

    done = await backoffice.post(
        f"{V1}/tasks/{task_id}/complete",
        json={"kind": "flyer_handover", "handed_over": True, "handed_over_on": str(today())},
    )
    assert done.status_code == 200, done.text
    assert done.json() == {
        "task_id": task_id,
        "case_id": None,
        "stage": "arrival_informed",
        "arrival_reference": reference,
    }
    again = await backoffice.post(
        f"{V1}/tasks/{task_id}/complete",
        json={"kind": "flyer_handover", "handed_over": False},
    )
    assert again.status_code == 409
    mailed, printed = await deliveries(pool, reference)
    assert (mailed["channel"], mailed["status"]) == ("email", "failed")
    assert (printed["channel"], printed["status"]) == ("print", "handed_over")
    assert printed["handed_over_on"] == today() and printed["task_id"] == uuid.UUID(task_id)
    assert (await arrival_row(pool, reference))["outcome"] == "handed_over"


async def test_a_handover_in_luenen_goes_to_the_ki_not_the_county_abh(
    api: Any, backoffice: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # Lünen has its own ABH: by default the county-wide KI hands the flyer over there.
    reference = new_reference()
    response = await backoffice.post(
        f"{V1}/status-events", json=arrival(reference, email=None, town="Lünen")
    )
    assert response.status_code == 202, response.text
    task_id = await wait_for(
        "SELECT t.task_id::text FROM tasks t JOIN arrivals a USING (arrival_id)"
        " WHERE a.reference = $1 AND t.status = 'open'",
        reference,
        pool=pool,
    )
    assert await pool.fetchval("SELECT queue FROM tasks WHERE task_id = $1", task_id) == "ki"
    listed = await backoffice.get(f"{V1}/tasks", params={"queue": "abh"})
    assert task_id not in {task["task_id"] for task in listed.json()}
    async with logged_in(api, Role.KI) as ki:
        assert task_id in {task["task_id"] for task in (await ki.get(f"{V1}/tasks")).json()}
        done = await ki.post(
            f"{V1}/tasks/{task_id}/complete",
            json={"kind": "flyer_handover", "handed_over": True, "handed_over_on": str(today())},
        )
        assert done.status_code == 200, done.text


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"person": None}, ["body", "person"]),
        ("Dortmund", ["body", "person", "address", "town"]),
        ("Lünen", None),  # not the ABH's, but the county's: the flyer of Lünen
    ],
)
async def test_the_intake_needs_a_person_in_one_of_the_ten_towns(
    backoffice: httpx.AsyncClient,
    pool: asyncpg.Pool,
    dev_env: WorkflowEnvironment,
    change: Any,
    loc: list[str] | None,
) -> None:
    reference = new_reference()
    if isinstance(change, str):
        body = arrival(reference, town=change, email=None)
    else:
        body = arrival(reference) | change
    response = await backoffice.post(f"{V1}/status-events", json=body)
    if loc is None:
        assert response.status_code == 202, response.text
        await wait_for(
            "SELECT true FROM arrival_deliveries d JOIN arrivals a USING (arrival_id)"
            " WHERE a.reference = $1 AND d.channel = 'print'",
            reference,
            pool=pool,
        )
        return
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [loc]
    assert "Dortmund" not in response.text
    assert await pool.fetchval("SELECT count(*) FROM arrivals") == 0
    from temporalio.service import RPCError, RPCStatusCode

    with pytest.raises(RPCError) as missing:
        await dev_env.client.get_workflow_handle(arrival_workflow_id(reference)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


# ------------------------------------------------------------- the inbox page


async def test_the_abh_prints_the_flyer_and_records_the_handover_on_the_task_page(
    site: Site,
) -> None:
    reference = new_reference()
    intake = await site.cases.submit_event(
        StatusEvent.model_validate(arrival(reference, email=None, language="ar"))
    )
    assert intake.stage == "arrival_information" and not intake.duplicate
    task_id = await wait_for(
        "SELECT t.task_id::text FROM tasks t JOIN arrivals a USING (arrival_id)"
        " WHERE a.reference = $1 AND t.status = 'open'",
        reference,
        pool=site.pool,
    )
    abh = await site.person(Role.ABH)
    ki = await site.person(Role.KI)
    async with abh, ki:
        inbox = await abh.get("/posteingang?ansicht=gruppe")
        assert inbox.status_code == 200
        assert f"Neuzugang {reference}" in inbox.text
        assert "Faltblatt aushändigen (Neuzugang)" in inbox.text
        claimed = await abh.post(
            f"/aufgaben/{task_id}/uebernehmen", data={"zurueck": f"/aufgaben/{task_id}"}
        )
        assert claimed.status_code == 303

        page = await abh.get(f"/aufgaben/{task_id}")
        assert page.status_code == 200, page.text
        assert "Olena Beispiel" in page.text and "kein Ausreisefall" in page.text
        assert "/faelle/" not in page.text  # no case to link to
        assert f'href="/aufgaben/{task_id}/faltblatt.pdf"' in page.text
        assert "Ja, ausgehändigt" in page.text and "Nein, Person nicht erreichbar" in page.text
        # Opening the page shows a name: it is in the access log, under the workflow id.
        assert (
            await site.pool.fetchval(
                "SELECT count(*) FROM access_log WHERE case_id = $1", arrival_workflow_id(reference)
            )
            == 1
        )

        pdf = await abh.get(f"/aufgaben/{task_id}/faltblatt.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        [delivery] = await deliveries(site.pool, reference)
        assert pdf.content == await flyer_bytes(site.pool, delivery["flyer_id"])
        assert delivery["languages"] == ["de", "ar"]
        disposition = pdf.headers["content-disposition"]
        assert disposition.startswith('inline; filename="Faltblatt-') and disposition.endswith(
            '-de-ar.pdf"'
        )
        for path in (f"/aufgaben/{task_id}", f"/aufgaben/{task_id}/faltblatt.pdf"):
            assert (await ki.get(path)).status_code == 403

        refused = await abh.post(f"/aufgaben/{task_id}", data={"handed_over": "ja"})
        assert refused.status_code == 422
        assert "Bitte das Datum der Aushändigung angeben." in refused.text
        tomorrow = (today() + DAY).isoformat()
        refused = await abh.post(
            f"/aufgaben/{task_id}", data={"handed_over": "ja", "handed_over_on": tomorrow}
        )
        assert refused.status_code == 422
        assert "Das Datum darf nicht in der Zukunft liegen." in refused.text
        assert f'value="{tomorrow}"' in refused.text  # what was entered stays

        done = await abh.post(f"/aufgaben/{task_id}", data={"handed_over": "nein"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/posteingang?meldung=ausgehaendigt"
        after = await abh.get(done.headers["location"])
        assert "Aushändigung ist festgehalten" in after.text
        assert f"Neuzugang {reference}" not in after.text
    [delivery] = await deliveries(site.pool, reference)
    assert delivery["status"] == "not_reachable"
    await wait_for(
        "SELECT true FROM arrivals WHERE reference = $1 AND outcome = 'not_reachable'",
        reference,
        pool=site.pool,
    )
    # The flyer did not reach the person: a new report of the arrival tries again.
    again = await site.cases.submit_event(
        StatusEvent.model_validate(arrival(reference, 2, email=None, language="ar"))
    )
    assert again.stage == "arrival_information" and not again.duplicate


# ------------------------------------------------------- erasure and the canary


async def test_an_arrivals_personal_data_stays_in_its_place_and_goes_with_its_erasure(
    dev_env: WorkflowEnvironment,
    api: Any,
    backoffice: httpx.AsyncClient,
    pool: asyncpg.Pool,
    smtp: Recorder,
    smtp_port: int,
    capfd: pytest.CaptureFixture[str],
) -> None:
    tag = secrets.token_hex(5)
    secret = {
        "given_name": f"Kanarvor{tag}",
        "family_name": f"Kanarnach{tag}",
        "email": f"kanar.{tag}@example.org",
        "street": f"Kanarweg {tag}",
    }
    reference = new_reference()
    body = arrival(
        reference,
        email=secret["email"],
        given_name=secret["given_name"],
        family_name=secret["family_name"],
    )
    body["person"]["address"]["street"] = secret["street"]
    assert (await backoffice.post(f"{V1}/status-events", json=body)).status_code == 202
    await wait_for(
        "SELECT true FROM outbox o JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        reference,
        pool=pool,
    )
    assert (await deliver_due(pool, transport(smtp_port), later())).sent == 1
    await wait_for(
        "SELECT true FROM arrivals WHERE reference = $1 AND outcome = 'emailed'",
        reference,
        pool=pool,
    )
    # Another arrival, still waiting for its hand-over: never erased while it runs.
    running = new_reference()
    assert (
        await backoffice.post(f"{V1}/status-events", json=arrival(running, email=None))
    ).status_code == 202
    await wait_for(
        "SELECT true FROM tasks t JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        running,
        pool=pool,
    )

    # 1. The history as the server stores it: encrypted, no canary in ids, listings, bytes.
    handle = dev_env.client.get_workflow_handle(arrival_workflow_id(reference))
    history = await handle.fetch_history()
    payloads = [p for e in history.events for p in payloads_in(e)]
    assert payloads and hits(b"".join(e.SerializeToString() for e in history.events), secret) == []
    assert hits((await handle.describe()).raw_description.SerializeToString(), secret) == []
    decoded = await CaseCodec(api.state.keys).decode(payloads)  # positive control
    assert set(hits(b"".join(p.data for p in decoded), secret)) == set(secret)
    # 2. The tables: only the personal places hold it (the street is nowhere: not kept).
    assert await table_hits(pool, secret, personal=False) == {}
    assert await table_hits(pool, secret, personal=True) == {
        "arrivals": ["given_name", "family_name", "email"],
        "outbox": ["email"],  # the recipient, proof of the delivery
    }

    # 3. Not erasable while an arrival of the reference runs; the nightly run erases the
    # finished one once its date has come.
    with pytest.raises(ErasureRefused) as refused:
        await erase_arrivals(pool, api.state.keys, running, reason="manual")
    assert refused.value.status == 409
    await pool.execute(
        "UPDATE arrivals SET erase_after = $2 WHERE reference = $1",
        reference,
        date.today() - DAY,
    )
    async with pool.acquire() as con:
        due = await retention_counts(con, date.today())
    assert due["arrivals_due_today"] == 1 and due["arrivals_kept"] >= 1  # the running one
    client: Client = api.state.cases._client  # the API's protected client
    report: RetentionReport = await client.execute_workflow(
        RetentionWorkflow.run,
        RetentionRun(),
        id=f"retention-test-{uuid.uuid4().hex}",
        task_queue=api.state.settings.task_queue,
    )
    assert report.arrivals_erased == [reference] and report.refused == {}
    async with pool.acquire() as con:
        done = await retention_counts(con, date.today())
    assert (done["arrivals_due_today"], done["arrivals_erased"]) == (0, 1)

    after = await CaseCodec(KeyRing(pool, api.state.keys.masters)).decode(payloads)
    assert {p.data for p in after} == {erased_payload().data}
    assert await table_hits(pool, secret, personal=True) == {}
    assert await table_hits(pool, secret, personal=False) == {}
    row = await arrival_row(pool, reference)
    assert row["erased_at"] is not None and row["given_name"] is None and row["email"] is None
    assert (row["town"], row["language"], row["outcome"]) == ("Unna", "uk", "emailed")
    assert await outbox_of(pool, reference) == []
    [delivery] = await deliveries(pool, reference)  # what went out stays, without anyone's data
    assert delivery["status"] == "sent"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'arrival_erased' AND case_id = $1",
            arrival_workflow_id(reference),
        )
        == 1
    )
    # The running one is untouched; erasing again changes nothing.
    assert (await arrival_row(pool, running))["given_name"] == "Olena"
    assert await erase_arrivals(pool, api.state.keys, reference, reason="manual") == {}

    out, err = capfd.readouterr()
    assert hits(out + err, secret) == []


async def empty_directory(pool: asyncpg.Pool, town: str, *, active: bool = False) -> None:
    """Every entry a town's flyer would list, (de)activated: no flyer can be made without."""
    await pool.execute("UPDATE partners SET active = $2 WHERE town = $1", town, active)
    await pool.execute(
        "UPDATE offers SET active = $2 WHERE town = $1 OR town IS NULL", town, active
    )


async def test_a_town_without_offers_is_asked_again_daily_until_it_has_some(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    await empty_directory(pool, "Selm")
    await skipping.start(email=None, town="Selm")
    # In half days: one sleep of two days timed out as an RPC on a loaded machine (a day's
    # question runs an activity in real time), and left the server locked for the next test.
    for _ in range(4):
        await skipping.env.sleep(DAY / 2)
    assert await deliveries(pool, skipping.reference) == []
    await empty_directory(pool, "Selm", active=True)
    for _ in range(2):  # the next daily question finds the offers
        await skipping.env.sleep(DAY / 2)
    await skipping.task_id()
    [delivery] = await deliveries(pool, skipping.reference)
    assert delivery["town"] == "Selm" and delivery["status"] == "open"


async def test_a_town_without_offers_for_four_weeks_ends_without_a_flyer(
    skipping: ArrivalDriver, pool: asyncpg.Pool
) -> None:
    await empty_directory(pool, "Selm")
    await skipping.start(town="Selm")
    assert (await skipping.result()).outcome == "no_flyer"
    assert await deliveries(pool, skipping.reference) == []
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert (await arrival_row(pool, skipping.reference))["outcome"] == "no_flyer"


async def test_an_address_the_outbox_refuses_goes_to_print_at_once(
    backoffice: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """The intake's pattern lets "a<b@…" through, the outbox's does not: hand it over."""
    reference = new_reference()
    body = arrival(reference, email="neu<zugang@example.org")
    assert (await backoffice.post(f"{V1}/status-events", json=body)).status_code == 202
    await wait_for(
        "SELECT true FROM tasks t JOIN arrivals a USING (arrival_id) WHERE a.reference = $1",
        reference,
        pool=pool,
    )
    [delivery] = await deliveries(pool, reference)
    assert (delivery["channel"], delivery["status"]) == ("print", "open")
    assert await outbox_of(pool, reference) == []


# ------------------------------------------------- reminders and overdue notices


async def notices_of(pool: asyncpg.Pool, reference: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT n.* FROM notices n JOIN arrivals a USING (arrival_id) WHERE a.reference = $1"
        " ORDER BY n.created_at",
        reference,
    )


def short_handover(monkeypatch: pytest.MonkeyPatch, *, due: str, lead: str) -> None:
    """Seconds-long hand-over timings for the service's arrivals (read when it is built)."""
    monkeypatch.setenv("CASE_ARRIVAL_HANDOVER_DUE", due)
    monkeypatch.setenv("CASE_ARRIVAL_REMINDER_LEAD", lead)
    monkeypatch.setenv("CASE_ARRIVAL_HANDOVER_LAPSE", "PT5M")


async def listed(backoffice: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await backoffice.get(f"{V1}/tasks", params={"queue": "abh"})
    assert response.status_code == 200, response.text
    [task] = [task for task in response.json() if task["task_id"] == task_id]
    return dict(task)


async def test_a_missed_handover_brings_a_reminder_then_an_overdue_notice_gone_with_erasure(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    short_handover(monkeypatch, due="PT4S", lead="PT2S")
    reference = new_reference()
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH, token=True) as backoffice:
        body = arrival(reference, email=None)
        assert (await backoffice.post(f"{V1}/status-events", json=body)).status_code == 202
        task_id = await wait_for(
            "SELECT t.task_id::text FROM tasks t JOIN arrivals a USING (arrival_id)"
            " WHERE a.reference = $1 AND t.status = 'open'",
            reference,
            pool=pool,
        )
        arrival_id = await pool.fetchval(
            "SELECT arrival_id FROM arrivals WHERE reference = $1", reference
        )
        await wait_for(
            "SELECT true FROM notices WHERE arrival_id = $1 AND kind = 'overdue'",
            arrival_id,
            pool=pool,
            seconds=30,
        )
        reminder, overdue = await notices_of(pool, reference)
        for notice, kind in ((reminder, "reminder"), (overdue, "overdue")):
            assert (notice["kind"], notice["queue"], notice["key"]) == (
                kind,
                "abh",
                f"{task_id}:{kind}",
            )
            assert notice["task_id"] == uuid.UUID(task_id) and notice["case_id"] is None
        task = await pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id)
        assert task is not None and task["status"] == "open" and task["overdue"]
        # The reminder came before the due date, the overdue notice at it.
        assert reminder["created_at"] < task["due_at"] <= overdue["created_at"]
        assert (await listed(backoffice, task_id))["overdue"] is True
        inbox = await backoffice.get("/posteingang?ansicht=ueberfaellig")
        assert inbox.status_code == 200 and f"Neuzugang {reference}" in inbox.text

        # Overdue, it can still be done; the notices stay until the arrival's erasure.
        done = await backoffice.post(
            f"{V1}/tasks/{task_id}/complete",
            json={"kind": "flyer_handover", "handed_over": True, "handed_over_on": str(today())},
        )
        assert done.status_code == 200, done.text
        await wait_for(
            "SELECT true FROM arrivals WHERE reference = $1 AND outcome = 'handed_over'",
            reference,
            pool=pool,
        )
        assert len(await notices_of(pool, reference)) == 2
        removed = await erase_arrivals(pool, app.state.keys, reference, reason="manual")
    assert removed["notices"] == 2
    assert await notices_of(pool, reference) == []
    assert await pool.fetchval("SELECT count(*) FROM tasks WHERE task_id = $1", task_id) == 1


async def test_a_handover_done_before_the_reminder_brings_no_notice(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    short_handover(monkeypatch, due="PT30S", lead="PT5S")  # the reminder would come after 25 s
    reference = new_reference()
    async with serving(dev_env, pool) as app, logged_in(app, Role.ABH, token=True) as backoffice:
        body = arrival(reference, email=None)
        assert (await backoffice.post(f"{V1}/status-events", json=body)).status_code == 202
        task_id = await wait_for(
            "SELECT t.task_id::text FROM tasks t JOIN arrivals a USING (arrival_id)"
            " WHERE a.reference = $1 AND t.status = 'open'",
            reference,
            pool=pool,
        )
        assert (await listed(backoffice, task_id))["overdue"] is False
        done = await backoffice.post(
            f"{V1}/tasks/{task_id}/complete",
            json={"kind": "flyer_handover", "handed_over": False},
        )
        assert done.status_code == 200, done.text
        # Answered once the arrival finished: no timer is left to send anything later.
        client: Client = app.state.cases._client  # the API's protected client
        result = await client.get_workflow_handle_for(
            ArrivalWorkflow.run, arrival_workflow_id(reference)
        ).result()
        assert result.outcome == "not_reachable"
    assert await notices_of(pool, reference) == []
    assert not await pool.fetchval("SELECT overdue FROM tasks WHERE task_id = $1", task_id)


async def test_an_arrival_notice_is_written_once_and_belongs_to_the_arrival_alone(
    pool: asyncpg.Pool,
) -> None:
    arrival_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    async with pool.acquire() as con:
        await arrival_store.insert_arrival(
            con,
            NewArrival(
                arrival_id=arrival_id,
                reference=new_reference(),
                event_id=f"nz-{uuid.uuid4().hex}",
                town="Unna",
                language="uk",
                effective_date=today(),
                given_name="Olena",
                family_name="Beispiel",
                email=None,
                received_at=now,
            ),
        )
        await arrival_store.insert_task(con, task_id, arrival_id, now + DAY, now)
    notices = Arrivals(pool)
    for kind in (NoticeKind.REMINDER, NoticeKind.REMINDER, NoticeKind.OVERDUE, NoticeKind.OVERDUE):
        notice = ArrivalNotice(
            arrival_id=arrival_id, task_id=task_id, queue=Queue.ABH, kind=kind, at=now
        )
        await ActivityEnvironment().run(notices.notice, notice)
    rows = await pool.fetch("SELECT key, case_id, arrival_id FROM notices ORDER BY key")
    assert [(r["key"], r["case_id"], str(r["arrival_id"])) for r in rows] == [
        (f"{task_id}:overdue", None, arrival_id),
        (f"{task_id}:reminder", None, arrival_id),
    ]
    assert await pool.fetchval("SELECT overdue FROM tasks WHERE task_id = $1", task_id)
    # A notice is a case's or an arrival's, never neither.
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO notices (key, queue, kind, created_at) VALUES ('x', 'abh', 'reminder',"
            " now())"
        )
    # An arrival row deleted takes its notices with it (its erasure deletes them itself).
    await pool.execute("DELETE FROM arrivals WHERE arrival_id = $1", arrival_id)
    assert await pool.fetchval("SELECT count(*) FROM notices") == 0
