"""The delivery loop: claim what is due in the outbox, send it, record the outcome.

It runs as a background task of the worker process (``runtime.main``), not as a Temporal
activity on a schedule: the outbox table already makes mail durable, so Temporal would add
only histories holding (encrypted) mail, and a schedule's minute granularity. The loop is a
poll every few seconds; sending happens in a thread, so neither the event loop nor the
Temporal worker waits on a mail server. Several worker processes may run the loop at once:
claims use ``FOR UPDATE SKIP LOCKED`` (store/outbox.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import asyncpg

from config.logging import get_logger
from mail.transport import PermanentFailure, TemporaryFailure, Transport
from store import outbox
from store.outbox import ClaimedMail

log = get_logger("mail.delivery")

DEFAULT_SENDER = "ausreise-faelle@localhost"


@dataclass(frozen=True)
class DeliveryPolicy:
    """How often and how long to try. With the defaults a mail is retried after 30 s, 1 min,
    2 min, … then hourly: 30 attempts span about a day, longer than a usual outage."""

    batch: int = 20
    lease: timedelta = timedelta(minutes=5)  # a claimed mail is not due again before this
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    max_attempts: int = 30

    def backoff(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed attempt: doubling, capped."""
        exponent = min(max(attempts - 1, 0), 30)
        return min(self.backoff_base * (1 << exponent), self.backoff_max)


ATTEMPTS: Counter[str] = Counter()
"""This process's delivery attempts by outcome (``sent``, ``retried``, ``failed``,
``lost_claims``) and rounds that failed as a whole (``round_failed``): read by its metrics
(``case_mail_attempts_total``). Counts only."""


@dataclass(frozen=True)
class DeliveryReport:
    """Counts only: this is what is logged."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_claims: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.lost_claims


def message_id(mail: ClaimedMail, sender: str) -> str:
    """Stable per outbox row: a retried send carries the same Message-ID, so the rare
    duplicate (the server accepted, then we crashed before recording it) is recognisable."""
    domain = sender.rsplit("@", 1)[-1] or "localhost"
    digest = hashlib.sha256(mail.idempotency_key.encode()).hexdigest()[:16]
    return f"<outbox-{mail.id}-{digest}@{domain}>"


def build_message(mail: ClaimedMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = message_id(mail, sender)
    message.set_content(mail.body)
    for attachment in mail.attachments:
        maintype, subtype = attachment.content_type.split("/", 1)
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


async def deliver_due(
    pool: asyncpg.Pool,
    transport: Transport,
    now: datetime,
    *,
    sender: str = DEFAULT_SENDER,
    policy: DeliveryPolicy | None = None,
) -> DeliveryReport:
    """Send every mail due at ``now`` (one batch), one after another; returns the counts.

    Temporary failures (unreachable, 4xx) come back after an exponential backoff until
    ``policy.max_attempts``; permanent ones (5xx) are marked failed at once. An unexpected
    error of the transport counts as temporary: the mail stays, only its class is stored.
    """
    policy = policy or DeliveryPolicy()
    async with pool.acquire() as con, con.transaction():
        claimed = await outbox.claim_due(con, now, limit=policy.batch, lease=policy.lease)
    sent = retried = failed = lost = 0
    for mail in claimed:
        message = build_message(mail, sender)
        error: str | None = None
        permanent = False
        try:
            await transport.send(message)
        except PermanentFailure as err:
            error, permanent = err.reason, True
        except TemporaryFailure as err:
            error = err.reason
        except Exception as err:  # never str(err): it may quote the mail
            error = f"unexpected {type(err).__name__}"
        async with pool.acquire() as con:
            if error is None:
                recorded = await outbox.mark_sent(
                    con, mail, now, str(message["Message-ID"]), message.as_bytes()
                )
                sent += recorded
            elif permanent or mail.attempts >= policy.max_attempts:
                if not permanent:
                    error = f"{error}; gave up after {mail.attempts} attempts"
                recorded = await outbox.mark_failed(con, mail, error)
                failed += recorded
            else:
                retry_at = now + policy.backoff(mail.attempts)
                recorded = await outbox.schedule_retry(con, mail, retry_at, error)
                retried += recorded
            lost += not recorded
    return DeliveryReport(sent=sent, retried=retried, failed=failed, lost_claims=lost)


async def poll(
    stop: asyncio.Event, interval: float, one_round: Callable[[], Awaitable[bool]]
) -> None:
    """``one_round`` until ``stop`` is set, pausing ``interval`` seconds after a round that
    was not full (it answers whether it was: more may be due, so no pause). For every
    delivery loop through the outbox (mails here, the webhooks in ``service.webhooks``)."""
    while not stop.is_set():
        if await one_round():
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


class MailDelivery:
    """``deliver_due`` every ``interval`` seconds until :meth:`stop`; for the worker process.

    A failing round (database restarting, say) is logged by error class and tried again next
    round; the loop ends only when stopped, after the send in progress.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        transport: Transport,
        *,
        interval: float = 5.0,
        sender: str = DEFAULT_SENDER,
        policy: DeliveryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._transport = transport
        self._interval = interval
        self._sender = sender
        self._policy = policy or DeliveryPolicy()
        self._clock = clock
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        await poll(self._stop, self._interval, self._round)

    async def _round(self) -> bool:
        """One batch; whether it was full."""
        try:
            report = await deliver_due(
                self._pool, self._transport, self._clock(), sender=self._sender, policy=self._policy
            )
        except Exception as err:
            ATTEMPTS["round_failed"] += 1
            log.warning("mail delivery round failed", error=type(err).__name__)
            return False
        ATTEMPTS.update(
            sent=report.sent,
            retried=report.retried,
            failed=report.failed,
            lost_claims=report.lost_claims,
        )
        if report.claimed:
            log.info(
                "mail delivery",
                sent=report.sent,
                retried=report.retried,
                failed=report.failed,
                lost_claims=report.lost_claims,
            )
        return report.claimed >= self._policy.batch
