"""The activity that puts an e-mail into the outbox; the delivery loop (mail/) sends it.

The workflow never talks to a mail server: enqueueing is one short database transaction,
idempotent by the caller's key, so a retried activity or a replayed workflow queues one mail.
An outage of the mail server therefore never fails or delays a workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from temporalio import activity

from activities.processing import (
    DataCategory,
    DataSubject,
    LegalBasis,
    Recipient,
    Retention,
    SpecialCategories,
    processing,
)
from schemas.mail import MailQueued, MailRequest
from schemas.records import ActivityName
from store import outbox


class Mail:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @processing(
        purpose="E-Mails mit Schreiben und Anhängen zum Versand in den Postausgang legen "
        "(Zustellung über den SMTP-Server, Wiederholung bei Störungen)",
        legal_basis=(LegalBasis.ABH_TASK,),
        categories_of_data=(
            DataCategory.CASE_REFERENCE,
            DataCategory.IDENTITY,
            DataCategory.CONTACT,
            DataCategory.RESIDENCE,
            DataCategory.PROCESS,
        ),
        data_subjects=(DataSubject.PERSON, DataSubject.SUPPORTERS),
        recipients=(Recipient.MAIL_RECIPIENTS,),
        retention=Retention.OUTBOX,
        special_categories=SpecialCategories.INDIRECT,
    )
    @activity.defn(name=ActivityName.ENQUEUE_MAIL)
    async def enqueue(self, mail: MailRequest) -> MailQueued:
        """Queue ``mail`` once per ``idempotency_key``; a second call reports the first."""
        async with self._pool.acquire() as con, con.transaction():
            outbox_id, created = await outbox.enqueue(con, mail, datetime.now(UTC))
        return MailQueued(outbox_id=outbox_id, created=created)
