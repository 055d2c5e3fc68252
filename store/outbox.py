"""The mail outbox (``outbox``, ``outbox_attachments``): one function per query.

A delivery loop *claims* due mails (attempt counted, ``next_attempt_at`` pushed out by a
lease, a fresh ``claim_token``) in a short transaction with ``FOR UPDATE SKIP LOCKED``, then
sends without holding a lock or a connection, then records the outcome only if its claim is
still the current one. Two loops therefore never claim one mail at the same time, and a loop
that dies mid-send leaves the mail to be claimed again once the lease ends (at-least-once,
which is the most SMTP can give; the stable Message-ID lets a mail client drop the rare
duplicate).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.mail import MailAttachment, MailRequest, MailRow
from schemas.operations import OutboxBacklogRow
from store.db import Connection


@dataclass(frozen=True)
class ClaimedMail:
    """A mail a delivery loop holds for one attempt (personal data: never log it)."""

    id: int
    idempotency_key: str
    claim_token: uuid.UUID
    attempts: int
    recipient: str
    subject: str
    body: str
    created_at: datetime
    attachments: tuple[MailAttachment, ...]
    subscription_id: int | None = None  # a webhook's

    def __repr__(self) -> str:  # keep recipient and text out of tracebacks and logs
        return f"ClaimedMail(id={self.id}, attempts={self.attempts})"


async def enqueue(con: Connection, mail: MailRequest, now: datetime) -> tuple[int, bool]:
    """Queue ``mail`` once per idempotency key: ``(outbox id, created by this call)``.

    Runs in the caller's transaction (the attachments go in with the row or not at all). A
    second call with the same key returns the first row and changes nothing, even when the
    content differs: the key names the document version, the first write wins.
    """
    outbox_id: int | None = await con.fetchval(
        "INSERT INTO outbox (idempotency_key, case_id, arrival_id, recipient, subject, body,"
        " next_attempt_at, created_at) VALUES ($1, $2, $7, $3, $4, $5, $6, $6)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        mail.idempotency_key,
        mail.case_id,
        mail.recipient,
        mail.subject,
        mail.body,
        now,
        mail.arrival_id,
    )
    if outbox_id is None:
        existing: int = await con.fetchval(
            "SELECT id FROM outbox WHERE idempotency_key = $1", mail.idempotency_key
        )
        return existing, False
    await con.executemany(
        "INSERT INTO outbox_attachments (outbox_id, position, filename, content_type, content)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            (outbox_id, position, a.filename, a.content_type, a.content)
            for position, a in enumerate(mail.attachments)
        ],
    )
    return outbox_id, True


async def claim_due(
    con: Connection, now: datetime, *, limit: int, lease: timedelta, channel: str = "mail"
) -> list[ClaimedMail]:
    """Claim up to ``limit`` queued rows of ``channel`` (mails, or webhooks: the recipient is
    the URL, the subject the event type, the body the JSON) due at ``now``, oldest due first.

    Rows another loop is claiming right now are skipped, not waited for; a claimed row is
    not due again before ``now + lease``, so the other loop's next query skips it as well.
    """
    rows = await con.fetch(
        """
        UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $2,
                            claim_token = gen_random_uuid()
        FROM (SELECT id FROM outbox
              WHERE status = 'queued' AND next_attempt_at <= $1 AND channel = $4
              ORDER BY next_attempt_at, id LIMIT $3
              FOR UPDATE SKIP LOCKED) due
        WHERE o.id = due.id
        RETURNING o.id, o.idempotency_key, o.claim_token, o.attempts, o.recipient, o.subject,
                  o.body, o.created_at, o.subscription_id
        """,
        now,
        now + lease,
        limit,
        channel,
    )
    if not rows:
        return []
    attachments: dict[int, list[MailAttachment]] = {row["id"]: [] for row in rows}
    for a in await con.fetch(
        "SELECT outbox_id, filename, content_type, content FROM outbox_attachments"
        " WHERE outbox_id = ANY($1::bigint[]) ORDER BY outbox_id, position",
        list(attachments),
    ):
        attachments[a["outbox_id"]].append(
            MailAttachment(
                filename=a["filename"], content_type=a["content_type"], content=a["content"]
            )
        )
    return [
        ClaimedMail(
            id=row["id"],
            idempotency_key=row["idempotency_key"],
            claim_token=row["claim_token"],
            attempts=row["attempts"],
            recipient=row["recipient"],
            subject=row["subject"],
            body=row["body"],
            created_at=row["created_at"],
            attachments=tuple(attachments[row["id"]]),
            subscription_id=row["subscription_id"],
        )
        for row in sorted(rows, key=lambda r: r["id"])
    ]


async def mark_sent(
    con: Connection, mail: ClaimedMail, at: datetime, message_id: str, message: bytes
) -> bool:
    """Record the delivery and drop the content, keeping the proof: recipient, Message-ID,
    sha256 of the message as sent, time. False when the claim was lost (lease over)."""
    async with con.transaction():
        done = await con.fetchval(
            "UPDATE outbox SET status = 'sent', sent_at = $3, subject = NULL, body = NULL,"
            " message_id = $4, message_sha256 = $5, last_error = NULL, claim_token = NULL"
            " WHERE id = $1 AND claim_token = $2 AND status = 'queued' RETURNING true",
            mail.id,
            mail.claim_token,
            at,
            message_id,
            hashlib.sha256(message).digest(),
        )
        if not done:
            return False
        await con.execute("DELETE FROM outbox_attachments WHERE outbox_id = $1", mail.id)
        return True


async def schedule_retry(
    con: Connection, mail: ClaimedMail, next_attempt_at: datetime, error: str
) -> bool:
    """A temporary failure: try again at ``next_attempt_at``. ``error`` holds no personal
    data (error class and SMTP code)."""
    done = await con.fetchval(
        "UPDATE outbox SET next_attempt_at = $3, last_error = $4, claim_token = NULL"
        " WHERE id = $1 AND claim_token = $2 AND status = 'queued' RETURNING true",
        mail.id,
        mail.claim_token,
        next_attempt_at,
        error,
    )
    return bool(done)


async def mark_failed(con: Connection, mail: ClaimedMail, error: str) -> bool:
    """A permanent failure (5xx, or temporary failures until the attempts ran out). The
    content stays, so the ABH can see what did not go out and send it another way; it is
    removed with the case."""
    done = await con.fetchval(
        "UPDATE outbox SET status = 'failed', last_error = $3, claim_token = NULL"
        " WHERE id = $1 AND claim_token = $2 AND status = 'queued' RETURNING true",
        mail.id,
        mail.claim_token,
        error,
    )
    return bool(done)


async def mail_row(con: Connection, outbox_id: int) -> MailRow | None:
    """One outbox row, for operators and tests."""
    row = await con.fetchrow(
        "SELECT id, idempotency_key, case_id, arrival_id, recipient, subject, body, status,"
        " attempts, next_attempt_at, last_error, message_id, message_sha256, created_at, sent_at"
        " FROM outbox WHERE id = $1",
        outbox_id,
    )
    return None if row is None else MailRow.model_validate(dict(row))


async def backlog(con: Connection, now: datetime) -> OutboxBacklogRow:
    """What the outbox holds unsent: queued (and of those due now), failed, the oldest queued."""
    row = await con.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'queued' AND next_attempt_at <= $1) AS queued_due,"
        " count(*) FILTER (WHERE status = 'failed') AS failed,"
        " min(created_at) FILTER (WHERE status = 'queued') AS oldest_queued_at"
        " FROM outbox WHERE status <> 'sent' AND channel = 'mail'",
        now,
    )
    assert row is not None
    return OutboxBacklogRow.model_validate(dict(row))
