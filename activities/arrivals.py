"""Activities of the arrival workflow (Neu zugewandert): record the arrival, mail the flyer,
watch the outbox, open the ABH's hand-over task, remind of it, close it, finish.

Each writes in one transaction and is safe to repeat with the ids the workflow chose. The
flyer's PDF is read from the database here, inside the activity, and goes straight into the
outbox: it never travels through the workflow's history.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from documents.texts import SOURCE_LANGUAGE, load_template
from schemas.arrivals import (
    MAIL_QUEUED,
    MAIL_UNUSABLE,
    ArrivalFinish,
    ArrivalNotice,
    Channel,
    DeliveryStatus,
    FlyerMail,
    HandoverClosure,
    HandoverTask,
    MailedFlyer,
    MailOutcome,
    MailUnsettled,
    MailWatch,
    NewArrival,
)
from schemas.documents import DocumentKind
from schemas.file_names import flyer_file_name
from schemas.flyers import IssuedFlyer
from schemas.local_time import BERLIN
from schemas.mail import MailAttachment, MailRequest
from schemas.records import ActivityName, NoticeKind
from schemas.retention import RetentionRules, default_retention_rules
from schemas.tasks import TaskStatus
from store import arrivals as store
from store import outbox, rule_sets, tasks
from store.flyers import flyer_pdf


def flyer_mail(flyer: IssuedFlyer) -> tuple[str, str, str]:
    """Subject, body and attachment name of the flyer's mail: German, then the person's
    language (the flyer's columns), from the flyer's own versioned texts; the same drafted-
    translation markers as on the PDF. Nobody's name is in it: one text per town and language."""
    templates = [
        template
        for language in flyer.languages
        if (template := load_template(DocumentKind.FLYER, language)) is not None
    ]
    subject = " / ".join(template.text("title", town=flyer.town) for template in templates)
    sections = []
    for template in templates:
        lines = [template.text("title", town=flyer.town), "", template.text("intro")]
        if template.language == SOURCE_LANGUAGE:
            lines += [
                "",
                "Im Anhang finden Sie das Faltblatt als PDF: die Beratungs- und "
                f"Unterstützungsangebote in {flyer.town}, auf Deutsch und in Ihrer Sprache.",
            ]
        if template.review.status == "drafted":
            marker = (
                "source_draft_marker" if template.language == SOURCE_LANGUAGE else "draft_marker"
            )
            lines += ["", template.text(marker)]
        lines += ["", template.text("authority")]
        sections.append("\n".join(lines))
    body = "Guten Tag,\n\n" + "\n\n――――――――――――――――――――\n\n".join(sections) + "\n"
    return subject, body, flyer_file_name(flyer)


def idempotency_key(arrival_id: str, flyer: IssuedFlyer) -> str:
    """One mail per arrival and flyer version, however often the activity runs."""
    return f"arrival:{arrival_id}:flyer:{flyer.flyer_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class Arrivals:
    def __init__(self, pool: asyncpg.Pool, retention: RetentionRules | None = None) -> None:
        self._pool = pool
        self._retention = retention or default_retention_rules()

    @activity.defn(name=ActivityName.RECORD_ARRIVAL)
    async def record_arrival(self, arrival: NewArrival) -> None:
        async with self._pool.acquire() as con:
            await store.insert_arrival(con, arrival)

    @activity.defn(name=ActivityName.MAIL_FLYER)
    async def mail_flyer(self, mail: FlyerMail) -> MailedFlyer:
        """Queue the mail with the flyer's PDF and record the delivery, in one transaction."""
        async with self._pool.acquire() as con, con.transaction():
            known = await store.delivery_exists(con, mail.delivery_id)
            if known is not None:
                return MailedFlyer(outbox_id=known)
            arrival = await store.arrival(con, mail.arrival_id)
            if arrival is None or arrival.email is None:
                raise ApplicationError(
                    "the arrival has no e-mail address", type=MAIL_UNUSABLE, non_retryable=True
                )
            pdf = await flyer_pdf(con, mail.flyer.flyer_id)
            if pdf is None:
                raise ApplicationError("the flyer's PDF is not stored")
            subject, body, filename = flyer_mail(mail.flyer)
            try:
                request = MailRequest(
                    idempotency_key=idempotency_key(mail.arrival_id, mail.flyer),
                    arrival_id=mail.arrival_id,
                    recipient=arrival.email,
                    subject=subject,
                    body=body,
                    attachments=(
                        MailAttachment(
                            filename=filename, content_type="application/pdf", content=pdf
                        ),
                    ),
                )
            except ValidationError as error:
                # Never str(error): it quotes the address.
                fields = sorted({str(detail["loc"][0]) for detail in error.errors()})
                raise ApplicationError(
                    f"the mail cannot be queued ({', '.join(fields)})",
                    type=MAIL_UNUSABLE,
                    non_retryable=True,
                ) from None
            outbox_id, _ = await outbox.enqueue(con, request, _now())
            await store.insert_delivery(
                con,
                delivery_id=mail.delivery_id,
                arrival_id=mail.arrival_id,
                flyer=mail.flyer,
                channel=Channel.EMAIL,
                status=DeliveryStatus.QUEUED,
                outbox_id=outbox_id,
                at=mail.at,
            )
        return MailedFlyer(outbox_id=outbox_id)

    @activity.defn(name=ActivityName.MAIL_OUTCOME)
    async def mail_outcome(self, watch: MailWatch) -> MailOutcome:
        """Sent or failed, recorded on the delivery; while queued it fails benignly, and the
        workflow's retry policy asks again later."""
        async with self._pool.acquire() as con, con.transaction():
            row = await store.outbox_state(con, watch.outbox_id)
            if row is None:
                raise ApplicationError("the mail is not in the outbox", non_retryable=True)
            if row.status == "queued":
                raise ApplicationError(
                    "the mail is still queued",
                    type=MAIL_QUEUED,
                    category=ApplicationErrorCategory.BENIGN,
                )
            status = DeliveryStatus.SENT if row.status == "sent" else DeliveryStatus.FAILED
            await store.settle_delivery(con, watch.delivery_id, status, row.sent_at or _now())
        return MailOutcome(status=status, at=row.sent_at)

    @activity.defn(name=ActivityName.MAIL_UNSETTLED)
    async def mail_unsettled(self, unsettled: MailUnsettled) -> None:
        async with self._pool.acquire() as con:
            await store.settle_delivery(
                con, unsettled.delivery_id, DeliveryStatus.UNKNOWN, unsettled.at
            )

    @activity.defn(name=ActivityName.CREATE_HANDOVER_TASK)
    async def create_handover_task(self, task: HandoverTask) -> None:
        async with self._pool.acquire() as con, con.transaction():
            await store.insert_task(
                con, task.task_id, task.arrival_id, task.due_at, task.at, task.queue
            )
            await store.insert_delivery(
                con,
                delivery_id=task.delivery_id,
                arrival_id=task.arrival_id,
                flyer=task.flyer,
                channel=Channel.PRINT,
                status=DeliveryStatus.OPEN,
                task_id=task.task_id,
                at=task.at,
            )

    @activity.defn(name=ActivityName.ARRIVAL_NOTICE)
    async def notice(self, notice: ArrivalNotice) -> None:
        """A reminder or an overdue notice of the hand-over task to its team; overdue marks
        the task overdue in the inbox. Once per key, however often it runs."""
        async with self._pool.acquire() as con, con.transaction():
            await store.insert_notice(con, notice)
            if notice.kind is NoticeKind.OVERDUE:
                await tasks.mark_overdue(con, notice.task_id)

    @activity.defn(name=ActivityName.CLOSE_HANDOVER_TASK)
    async def close_handover_task(self, closure: HandoverClosure) -> None:
        completion = closure.completion
        if closure.status is TaskStatus.CANCELLED or completion is None:
            status, on = DeliveryStatus.LAPSED, None
        elif completion.handed_over:
            status, on = DeliveryStatus.HANDED_OVER, completion.handed_over_on
        else:
            status, on = DeliveryStatus.NOT_REACHABLE, None
        async with self._pool.acquire() as con, con.transaction():
            await store.close_task(con, closure.task_id, closure.status, completion, closure.at)
            await store.settle_delivery(con, closure.delivery_id, status, closure.at, on)

    @activity.defn(name=ActivityName.FINISH_ARRIVAL)
    async def finish(self, finish: ArrivalFinish) -> None:
        """The erasure date is fixed when the arrival finishes (rule "arrival")."""
        finished_on = finish.at.astimezone(BERLIN).date()
        async with self._pool.acquire() as con:
            rules = await rule_sets.retention_in_force(con, finished_on) or self._retention
            erase_after = rules.for_arrival().erase_after(finished_on)
            await store.finish(con, finish.arrival_id, finish.outcome, finish.at, erase_after)
