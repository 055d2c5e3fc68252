"""Notices that reach people (issue 14, point 5), on real PostgreSQL, a real SMTP server
(aiosmtpd on loopback) and, for the workflow and the schedules, real Temporal servers.

What must hold: an overdue notice is one mail to the assignee, however often the dispatch
runs (also two at once); without an assignee with an address it goes to the team's address;
with neither it waits, counted, and goes once an address exists; a notice whose task closed
first is sent to nobody; a new open ki_contact task is a KI referral mailed to the KI; the
daily digest counts and links each recipient's open and overdue tasks, once a day; no mail
holds anything of the person but the reference; admins and the CLI set the addresses.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError
from temporalio.client import ScheduleIntervalSpec
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notices import Notices
from commands import accounts as accounts_cli
from commands import notices as notices_cli
from config.settings import Settings
from mail.delivery import deliver_due
from schemas.accounts import Role
from schemas.local_time import BERLIN
from schemas.notices import (
    DigestReport,
    DispatchReport,
    NoticeDelivery,
    NoticeMode,
    NoticeReport,
    NoticeRound,
    NoticeRun,
)
from schemas.process import ProcessTimings
from schemas.tasks import TASK_KIND_LABELS, Queue, TaskKind
from service.accounts import AccountService
from service.errors import AccountError, NotFound
from service.notices import (
    DIGEST_SCHEDULE_ID,
    DISPATCH_SCHEDULE_ID,
    ensure_schedules,
    run_now,
)
from store import notices as notice_store
from tests.casekit import PERSON, CaseDriver, running_worker
from tests.conftest import _free_port
from tests.sitekit import Site
from tests.test_mail import Recorder, transport
from web import labels
from workflows.notices import NoticeWorkflow

NOW = datetime.now(UTC).replace(microsecond=0)
LATER = NOW + timedelta(days=1)  # delivery rounds: every queued mail is due
BASE = "https://ausreise.kreis-unna.example"
ABH_TEAM = "abh-team@kreis-unna.example"
KI_TEAM = "ki-team@kreis-unna.example"
TEAMS = {Queue.ABH: ABH_TEAM, Queue.KI: KI_TEAM}

# A person whose every detail is a string found nowhere else: none may reach a mail.
CANARY = {
    "given_name": "Kanarvorname",
    "family_name": "Kanarnachname",
    "date_of_birth": date(1987, 6, 5),
    "nationality": "AFG",
    "language": "fa",
    "phone": "+49 2303 987654321",
    "email": "kanar.person@example.org",
    "street": "Kanarienweg 77",
    "postal_code": "59425",
    "town": "Unna",
}
CANARY_STRINGS = [
    "Kanar",  # names, street, address
    "1987-06-05",
    "05.06.1987",
    "987654321",
    "59425",
    "AFG",
    "Afghanistan",
    "example.org",
]


def delivery(**changes: Any) -> NoticeDelivery:
    values: dict[str, Any] = {"queue_addresses": TEAMS, "public_url": BASE + "/"}
    return NoticeDelivery.model_validate(values | changes)


async def dispatch(pool: asyncpg.Pool, config: NoticeDelivery | None = None) -> DispatchReport:
    notices = Notices(pool, config or delivery())
    return await ActivityEnvironment().run(notices.dispatch, NoticeRound(at=NOW))


async def digest(
    pool: asyncpg.Pool, config: NoticeDelivery | None = None, at: datetime = NOW
) -> DigestReport:
    notices = Notices(pool, config or delivery())
    return await ActivityEnvironment().run(notices.digest, NoticeRound(at=at))


# ----------------------------------------------------------------- seeding


async def seed_case(pool: asyncpg.Pool) -> str:
    """A case with the canary person in it (the store's own tables, as the intake writes)."""
    case_id = f"N-{uuid.uuid4().hex[:10]}"
    await pool.execute(
        "INSERT INTO cases (case_id, stage, residence_status, town, opened_at, updated_at)"
        " VALUES ($1, 'information_conversation', 'ausreisepflichtig', 'Unna', $2, $2)",
        case_id,
        NOW,
    )
    await pool.execute(
        "INSERT INTO persons (case_id, given_name, family_name, date_of_birth, nationality,"
        " language, phone, email, street, postal_code, town)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        case_id,
        *CANARY.values(),
    )
    return case_id


async def seed_arrival(pool: asyncpg.Pool) -> tuple[uuid.UUID, str]:
    arrival_id, reference = uuid.uuid4(), f"NZ-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO arrivals (arrival_id, reference, event_id, town, language, effective_date,"
        " received_at, given_name, family_name, email)"
        " VALUES ($1, $2, $3, 'Unna', 'fa', $4, $5, 'Kanarneu', 'Kanarzugang',"
        " 'kanar.neu@example.org')",
        arrival_id,
        reference,
        f"{reference}-e1",
        NOW.date(),
        NOW,
    )
    return arrival_id, reference


async def seed_task(
    pool: asyncpg.Pool,
    case_id: str | None,
    *,
    kind: str = "information_conversation",
    queue: str = "abh",
    due: datetime = NOW - timedelta(days=1),
    assigned_to: int | None = None,
    status: str = "open",
    overdue: bool = False,
    arrival_id: uuid.UUID | None = None,
) -> str:
    task_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO tasks (task_id, case_id, arrival_id, kind, queue, status, due_at, overdue,"
        " created_at, assigned_to, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " 'Kanardetail')",
        task_id,
        case_id,
        arrival_id,
        kind,
        queue,
        status,
        due,
        overdue,
        NOW - timedelta(days=3),
        assigned_to,
    )
    return str(task_id)


async def seed_notice(
    pool: asyncpg.Pool,
    case_id: str | None,
    task_id: str | None,
    *,
    kind: str = "overdue",
    queue: str = "abh",
    arrival_id: uuid.UUID | None = None,
    key: str | None = None,
) -> str:
    key = key or f"{task_id}:{kind}"
    await pool.execute(
        "INSERT INTO notices (key, case_id, arrival_id, queue, kind, task_id, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6::uuid, $7)",
        key,
        case_id,
        arrival_id,
        queue,
        kind,
        task_id,
        NOW - timedelta(hours=1),
    )
    return key


async def seed_account(
    pool: asyncpg.Pool, role: str = "abh", email: str | None = None, *, active: bool = True
) -> int:
    account_id: int = await pool.fetchval(
        "INSERT INTO accounts (username, display_name, role, password_hash, active, email)"
        " VALUES ($1, 'Kanar Sachbearbeitung', $2, 'x', $3, $4) RETURNING account_id",
        f"{role}-{uuid.uuid4().hex[:8]}",
        role,
        active,
        email,
    )
    return account_id


async def outbox_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, idempotency_key, case_id, arrival_id, recipient, subject, body, status"
        " FROM outbox ORDER BY id"
    )


async def notice_row(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM notices WHERE key = $1", key)
    assert row is not None
    return row


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


def assert_nothing_personal(text: str) -> None:
    # Ids (uuids, the cases' hex) are no data; a digit run inside one is no hit either.
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{8,}", "", text)
    for canary in CANARY_STRINGS:
        assert canary not in text, canary


# ------------------------------------------------------------------ labels


def test_every_task_kind_has_its_german_name_shared_with_the_pages() -> None:
    assert set(TASK_KIND_LABELS) == {kind.value for kind in TaskKind}
    assert labels.TASK_KINDS is TASK_KIND_LABELS


def test_the_settings_read_the_team_addresses_and_the_public_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASE_NOTICE_QUEUE_ADDRESSES", f'{{"abh": "{ABH_TEAM}"}}')
    monkeypatch.setenv("CASE_PUBLIC_URL", BASE + "/")
    monkeypatch.setenv("CASE_NOTICE_MAILS", "digest")
    monkeypatch.setenv("CASE_NOTICE_DIGEST_HOUR", "6")
    config = Settings().notice_delivery()
    assert config.queue_addresses == {Queue.ABH: ABH_TEAM}
    assert config.public_url == BASE
    assert config.mode is NoticeMode.DIGEST and config.digest_hour == 6
    assert config.interval == timedelta(minutes=5)
    monkeypatch.delenv("CASE_PUBLIC_URL")
    assert Settings().notice_delivery().public_url == "http://127.0.0.1:8000"
    # A display name or a second address could inject headers: refused at start.
    monkeypatch.setenv("CASE_NOTICE_QUEUE_ADDRESSES", '{"abh": "Team <abh@kreis-unna.example>"}')
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("CASE_NOTICE_QUEUE_ADDRESSES", '{"jobcenter": "jc@kreis-unna.example"}')
    with pytest.raises(ValidationError):
        Settings()


# ---------------------------------------------------------------- dispatch


async def test_an_overdue_notice_is_one_mail_to_the_assignee_however_often_dispatched(
    pool: asyncpg.Pool, smtp: Recorder, smtp_port: int
) -> None:
    case_id = await seed_case(pool)
    person = await seed_account(pool, email="s.bearbeiterin@kreis-unna.example")
    task_id = await seed_task(pool, case_id, assigned_to=person, overdue=True)
    key = await seed_notice(pool, case_id, task_id)

    first = await dispatch(pool)
    assert first == DispatchReport(mailed=1)
    assert await dispatch(pool) == DispatchReport()  # the same round again: nothing
    [mail] = await outbox_rows(pool)
    assert mail["idempotency_key"] == f"notice:{key}"
    assert mail["recipient"] == "s.bearbeiterin@kreis-unna.example"
    assert mail["case_id"] == case_id
    notice = await notice_row(pool, key)
    assert (notice["outcome"], notice["outbox_id"]) == ("mailed", mail["id"])
    assert notice["sent_at"] is not None

    assert (await deliver_due(pool, transport(smtp_port), LATER)).sent == 1
    [message] = smtp.received
    assert smtp.envelopes[0][1] == ["s.bearbeiterin@kreis-unna.example"]
    assert message["Subject"] == f"Überfällig: Informationsgespräch – Fall {case_id}"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert f"Die Aufgabe „Informationsgespräch“ im Fall {case_id} ist überfällig" in text
    assert f"{BASE}/aufgaben/{task_id}\n" in text
    assert "weil Ihnen die Aufgabe zugewiesen ist" in text
    assert_nothing_personal(message.as_string())


async def test_two_dispatchers_at_once_send_each_notice_once(pool: asyncpg.Pool) -> None:
    case_id = await seed_case(pool)
    keys = []
    for _ in range(30):
        task_id = await seed_task(pool, case_id, due=NOW + timedelta(days=2))
        keys.append(await seed_notice(pool, case_id, task_id, kind="reminder"))
    reports = await asyncio.gather(dispatch(pool), dispatch(pool), dispatch(pool))
    assert sum(report.mailed for report in reports) == 30
    rows = await outbox_rows(pool)
    assert sorted(row["idempotency_key"] for row in rows) == sorted(f"notice:{k}" for k in keys)
    assert {row["recipient"] for row in rows} == {ABH_TEAM}
    assert rows[0]["subject"] == f"Erinnerung: Informationsgespräch – Fall {case_id}"
    assert "ist bald fällig: am " in rows[0]["body"]


async def test_without_an_assignee_address_the_team_address_is_used(pool: asyncpg.Pool) -> None:
    case_id = await seed_case(pool)
    no_address = await seed_account(pool)
    inactive = await seed_account(pool, email="weg@kreis-unna.example", active=False)
    ki_person = await seed_account(pool, "ki", email="ki.person@kreis-unna.example")
    expected = {}
    for assigned in (None, no_address, inactive):
        task_id = await seed_task(pool, case_id, assigned_to=assigned)
        expected[f"notice:{await seed_notice(pool, case_id, task_id)}"] = ABH_TEAM
    ki_task = await seed_task(pool, case_id, kind="erasure_confirmation", queue="ki")
    expected[f"notice:{await seed_notice(pool, case_id, ki_task, queue='ki')}"] = KI_TEAM
    held = await seed_task(pool, case_id, kind="ki_contact", queue="ki", assigned_to=ki_person)
    expected[f"notice:{await seed_notice(pool, case_id, held, queue='ki')}"] = (
        "ki.person@kreis-unna.example"
    )

    report = await dispatch(pool)
    assert (report.mailed, report.without_address) == (5 + 1, 0)  # and the ki_contact's referral
    sent = {row["idempotency_key"]: row["recipient"] for row in await outbox_rows(pool)}
    assert sent == expected | {f"notice:{held}:ki_referral": "ki.person@kreis-unna.example"}
    team_mail = next(row["body"] for row in await outbox_rows(pool) if row["recipient"] == KI_TEAM)
    assert "an die Adresse des Teams KI" in team_mail


async def test_a_notice_nobody_has_an_address_for_waits_and_is_counted(
    pool: asyncpg.Pool,
) -> None:
    case_id = await seed_case(pool)
    task_id = await seed_task(pool, case_id)
    key = await seed_notice(pool, case_id, task_id)
    ki_only = delivery(queue_addresses={Queue.KI: KI_TEAM})

    report = await dispatch(pool, ki_only)
    assert report == DispatchReport(without_address=1)
    assert await outbox_rows(pool) == []
    notice = await notice_row(pool, key)
    assert notice["outcome"] is None and notice["sent_at"] is None
    async with pool.acquire() as con:
        counts = await notice_store.counts(con, [Queue.KI.value])
    assert counts["waiting"] == 1 and counts["without_address"] == 1

    # The team gets an address: the next round sends it.
    assert (await dispatch(pool)).mailed == 1
    assert [row["recipient"] for row in await outbox_rows(pool)] == [ABH_TEAM]


async def test_the_notices_cli_prints_the_counts(pool: asyncpg.Pool, dsn: str) -> None:
    case_id = await seed_case(pool)
    await seed_notice(pool, case_id, await seed_task(pool, case_id))
    await seed_notice(pool, case_id, await seed_task(pool, case_id, queue="ki"), queue="ki")
    settings = Settings().model_copy(
        update={"database_url": dsn, "notice_queue_addresses": {Queue.KI: KI_TEAM}}
    )
    out = io.StringIO()
    assert await notices_cli.run(["status"], settings=settings, out=out) == 0
    assert out.getvalue().splitlines() == [
        "mode: both; team addresses: ki",
        "waiting: 2",
        "without_address: 1",
    ]


async def test_a_notice_whose_task_is_done_or_overtaken_goes_to_nobody(
    pool: asyncpg.Pool,
) -> None:
    case_id = await seed_case(pool)
    done = await seed_task(pool, case_id, status="completed")
    closed = await seed_notice(pool, case_id, done)
    overdue_task = await seed_task(pool, case_id, overdue=True)
    reminder = await seed_notice(pool, case_id, overdue_task, kind="reminder")
    overdue = await seed_notice(pool, case_id, overdue_task, kind="overdue")

    report = await dispatch(pool)
    assert (report.mailed, report.settled) == (1, 2)
    assert (await notice_row(pool, closed))["outcome"] == "task_closed"
    assert (await notice_row(pool, reminder))["outcome"] == "superseded"
    [mail] = await outbox_rows(pool)
    assert mail["idempotency_key"] == f"notice:{overdue}"


async def test_a_new_ki_contact_task_is_a_referral_mailed_to_the_ki(pool: asyncpg.Pool) -> None:
    case_id = await seed_case(pool)
    task_id = await seed_task(
        pool, case_id, kind="ki_contact", queue="ki", due=NOW + timedelta(days=7)
    )
    await seed_task(pool, case_id, kind="ki_contact", queue="ki", status="cancelled")

    assert await dispatch(pool) == DispatchReport(ki_referrals=1, mailed=1)
    assert await dispatch(pool) == DispatchReport()
    notice = await notice_row(pool, f"{task_id}:ki_referral")
    assert (notice["kind"], notice["queue"], notice["outcome"]) == ("ki_referral", "ki", "mailed")
    [mail] = await outbox_rows(pool)
    assert mail["recipient"] == KI_TEAM
    assert mail["subject"] == f"Neue Vermittlung an das KI – Fall {case_id}"
    assert "Neue Aufgabe: „Kontakt zu Partner vor Ort (KI)“, fällig am" in mail["body"]
    assert f"{BASE}/aufgaben/{task_id}" in mail["body"]


async def test_a_supporter_reported_links_the_case_and_an_arrival_its_reference(
    pool: asyncpg.Pool,
) -> None:
    case_id = await seed_case(pool)
    await seed_notice(
        pool, case_id, None, kind="supporter_reported", key=f"{uuid.uuid4()}:supporter_reported"
    )
    arrival_id, reference = await seed_arrival(pool)
    handover = await seed_task(
        pool, None, kind="flyer_handover", arrival_id=arrival_id, overdue=True
    )
    await seed_notice(pool, None, handover, arrival_id=arrival_id)

    assert (await dispatch(pool)).mailed == 2
    [supporter] = [row for row in await outbox_rows(pool) if row["case_id"] == case_id]
    [arrival] = [row for row in await outbox_rows(pool) if row["case_id"] is None]
    assert supporter["subject"] == f"Unterstützer*in gemeldet – Fall {case_id}"
    assert f"{BASE}/faelle/{case_id}\n" in supporter["body"]
    assert (
        arrival["subject"]
        == f"Überfällig: Faltblatt aushändigen (Neuzugang) – Neuzugang {reference}"
    )
    assert arrival["arrival_id"] == arrival_id and arrival["case_id"] is None
    for row in (supporter, arrival):
        assert_nothing_personal(f"{row['subject']}\n{row['body']}")


async def test_no_mail_in_single_off_or_digest_mode_where_it_is_not_wanted(
    pool: asyncpg.Pool,
) -> None:
    case_id = await seed_case(pool)
    task_id = await seed_task(pool, case_id)
    key = await seed_notice(pool, case_id, task_id)
    for mode in (NoticeMode.OFF, NoticeMode.DIGEST):
        assert (await dispatch(pool, delivery(mode=mode))).mailed == 0
    assert (await digest(pool, delivery(mode=NoticeMode.OFF))).digests == 0
    assert (await digest(pool, delivery(mode=NoticeMode.SINGLE))).digests == 0
    assert await outbox_rows(pool) == []
    assert (await notice_row(pool, key))["outcome"] is None


# ------------------------------------------------------------------ digest


async def test_the_digest_counts_and_links_each_recipients_tasks_once_a_day(
    pool: asyncpg.Pool,
) -> None:
    case_id = await seed_case(pool)
    person = await seed_account(pool, email="s.bearbeiterin@kreis-unna.example")
    without = await seed_account(pool)
    mine = [
        await seed_task(pool, case_id, assigned_to=person, overdue=True),
        await seed_task(pool, case_id, assigned_to=person, due=NOW + timedelta(days=3)),
    ]
    team = [
        await seed_task(pool, case_id, due=NOW - timedelta(hours=2)),  # due, not marked yet
        await seed_task(pool, case_id, assigned_to=without, due=NOW + timedelta(days=1)),
        await seed_task(pool, case_id, due=NOW + timedelta(days=5)),
    ]
    await seed_task(pool, case_id, status="completed")
    await seed_task(pool, case_id, kind="ki_contact", queue="ki", due=NOW + timedelta(days=7))
    notice = await seed_notice(pool, case_id, mine[0])
    today = NOW.astimezone(BERLIN).date()

    report = await digest(pool, delivery(digest_limit=2))
    assert report == DigestReport(day=today, digests=3)
    rows = {row["recipient"]: row for row in await outbox_rows(pool)}
    assert set(rows) == {"s.bearbeiterin@kreis-unna.example", ABH_TEAM, KI_TEAM}
    stamp = f"{today:%d.%m.%Y}"
    own = rows["s.bearbeiterin@kreis-unna.example"]
    assert own["idempotency_key"] == f"digest:{today.isoformat()}:account:{person}"
    assert own["subject"] == f"Tagesübersicht {stamp}: 2 offen, davon 1 überfällig"
    assert own["case_id"] is None and own["arrival_id"] is None
    body = own["body"]
    assert "Ihre offenen Aufgaben, Stand" in body
    assert "  offen: 2\n  davon überfällig: 1" in body
    assert body.index(mine[0]) < body.index(mine[1])  # overdue first
    assert f"- Informationsgespräch, Fall {case_id}: überfällig seit" in body
    assert f"{BASE}/posteingang?ansicht=meine" in body
    team_body = rows[ABH_TEAM]["body"]
    assert rows[ABH_TEAM]["subject"] == f"Tagesübersicht {stamp}: 3 offen, davon 1 überfällig"
    assert "Offene Aufgaben des Teams ABH, die niemandem mit E-Mail-Adresse" in team_body
    assert team[0] in team_body and team[1] in team_body and team[2] not in team_body
    assert "… und 1 weitere im Posteingang." in team_body
    assert "Hinweise seit" not in team_body  # single mails carry the notices in this mode
    assert (await notice_row(pool, notice))["outcome"] is None
    for row in rows.values():
        assert_nothing_personal(f"{row['subject']}\n{row['body']}")

    # The same day again: nothing new. The next day: the next digests.
    assert (await digest(pool)).digests == 0
    assert len(await outbox_rows(pool)) == 3
    await digest(pool, at=NOW + timedelta(days=1))
    assert len(await outbox_rows(pool)) == 6

    # Digests belong to no case: after 30 days they are deleted (a queued one waits).
    await pool.execute(
        "UPDATE outbox SET created_at = created_at - interval '31 days', status = 'failed'"
        " WHERE idempotency_key LIKE $1",
        f"digest:{today.isoformat()}:%",
    )
    removed = await digest(pool, at=NOW + timedelta(days=1))
    assert removed.removed == 3 and len(await outbox_rows(pool)) == 3


async def test_in_digest_mode_the_digest_lists_the_notices_and_settles_them(
    pool: asyncpg.Pool,
) -> None:
    case_id = await seed_case(pool)
    task_id = await seed_task(pool, case_id, overdue=True)
    overdue = await seed_notice(pool, case_id, task_id)
    supporter = await seed_notice(
        pool, case_id, None, kind="supporter_reported", key=f"{uuid.uuid4()}:supporter_reported"
    )
    closed = await seed_notice(pool, case_id, await seed_task(pool, case_id, status="cancelled"))
    ki_task = await seed_task(pool, case_id, kind="ki_contact", queue="ki")
    only_digest = delivery(mode=NoticeMode.DIGEST)

    assert await dispatch(pool, only_digest) == DispatchReport(ki_referrals=1)
    assert await outbox_rows(pool) == []
    report = await digest(pool, only_digest)
    assert (report.digests, report.notices) == (2, 3)
    rows = {row["recipient"]: row for row in await outbox_rows(pool)}
    abh_body = rows[ABH_TEAM]["body"]
    assert "Hinweise seit der letzten Übersicht:" in abh_body
    assert f"- Überfällig: Informationsgespräch – Fall {case_id}" in abh_body
    assert f"- Unterstützer*in gemeldet – Fall {case_id}\n  {BASE}/faelle/{case_id}" in abh_body
    assert f"- Neue Vermittlung an das KI – Fall {case_id}" in rows[KI_TEAM]["body"]
    for key in (overdue, supporter):
        row = await notice_row(pool, key)
        assert (row["outcome"], row["outbox_id"]) == ("digest", rows[ABH_TEAM]["id"])
    assert (await notice_row(pool, f"{ki_task}:ki_referral"))["outcome"] == "digest"
    assert (await notice_row(pool, closed))["outcome"] == "task_closed"


# ------------------------------------------------- the real case workflow


@pytest.fixture
async def case(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CaseDriver]:
    # The worker reads its settings from the environment, as the service does.
    monkeypatch.setenv("CASE_NOTICE_QUEUE_ADDRESSES", f'{{"abh": "{ABH_TEAM}", "ki": "{KI_TEAM}"}}')
    monkeypatch.setenv("CASE_PUBLIC_URL", BASE)
    async with running_worker(time_env, pool) as task_queue:
        driver = CaseDriver(time_env, pool, task_queue, ProcessTimings())
        yield driver
        await driver.terminate()


async def run_notices(case: CaseDriver, *, digest: bool = False) -> NoticeReport:
    result: NoticeReport = await case.client.execute_workflow(
        NoticeWorkflow.run,
        NoticeRun(digest=digest),
        id=f"notice-test-{uuid.uuid4().hex}",
        task_queue=case.task_queue,
    )
    return result


async def test_a_real_case_s_notices_reach_the_team_with_nothing_of_the_person(
    case: CaseDriver, smtp: Recorder, smtp_port: int
) -> None:
    timings = case.timings
    await case.open()
    await case.supporter(representative=False)
    await case.skip(timings.conversation_due - timings.reminder_lead + timedelta(days=1))
    await case.skip(timings.reminder_lead)
    assert await case.notices() == ["supporter_reported", "reminder", "overdue"]

    # No time may pass while the notices run: the case's next timers would fire.
    with case.env.auto_time_skipping_disabled():
        report = await run_notices(case)
        # The reminder is overtaken by the overdue notice: two mails.
        assert report.dispatch == DispatchReport(mailed=2, settled=1)
        assert (await run_notices(case)).dispatch == DispatchReport()
        daily = await run_notices(case, digest=True)
    assert daily.digest is not None and daily.digest.digests == 1

    rows = await outbox_rows(case.pool)
    assert [row["recipient"] for row in rows] == [ABH_TEAM] * 3
    delivered = await deliver_due(case.pool, transport(smtp_port), LATER + timedelta(days=60))
    assert delivered.sent == 3 and len(smtp.received) == 3
    person = [str(value) for value in PERSON.values() if isinstance(value, str) and len(value) > 2]
    address = PERSON["address"]
    person += [address["street"], address["postal_code"], "01.04.1990", "Irak"]
    person += ["Unterstützerin", "0170 000000"]  # the supporter
    for message in smtp.received:
        text = message.as_string()
        for secret in person:
            assert secret not in text, secret
        assert case.case_id in text


# --------------------------------------------------------------- schedules


async def test_the_schedules_dispatch_every_few_minutes_and_digest_each_morning(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASE_NOTICE_QUEUE_ADDRESSES", f'{{"abh": "{ABH_TEAM}"}}')
    case_id = await seed_case(pool)
    task_id = await seed_task(pool, case_id)
    key = await seed_notice(pool, case_id, task_id)
    config = delivery(digest_hour=6)
    async with running_worker(dev_env, pool) as task_queue:
        client = dev_env.client
        await ensure_schedules(client, task_queue, config)
        await ensure_schedules(client, task_queue, config)  # idempotent
        try:
            dispatching = await client.get_schedule_handle(DISPATCH_SCHEDULE_ID).describe()
            [interval] = dispatching.schedule.spec.intervals
            assert interval == ScheduleIntervalSpec(every=timedelta(minutes=5))
            daily = await client.get_schedule_handle(DIGEST_SCHEDULE_ID).describe()
            [calendar] = daily.schedule.spec.calendars
            assert (calendar.hour[0].start, calendar.minute[0].start) == (6, 0)
            assert daily.schedule.spec.time_zone_name == "Europe/Berlin"

            await run_now(client)
            loop = asyncio.get_running_loop()
            give_up = loop.time() + 30
            while (await notice_row(pool, key))["outcome"] is None:
                assert loop.time() < give_up, "the triggered dispatch did not run"
                await asyncio.sleep(0.2)
            [mail] = await outbox_rows(pool)
            assert mail["recipient"] == ABH_TEAM
        finally:
            for schedule_id in (DISPATCH_SCHEDULE_ID, DIGEST_SCHEDULE_ID):
                await client.get_schedule_handle(schedule_id).delete()


# ------------------------------------------------------ setting addresses


async def test_the_account_service_and_the_cli_set_the_notice_address(
    pool: asyncpg.Pool, dsn: str
) -> None:
    service = AccountService(pool)
    account = await service.create_account("n.otiz", "N. Otiz", Role.ABH, "ein-langes-passwort")
    await service.set_email(account.account_id, "  n.otiz@kreis-unna.example ")
    assert await service.emails() == {account.account_id: "n.otiz@kreis-unna.example"}
    for wrong in ("N. Otiz <n@kreis-unna.example>", "a@b.example, c@d.example", "n\u0000@x.de"):
        with pytest.raises(AccountError):
            await service.set_email(account.account_id, wrong)
    with pytest.raises(NotFound):
        await service.set_email(2**31 - 1, "x@kreis-unna.example")
    await service.set_email(account.account_id, "")
    assert await service.emails() == {}
    audited = await pool.fetch(
        "SELECT detail FROM audit_log WHERE action = 'account_email_changed' ORDER BY seq"
    )
    details = [row["detail"] for row in audited]
    assert all("kreis-unna" not in str(detail) for detail in details)
    assert len(details) == 2

    settings = Settings().model_copy(update={"database_url": dsn})
    out = io.StringIO()
    code = await accounts_cli.run(
        ["email", "--username", "n.otiz", "--email", "n.otiz@kreis-unna.example"],
        settings=settings,
        out=out,
    )
    assert code == 0 and "notice address of n.otiz set" in out.getvalue()
    out = io.StringIO()
    assert await accounts_cli.run(["list"], settings=settings, out=out) == 0
    assert "n.otiz  N. Otiz  <n.otiz@kreis-unna.example>" in out.getvalue()
    assert await accounts_cli.run(["email", "--username", "n.otiz", "--clear"], settings=settings,
                                  out=io.StringIO()) == 0  # fmt: skip
    assert await service.emails() == {}
    refused = await accounts_cli.run(
        ["email", "--username", "niemand", "--email", "x@kreis-unna.example"],
        settings=settings,
        out=io.StringIO(),
    )
    assert refused == 1


async def test_admins_set_the_notice_address_on_the_accounts_page(site: Site) -> None:
    admin = await site.person(Role.ADMIN)
    worker = await site.accounts.create_account(
        "a.dresse", "A. Dresse", Role.KI, "ein-langes-passwort"
    )
    async with admin:
        url = f"/admin/konten/{worker.account_id}/email"
        done = await admin.post(url, data={"email": "a.dresse@kreis-unna.example"})
        assert done.status_code == 303
        page = await admin.get("/admin/konten")
        assert 'value="a.dresse@kreis-unna.example"' in page.text
        assert "E-Mail-Adressen für Benachrichtigungen" in page.text
        refused = await admin.post(url, data={"email": "A. Dresse <a@kreis-unna.example>"})
        assert refused.status_code == 422
        assert "Bitte eine E-Mail-Adresse wie name@kreis-unna.de angeben" in refused.text
        unknown = await admin.post("/admin/konten/2147483647/email", data={"email": ""})
        assert unknown.status_code == 404
    assert await site.accounts.emails() == {worker.account_id: "a.dresse@kreis-unna.example"}


async def test_the_operations_page_counts_the_notices_still_waiting(site: Site) -> None:
    case_id = await seed_case(site.pool)
    task_id = await seed_task(site.pool, case_id)
    old = await seed_notice(site.pool, case_id, task_id)
    await site.pool.execute(
        "UPDATE notices SET created_at = now() - interval '2 days' WHERE key = $1", old
    )
    await seed_notice(site.pool, case_id, task_id, kind="reminder")
    ops = await site.person(Role.OPS)
    async with ops:
        page = await ops.get("/betrieb")
    assert page.status_code == 200
    assert "<caption>Benachrichtigungen per E-Mail, noch nicht versandt</caption>" in page.text
    assert "<tr><td>2</td><td>1</td></tr>" in page.text
    assert "<title>Betrieb – " in page.text and "Kanar" not in page.text
