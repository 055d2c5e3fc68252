"""Webhooks to the back office: the subscriptions and the delivery loop (docs/webhooks.md).

What happens to a case is queued in the outbox by triggers (``037_webhooks.sql``), one row
per active subscription, in the transaction of the change itself. :class:`WebhookDelivery`
claims due rows as the mail loop claims mails (``FOR UPDATE SKIP LOCKED``, a lease), posts
each signed with its subscription's secret (Standard Webhooks: ``webhook-id``,
``webhook-timestamp``, ``webhook-signature``), and records the outcome: a 2xx is delivered;
anything else (no answer, a timeout, 3xx/4xx/5xx) is tried again after the mails' backoff
(:class:`mail.delivery.DeliveryPolicy`) until the attempts run out, except 410 Gone, which
ends that subscription's deliveries at once. The ``webhook-id`` (the row's idempotency key)
stays the same on every attempt, so the receiver drops what it has seen (at least once).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx

from config.logging import get_logger
from mail.delivery import DeliveryPolicy, poll
from protection.keyring import KeyRing
from protection.sealed import seal, unseal
from protection.webhook_signing import BadSecret, headers, new_secret, secret_bytes
from schemas.accounts import Account
from schemas.audit import AuditAction, AuditDraft, DetailValue, by_system
from schemas.webhooks import Subscription, SubscriptionMade
from service.errors import Invalid, NameTaken, NotFound
from store import audit, outbox
from store import webhooks as store
from store.db import Connection
from store.outbox import ClaimedMail

log = get_logger("service.webhooks")

SCOPE = "webhooks"  # the key ring's scope of the sealed secrets
TIMEOUT_SECONDS = 10.0

ATTEMPTS: Counter[str] = Counter()
"""This process's webhook attempts by outcome (``delivered``, ``retried``, ``failed``)."""


class WebhookService:
    """Subscriptions, for admins (``python -m commands.webhooks``)."""

    def __init__(self, pool: asyncpg.Pool, keys: KeyRing, system_actor: str = "service") -> None:
        self._pool = pool
        self._keys = keys
        self._system_actor = system_actor

    def _entry(
        self, by: Account | None, action: AuditAction, detail: dict[str, DetailValue]
    ) -> AuditDraft:
        if by is not None:
            return AuditDraft.by(by, action, detail=detail)
        return by_system(self._system_actor, action, detail=detail)

    async def subscribe(
        self, name: str, url: str, secret: str | None = None, *, by: Account | None = None
    ) -> SubscriptionMade:
        """Subscribe ``url`` under ``name``; ``secret`` (``whsec_…``) or a new one. ``by``:
        the admin (None: the command on the server); the audit log names them."""
        if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
            raise Invalid.field("url", "an http or https URL")
        secret = secret or new_secret()
        try:
            secret_bytes(secret)
        except BadSecret as bad:
            raise Invalid.field("secret", str(bad)) from None
        sealed = await seal(self._keys, SCOPE, secret.encode(), store.secret_context(name))
        async with self._pool.acquire() as con, con.transaction():
            made = await store.add(con, name, url, sealed.key_id, sealed.data)
            if made is None:
                raise NameTaken(f"a subscription named {name} exists")
            detail: dict[str, DetailValue] = {"name": name, "url": url}
            await audit.append(con, self._entry(by, AuditAction.WEBHOOK_SUBSCRIBED, detail))
        return SubscriptionMade(subscription=made, secret=secret)

    async def subscriptions(self) -> list[Subscription]:
        async with self._pool.acquire() as con:
            return await store.listed(con)

    async def unsubscribe(self, name: str, *, by: Account | None = None) -> None:
        async with self._pool.acquire() as con, con.transaction():
            if not await store.deactivate(con, name):
                raise NotFound(f"no subscription named {name}")
            entry = self._entry(by, AuditAction.WEBHOOK_UNSUBSCRIBED, {"name": name})
            await audit.append(con, entry)


@dataclass(frozen=True)
class WebhookReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    lost_claims: int = 0

    @property
    def claimed(self) -> int:
        return self.delivered + self.retried + self.failed + self.lost_claims


async def _secret(con: Connection, keys: KeyRing, row: ClaimedMail) -> str | None:
    assert row.subscription_id is not None
    found = await store.sealed_secret(con, row.subscription_id)
    if found is None:
        return None
    name, key_id, sealed = found
    plain = await unseal(keys, key_id, sealed, store.secret_context(name))
    return None if plain is None else plain.decode()


async def deliver_due(
    pool: asyncpg.Pool,
    keys: KeyRing,
    http: httpx.AsyncClient,
    now: datetime,
    policy: DeliveryPolicy,
) -> WebhookReport:
    """Post every webhook due at ``now`` (one batch); the counts."""
    async with pool.acquire() as con, con.transaction():
        claimed = await outbox.claim_due(
            con, now, limit=policy.batch, lease=policy.lease, channel="webhook"
        )
    delivered = retried = failed = lost = 0
    # A batch mostly goes to one or two subscriptions: each secret is read and opened once.
    secrets: dict[int | None, str | None] = {}
    for row in claimed:
        if row.subscription_id not in secrets:
            async with pool.acquire() as con:
                secrets[row.subscription_id] = await _secret(con, keys, row)
        secret = secrets[row.subscription_id]
        body = row.body.encode()
        error: str | None
        permanent = False
        if secret is None:
            error, permanent = "the subscription is gone", True
        else:
            sent = headers(secret, row.idempotency_key, int(now.timestamp()), body)
            try:
                answer = await http.post(row.recipient, content=body, headers=sent)
                error = None if answer.is_success else f"HTTP {answer.status_code}"
                permanent = answer.status_code == httpx.codes.GONE
            except httpx.HTTPError as err:  # never str(err): it may name the host
                error = f"unreachable ({type(err).__name__})"
        async with pool.acquire() as con:
            if error is None:
                done = await outbox.mark_sent(con, row, now, row.idempotency_key, body)
                delivered += done
            elif permanent or row.attempts >= policy.max_attempts:
                done = await outbox.mark_failed(con, row, error)
                failed += done
            else:
                retry_at = now + policy.backoff(row.attempts)
                done = await outbox.schedule_retry(con, row, retry_at, error)
                retried += done
            lost += not done
    ATTEMPTS.update(delivered=delivered, retried=retried, failed=failed)
    return WebhookReport(delivered=delivered, retried=retried, failed=failed, lost_claims=lost)


class WebhookDelivery:
    """:func:`deliver_due` every ``interval`` seconds until :meth:`stop` (the worker's)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: KeyRing,
        *,
        interval: float = 5.0,
        policy: DeliveryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._interval = interval
        self._policy = policy or DeliveryPolicy()
        self._clock = clock
        self._transport = transport
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, follow_redirects=False, transport=self._transport
        ) as http:
            await poll(self._stop, self._interval, lambda: self._round(http))

    async def _round(self, http: httpx.AsyncClient) -> bool:
        """One batch; whether it was full."""
        try:
            report = await deliver_due(self._pool, self._keys, http, self._clock(), self._policy)
        except Exception as err:
            ATTEMPTS["round_failed"] += 1
            log.warning("webhook delivery round failed", error=type(err).__name__)
            return False
        if report.claimed:
            log.info(
                "webhook delivery",
                delivered=report.delivered,
                retried=report.retried,
                failed=report.failed,
                lost_claims=report.lost_claims,
            )
        return report.claimed >= self._policy.batch
