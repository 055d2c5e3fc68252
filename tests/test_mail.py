"""The mail outbox on real PostgreSQL, delivered to a real SMTP server (aiosmtpd on loopback).

What must hold: a mail is queued once per idempotency key; it reaches the server with its
attachment; an outage (nothing listening, or 421) keeps it queued with a later attempt and it is
delivered exactly once when the server is back; a 550 fails it for good; two delivery loops
never send one mail twice; the embedded default writes a parseable .eml; ``last_error`` never
holds the recipient or the text.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from config.settings import Settings
from mail.delivery import DeliveryPolicy, MailDelivery, deliver_due
from mail.transport import MailboxTransport, SmtpTransport, transport_from_settings
from schemas.mail import MailAttachment, MailRequest, MailRow
from store import outbox
from store.erasure import remove_personal_rows
from tests.conftest import _free_port

# The activity queues at the real time; the delivery rounds run "a day later" and on, so the
# queued mails are due however late in a long test run this module comes.
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
RECIPIENT = "kanar.empfaenger@example.org"
BODY = "Sehr geehrte Frau Kanarvogel, anbei Ihr Bescheid."
PDF = b"%PDF-1.4\n\x00\xff\xfe binary \r\n content"


def request(key: str = "ABH-2026-0001:bescheid:1", **changes: Any) -> MailRequest:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "case_id": "ABH-2026-0001",
        "recipient": RECIPIENT,
        "subject": "Ihr Bescheid",
        "body": BODY,
        "attachments": (
            MailAttachment(filename="bescheid.pdf", content_type="application/pdf", content=PDF),
        ),
    }
    return MailRequest.model_validate(values | changes)


async def queue(pool: asyncpg.Pool, mail: MailRequest) -> tuple[int, bool]:
    """Into the outbox as the arrival's activity puts it there: one transaction."""
    async with pool.acquire() as con, con.transaction():
        return await outbox.enqueue(con, mail, datetime.now(UTC))


async def enqueue(pool: asyncpg.Pool, mail: MailRequest) -> int:
    outbox_id, _ = await queue(pool, mail)
    return outbox_id


@dataclass
class Recorder:
    """An aiosmtpd handler: records what it accepts, or answers ``reply`` instead."""

    reply: str | None = None
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.reply is not None:
            # Real servers quote the address in their reply; it must not reach last_error.
            return f"{self.reply} <{address}> {BODY}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    return _free_port()


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[Recorder]:
    """A real SMTP server on a loopback port; ``smtp.reply = "421 ..."`` makes it refuse."""
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


def transport(port: int) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, starttls=False, timeout=5)


async def row(pool: asyncpg.Pool, outbox_id: int) -> MailRow:
    async with pool.acquire() as con:
        found = await outbox.mail_row(con, outbox_id)
    assert found is not None
    return found


def assert_no_personal_data(text: str | None) -> None:
    assert text
    for secret in (RECIPIENT, "kanar", "Kanarvogel", "Bescheid"):
        assert secret not in text


async def test_enqueue_twice_with_one_key_queues_one_mail(pool: asyncpg.Pool) -> None:
    first, created = await queue(pool, request())
    again, created_again = await queue(pool, request(subject="Anderer Betreff"))
    assert created and not created_again
    assert again == first
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox_attachments") == 1
    assert (await row(pool, first)).subject == "Ihr Bescheid"  # first write wins
    other, created_other = await queue(pool, request("ABH-2026-0001:bescheid:2"))
    assert created_other and other != first


async def test_delivery_reaches_the_smtp_server_with_its_attachment(
    pool: asyncpg.Pool, smtp: Recorder, smtp_port: int
) -> None:
    outbox_id = await enqueue(pool, request())
    report = await deliver_due(pool, transport(smtp_port), NOW, sender="abh@kreis-unna.test")
    assert report.sent == 1 and report.claimed == 1
    assert smtp.envelopes == [("abh@kreis-unna.test", [RECIPIENT])]
    [message] = smtp.received
    assert message["Subject"] == "Ihr Bescheid" and message["To"] == RECIPIENT
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == BODY
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "bescheid.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF

    sent = await row(pool, outbox_id)
    assert sent.status == "sent" and sent.sent_at == NOW and sent.attempts == 1
    # Only the proof of delivery stays.
    assert sent.subject is None and sent.body is None
    assert sent.message_id == message["Message-ID"]
    assert sent.message_sha256 is not None and len(sent.message_sha256) == 32
    assert await pool.fetchval("SELECT count(*) FROM outbox_attachments") == 0
    # Nothing is due any more: a later round sends nothing.
    assert (await deliver_due(pool, transport(smtp_port), NOW + timedelta(days=1))).claimed == 0
    assert len(smtp.received) == 1


async def test_an_outage_delays_the_mail_and_loses_none(pool: asyncpg.Pool, smtp_port: int) -> None:
    outbox_id = await enqueue(pool, request())
    policy = DeliveryPolicy()

    # 1. Nothing listens on the port: connection refused.
    report = await deliver_due(pool, transport(smtp_port), NOW, policy=policy)
    assert report.retried == 1 and report.sent == 0
    queued = await row(pool, outbox_id)
    assert queued.status == "queued" and queued.attempts == 1
    assert queued.next_attempt_at == NOW + timedelta(seconds=30)
    assert queued.last_error == "ConnectionRefusedError"
    assert queued.body == BODY  # the mail is all there
    # Not due before its next attempt.
    assert (await deliver_due(pool, transport(smtp_port), NOW + timedelta(seconds=29))).claimed == 0

    recorder = Recorder(reply="421 4.7.0 try again later")
    controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        # 2. The server answers 421: still temporary, the backoff doubles.
        second = NOW + timedelta(seconds=30)
        report = await deliver_due(pool, transport(smtp_port), second, policy=policy)
        assert report.retried == 1
        queued = await row(pool, outbox_id)
        assert queued.status == "queued" and queued.attempts == 2
        assert queued.next_attempt_at == second + timedelta(seconds=60)
        assert queued.last_error == "SMTPRecipientsRefused 421"
        assert_no_personal_data(queued.last_error)
        assert recorder.received == []

        # 3. The server is back: delivered, exactly once.
        recorder.reply = None
        third = second + timedelta(seconds=60)
        assert (await deliver_due(pool, transport(smtp_port), third)).sent == 1
        for later in (third, third + timedelta(hours=1), third + timedelta(days=3)):
            assert (await deliver_due(pool, transport(smtp_port), later)).claimed == 0
        assert len(recorder.received) == 1
        assert [m["Subject"] for m in recorder.received] == ["Ihr Bescheid"]
    finally:
        controller.stop()
    sent = await row(pool, outbox_id)
    assert sent.status == "sent" and sent.attempts == 3 and sent.last_error is None


async def test_a_421_at_connect_is_temporary(pool: asyncpg.Pool, smtp_port: int) -> None:
    """A server that greets with 421 (overloaded, shutting down) is an outage too."""

    outbox_id = await enqueue(pool, request())
    listener = socket.socket()
    listener.bind(("127.0.0.1", smtp_port))
    listener.listen()

    def greet_421() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"421 4.3.2 service not available\r\n")

    thread = threading.Thread(target=greet_421, daemon=True)
    thread.start()
    try:
        report = await deliver_due(pool, transport(smtp_port), NOW)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert report.retried == 1
    queued = await row(pool, outbox_id)
    assert queued.status == "queued" and queued.last_error == "SMTPConnectError 421"


async def test_a_550_fails_the_mail_for_good(
    pool: asyncpg.Pool, smtp: Recorder, smtp_port: int
) -> None:
    smtp.reply = "550 5.1.1 mailbox unknown"
    outbox_id = await enqueue(pool, request())
    report = await deliver_due(pool, transport(smtp_port), NOW)
    assert report.failed == 1 and report.retried == 0
    failed = await row(pool, outbox_id)
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.last_error == "SMTPRecipientsRefused 550"
    assert_no_personal_data(failed.last_error)
    # Failed mails are not tried again.
    smtp.reply = None
    assert (await deliver_due(pool, transport(smtp_port), NOW + timedelta(days=1))).claimed == 0
    assert smtp.received == []


async def test_temporary_failures_give_up_after_the_last_attempt(
    pool: asyncpg.Pool, smtp_port: int
) -> None:
    outbox_id = await enqueue(pool, request())
    policy = DeliveryPolicy(max_attempts=3)
    at = NOW
    for _ in range(3):
        await deliver_due(pool, transport(smtp_port), at, policy=policy)
        at += timedelta(hours=2)
    failed = await row(pool, outbox_id)
    assert failed.status == "failed" and failed.attempts == 3
    assert failed.last_error == "ConnectionRefusedError; gave up after 3 attempts"


async def test_two_delivery_loops_never_send_one_mail_twice(
    pool: asyncpg.Pool, smtp: Recorder, smtp_port: int
) -> None:
    keys = [f"ABH-2026-{n:04d}:bescheid:1" for n in range(24)]
    for key in keys:
        await enqueue(pool, request(key, case_id=key.split(":")[0]))
    policy = DeliveryPolicy(batch=3)

    async def loop() -> int:
        sent = 0
        while (report := await deliver_due(pool, transport(smtp_port), NOW, policy=policy)).claimed:
            sent += report.sent
        return sent

    sent = await asyncio.gather(loop(), loop(), loop())
    assert sum(sent) == len(keys)
    assert all(count > 0 for count in sent), "the loops shared the work"
    message_ids = [message["Message-ID"] for message in smtp.received]
    assert len(message_ids) == len(keys) == len(set(message_ids))
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'sent'") == len(keys)


async def test_the_mailbox_folder_gets_a_parseable_eml(pool: asyncpg.Pool, tmp_path: Path) -> None:
    settings = Settings.model_validate({"CASE_DATA_DIR": str(tmp_path)})
    mailbox = transport_from_settings(settings)
    assert isinstance(mailbox, MailboxTransport)
    assert mailbox.folder == tmp_path / "mailbox"

    outbox_id = await enqueue(pool, request())
    assert (await deliver_due(pool, mailbox, NOW)).sent == 1
    [path] = list((tmp_path / "mailbox").iterdir())
    assert path.suffix == ".eml"
    assert path.stat().st_mode & 0o077 == 0  # personal data: private to the service user
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == RECIPIENT and message["Subject"] == "Ihr Bescheid"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "bescheid.pdf" and attachment.get_content() == PDF
    assert message["Message-ID"] == (await row(pool, outbox_id)).message_id
    # A resend of the same message rewrites the file instead of adding one.
    await mailbox.send(message)
    assert list((tmp_path / "mailbox").iterdir()) == [path]


def test_smtp_settings_pick_the_smtp_transport() -> None:
    settings = Settings.model_validate(
        {"CASE_SMTP_HOST": "mail.kreis-unna.test", "CASE_SMTP_PASSWORD": "geheim"}
    )
    assert isinstance(transport_from_settings(settings), SmtpTransport)
    assert settings.smtp_port_or_default == 587 and settings.smtp_starttls
    assert "geheim" not in repr(settings)
    implicit = Settings.model_validate({"CASE_SMTP_HOST": "mail", "CASE_SMTP_TLS": "true"})
    assert implicit.smtp_port_or_default == 465


async def test_the_worker_loop_delivers_and_stops_cleanly(
    pool: asyncpg.Pool, smtp: Recorder, smtp_port: int
) -> None:
    delivery = MailDelivery(pool, transport(smtp_port), interval=0.05)
    running = asyncio.create_task(delivery.run())
    try:
        await enqueue(pool, request())
        for _ in range(100):
            if smtp.received:
                break
            await asyncio.sleep(0.05)
        assert len(smtp.received) == 1
    finally:
        delivery.stop()
        await asyncio.wait_for(running, timeout=5)


async def test_erasing_a_case_removes_its_mails(pool: asyncpg.Pool) -> None:
    await enqueue(pool, request())
    await enqueue(pool, request("ABH-2026-0002:bescheid:1", case_id="ABH-2026-0002"))
    async with pool.acquire() as con, con.transaction():
        removed = await remove_personal_rows(con, "ABH-2026-0001")
    assert removed["outbox"] == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox_attachments") == 1
