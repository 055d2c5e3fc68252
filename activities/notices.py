"""The notice dispatcher: notices become e-mails in the outbox (issue 14, point 5).

Two activities, started by the notice workflow on two Temporal Schedules
(``service/notices.py``):

``notices.dispatch`` (every few minutes) writes the notice of every new open ``ki_contact``
task (a new KI referral: no workflow changes for it), then, when single mails are on, turns
each waiting notice into one mail: to the task's assignee when the assignee is active and has
an address, else to the team's address (``CASE_NOTICE_QUEUE_ADDRESSES``). The mail is queued
and the notice marked in one transaction, with the outbox's idempotency key
``notice:<notice key>``: a retried or doubled dispatch never mails twice, and a dispatcher that
dies mid-way leaves each notice either mailed or waiting. A notice whose task closed first is
settled without a mail; so is a reminder of a task already overdue. A notice nobody has an
address for waits (``outcome`` NULL), is counted in the report, logged, and given as the
``case_notices_without_address`` gauge; it goes as soon as an address is set.

``notices.digest`` (daily, ``CASE_NOTICE_DIGEST_HOUR`` Europe/Berlin) mails every recipient
with something open one overview: counts of open and overdue tasks, the first of them with
links, and, in digest-only mode, the notices since the day before (which it settles). Once per
recipient and day (``digest:<day>:account:<id>`` or ``digest:<day>:queue:<queue>``). Digests
belong to no case, so the erasure of a case cannot find them: the digest round deletes those
older than ``digest_keep`` (30 days).

What a mail says is in ``mail/notices.py``: references, task kinds, due dates and links only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from pydantic import TypeAdapter, ValidationError
from temporalio import activity

from mail.notices import Links, Recipient, digest_mail, notice_mail
from schemas.local_time import BERLIN
from schemas.mail import MailAddress
from schemas.notices import (
    DigestReport,
    DigestTaskRow,
    DispatchReport,
    NoticeDelivery,
    NoticeRound,
    PendingNoticeRow,
)
from schemas.records import ActivityName, NoticeKind
from store import notices as store
from store import outbox
from store.db import Connection

BATCH = 100  # notices per transaction
MAX_BATCHES = 50  # per dispatch round; the next round takes the rest
DIGEST_NOTICES = 5_000  # notices one digest round settles at most (digest-only mode)

_ADDRESS: TypeAdapter[str] = TypeAdapter(MailAddress)


def _now() -> datetime:
    return datetime.now(UTC)


def _usable(address: str | None) -> bool:
    if address is None:
        return False
    try:
        _ADDRESS.validate_python(address)
    except ValidationError:
        return False
    return True


def _without_mail(notice: PendingNoticeRow) -> str | None:
    """The outcome of a notice no mail is needed for any more, else None."""
    if notice.task_id is not None and notice.task_status != "open":
        return "task_closed"
    if notice.kind == NoticeKind.REMINDER and notice.task_overdue:
        return "superseded"
    return None


@dataclass
class _Digest:
    recipient: Recipient
    tasks: list[DigestTaskRow] = field(default_factory=list)
    notices: list[PendingNoticeRow] = field(default_factory=list)


class Notices:
    """Notices to the people who act on them, through the outbox."""

    def __init__(self, pool: asyncpg.Pool, delivery: NoticeDelivery | None = None) -> None:
        self._pool = pool
        self._delivery = delivery or NoticeDelivery()
        self._links = Links(self._delivery.public_url)

    @property
    def _addressed_queues(self) -> list[str]:
        return sorted(
            queue.value
            for queue, address in self._delivery.queue_addresses.items()
            if _usable(address)
        )

    def recipient(self, queue: str, account_id: int | None, email: str | None) -> Recipient | None:
        """The assignee when active with an address, else the team's address, else nobody."""
        if account_id is not None and email is not None and _usable(email):
            return Recipient(address=email, key=f"account:{account_id}")
        for team, address in self._delivery.queue_addresses.items():
            if team.value == queue and _usable(address):
                return Recipient(address=address, key=f"queue:{queue}", team=queue)
        return None

    @activity.defn(name=ActivityName.DISPATCH_NOTICES)
    async def dispatch(self, round: NoticeRound) -> DispatchReport:
        """New KI referrals become notices; waiting notices become one mail each."""
        queues = self._addressed_queues
        async with self._pool.acquire() as con:
            referrals = await store.record_ki_referrals(con)
        mailed = settled = 0
        if self._delivery.mode.single_mails:
            for _ in range(MAX_BATCHES):
                async with self._pool.acquire() as con, con.transaction():
                    batch = await store.claim_pending(con, queues, BATCH)
                    for notice in batch:
                        if await self._mail_one(con, notice):
                            mailed += 1
                        else:
                            settled += 1
                if len(batch) < BATCH:
                    break
        async with self._pool.acquire() as con:
            waiting = await store.count_without_address(con, queues)
        self._report_waiting(waiting)
        return DispatchReport(
            ki_referrals=referrals, mailed=mailed, settled=settled, without_address=waiting
        )

    async def _mail_one(self, con: Connection, notice: PendingNoticeRow) -> bool:
        """Mail the notice or settle it without one; True when a mail was queued."""
        outcome = _without_mail(notice)
        if outcome is not None:
            await store.settle(con, notice.key, outcome)
            return False
        recipient = self.recipient(notice.queue, notice.account_id, notice.email)
        assert recipient is not None  # claim_pending returns only notices someone can get
        now = _now()
        outbox_id, _ = await outbox.enqueue(con, notice_mail(notice, recipient, self._links), now)
        await store.settle(con, notice.key, "mailed", sent_at=now, outbox_id=outbox_id)
        return True

    @activity.defn(name=ActivityName.MAIL_DIGESTS)
    async def digest(self, round: NoticeRound) -> DigestReport:
        """The day's overview per recipient, once a day each."""
        on = round.at.astimezone(BERLIN).date()
        mode = self._delivery.mode
        if not mode.digests:
            return DigestReport(day=on)
        now = _now()
        digests: dict[str, _Digest] = {}
        without_address = listed = queued = 0
        async with self._pool.acquire() as con, con.transaction():
            removed = await store.delete_old_digests(con, now - self._delivery.digest_keep)
            for task in await store.open_tasks(con, round.at):
                recipient = self.recipient(task.queue, task.account_id, task.email)
                if recipient is None:
                    without_address += 1
                    continue
                digests.setdefault(recipient.key, _Digest(recipient)).tasks.append(task)
            if not mode.single_mails:
                await store.record_ki_referrals(con)
                pending = await store.claim_pending(con, self._addressed_queues, DIGEST_NOTICES)
                for notice in pending:
                    outcome = _without_mail(notice)
                    if outcome is not None:
                        await store.settle(con, notice.key, outcome)
                        continue
                    recipient = self.recipient(notice.queue, notice.account_id, notice.email)
                    assert recipient is not None
                    digests.setdefault(recipient.key, _Digest(recipient)).notices.append(notice)
            for digest in _in_order(digests.values()):
                mail = digest_mail(
                    digest.recipient,
                    digest.tasks,
                    digest.notices,
                    at=round.at,
                    delivery=self._delivery,
                )
                outbox_id, created = await outbox.enqueue(con, mail, now)
                queued += created
                for notice in digest.notices:
                    await store.settle(con, notice.key, "digest", sent_at=now, outbox_id=outbox_id)
                listed += len(digest.notices)
        if without_address:
            activity.logger.warning(
                "digest: %d open tasks reach nobody (no assignee or team address)",
                without_address,
            )
        return DigestReport(
            day=on,
            digests=queued,
            notices=listed,
            without_address=without_address,
            removed=removed,
        )

    @staticmethod
    def _report_waiting(waiting: int) -> None:
        activity.metric_meter().create_gauge(
            "case_notices_without_address",
            description="Notices waiting because neither the assignee nor the team has an "
            "e-mail address.",
        ).set(waiting)
        if waiting:
            # Only allow-listed extras reach the log (config/logging.py): say it in the text.
            activity.logger.warning(
                "%d notices wait: neither the assignee nor the team has an e-mail address",
                waiting,
            )


def _in_order(digests: Iterable[_Digest]) -> list[_Digest]:
    """Teams first, then accounts, each by key: the outbox ids follow a stable order."""
    return sorted(digests, key=lambda d: (d.recipient.team is None, d.recipient.key))
