"""Queries of the arrivals (``arrivals``, ``arrival_deliveries``, their tasks): one per query.

Writers take a connection (the caller owns the transaction). Every writer is safe to repeat
with the same ids (the workflow chooses them), so a retried activity changes nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime

from schemas.arrivals import (
    ArrivalEventRow,
    ArrivalLockRow,
    ArrivalNotice,
    ArrivalOutcome,
    ArrivalPersonRow,
    ArrivalRow,
    Channel,
    DeliveryRow,
    DeliveryStatus,
    NewArrival,
)
from schemas.flyers import IssuedFlyer
from schemas.mail import OutboxStateRow
from schemas.tasks import FlyerHandover, Queue, TaskKind, TaskStatus
from store.db import Connection

# What an erasure of an arrival removes; the columns of ``arrivals`` set to NULL and the
# tables whose rows go (by ``arrival_id``). ``tasks.completion`` is cleared as for a case.
PERSONAL_COLUMNS = ("given_name", "family_name", "email")
PERSONAL_TABLES = (
    "outbox",  # its attachments go by ON DELETE CASCADE
    "notices",  # no personal data, but about the person's arrival: gone as a case's go
)


async def insert_arrival(con: Connection, arrival: NewArrival) -> bool:
    """Store an arrival once; False when it exists (a retried activity)."""
    inserted = await con.fetchval(
        "INSERT INTO arrivals (arrival_id, reference, event_id, town, language, effective_date,"
        " received_at, given_name, family_name, email)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (arrival_id) DO NOTHING RETURNING true",
        arrival.arrival_id,
        arrival.reference,
        arrival.event_id,
        arrival.town,
        arrival.language,
        arrival.effective_date,
        arrival.received_at,
        arrival.given_name,
        arrival.family_name,
        arrival.email,
    )
    return bool(inserted)


async def arrival(con: Connection, arrival_id: str) -> ArrivalRow | None:
    row = await con.fetchrow(
        "SELECT arrival_id::text, reference, event_id, town, language, effective_date,"
        " received_at, given_name, family_name, email, outcome, finished_at, erase_after,"
        " erased_at FROM arrivals WHERE arrival_id = $1",
        arrival_id,
    )
    return None if row is None else ArrivalRow.model_validate(dict(row))


async def by_event(con: Connection, event_id: str) -> ArrivalEventRow | None:
    """The arrival an event opened (a re-sent event finds it)."""
    row = await con.fetchrow(
        "SELECT arrival_id::text, reference, town, finished_at FROM arrivals WHERE event_id = $1",
        event_id,
    )
    return None if row is None else ArrivalEventRow.model_validate(dict(row))


async def informed_in(con: Connection, reference: str, town: str) -> bool:
    """Did this reference get (or is it getting) the flyer of ``town``? An arrival that ended
    without the flyer reaching the person (not reachable, lapsed, no flyer) does not count."""
    found = await con.fetchval(
        "SELECT true FROM arrivals WHERE reference = $1 AND town = $2"
        " AND (finished_at IS NULL OR outcome IN ('emailed', 'handed_over')) LIMIT 1",
        reference,
        town,
    )
    return bool(found)


async def finish(
    con: Connection, arrival_id: str, outcome: ArrivalOutcome, at: datetime, erase_after: date
) -> None:
    await con.execute(
        "UPDATE arrivals SET outcome = $2, finished_at = $3, erase_after = $4"
        " WHERE arrival_id = $1 AND finished_at IS NULL",
        arrival_id,
        outcome.value,
        at,
        erase_after,
    )


# -------------------------------------------------------------- deliveries


async def insert_delivery(
    con: Connection,
    *,
    delivery_id: str,
    arrival_id: str,
    flyer: IssuedFlyer,
    channel: Channel,
    status: DeliveryStatus,
    at: datetime,
    outbox_id: int | None = None,
    task_id: str | None = None,
) -> bool:
    inserted = await con.fetchval(
        "INSERT INTO arrival_deliveries (delivery_id, arrival_id, flyer_id, town, languages,"
        " template_version, directory_version, content_hash, flags, channel, outbox_id, task_id,"
        " status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (delivery_id) DO NOTHING RETURNING true",
        delivery_id,
        arrival_id,
        flyer.flyer_id,
        flyer.town,
        list(flyer.languages),
        flyer.template_version,
        flyer.directory_version,
        flyer.content_hash,
        [str(flag) for flag in flyer.flags],
        channel.value,
        outbox_id,
        task_id,
        status.value,
        at,
    )
    return bool(inserted)


async def delivery_exists(con: Connection, delivery_id: str) -> int | None:
    """The outbox id of an e-mail delivery already recorded (a retried activity)."""
    outbox_id: int | None = await con.fetchval(
        "SELECT outbox_id FROM arrival_deliveries WHERE delivery_id = $1", delivery_id
    )
    return outbox_id


async def settle_delivery(
    con: Connection,
    delivery_id: str,
    status: DeliveryStatus,
    at: datetime,
    handed_over_on: date | None = None,
) -> None:
    """Record how a delivery ended; only an open or queued one changes."""
    await con.execute(
        "UPDATE arrival_deliveries SET status = $2, settled_at = $3, handed_over_on = $4"
        " WHERE delivery_id = $1 AND status IN ('queued', 'open')",
        delivery_id,
        status.value,
        at,
        handed_over_on,
    )


async def deliveries(con: Connection, arrival_id: str) -> list[DeliveryRow]:
    rows = await con.fetch(
        "SELECT delivery_id::text, flyer_id::text, town, languages, template_version,"
        " directory_version, content_hash, flags, channel, outbox_id, task_id::text, status,"
        " handed_over_on, created_at, settled_at FROM arrival_deliveries"
        " WHERE arrival_id = $1 ORDER BY created_at, delivery_id",
        arrival_id,
    )
    return [DeliveryRow.model_validate(dict(row)) for row in rows]


async def flyer_of_task(con: Connection, task_id: str) -> str | None:
    """The flyer a hand-over task is about (for printing it)."""
    flyer_id: str | None = await con.fetchval(
        "SELECT flyer_id::text FROM arrival_deliveries WHERE task_id = $1", task_id
    )
    return flyer_id


async def outbox_state(con: Connection, outbox_id: int) -> OutboxStateRow | None:
    row = await con.fetchrow("SELECT status, sent_at FROM outbox WHERE id = $1", outbox_id)
    return None if row is None else OutboxStateRow.model_validate(dict(row))


# ------------------------------------------------------------------- tasks


async def insert_task(
    con: Connection,
    task_id: str,
    arrival_id: str,
    due_at: datetime,
    at: datetime,
    queue: Queue = Queue.ABH,
) -> None:
    await con.execute(
        "INSERT INTO tasks (task_id, arrival_id, kind, queue, status, due_at, created_at)"
        " VALUES ($1, $2, $3, $4, 'open', $5, $6) ON CONFLICT DO NOTHING",
        task_id,
        arrival_id,
        TaskKind.FLYER_HANDOVER.value,
        queue.value,
        due_at,
        at,
    )


async def close_task(
    con: Connection,
    task_id: str,
    status: TaskStatus,
    completion: FlyerHandover | None,
    at: datetime,
) -> None:
    await con.execute(
        "UPDATE tasks SET status = $2, closed_at = $3, completion = $4"
        " WHERE task_id = $1 AND status = 'open'",
        task_id,
        status.value,
        at,
        completion.model_dump(mode="json") if completion else None,
    )


async def insert_notice(con: Connection, notice: ArrivalNotice) -> None:
    """A reminder or overdue notice of a hand-over task, once per key."""
    await con.execute(
        "INSERT INTO notices (key, arrival_id, queue, kind, task_id, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        notice.key,
        notice.arrival_id,
        notice.queue.value,
        notice.kind.value,
        notice.task_id,
        notice.at,
    )


async def person_of_task(con: Connection, task_id: str) -> ArrivalPersonRow | None:
    """Whom the ABH hands the flyer to: the arrival of a hand-over task, with the name."""
    row = await con.fetchrow(
        "SELECT a.arrival_id::text, a.reference, a.town, a.language, a.given_name,"
        " a.family_name, a.received_at FROM tasks t JOIN arrivals a USING (arrival_id)"
        " WHERE t.task_id = $1",
        task_id,
    )
    return None if row is None else ArrivalPersonRow.model_validate(dict(row))


# ----------------------------------------------------------------- erasure


async def due_for_erasure(con: Connection, on: date, limit: int) -> list[str]:
    """References whose every arrival has finished and whose latest erasure date has come.

    Erased per reference: the arrivals of a reference share one data key (the workflow id
    ``arrival-<reference>`` selects it), and a key must never be shredded under a workflow
    that is still running."""
    rows = await con.fetch(
        "SELECT reference FROM arrivals GROUP BY reference"
        " HAVING bool_or(erased_at IS NULL) AND bool_and(finished_at IS NOT NULL)"
        " AND max(erase_after) <= $1 ORDER BY max(erase_after), reference LIMIT $2",
        on,
        limit,
    )
    return [row["reference"] for row in rows]


async def lock_reference(con: Connection, reference: str) -> list[ArrivalLockRow]:
    """The arrivals of a reference, locked against a concurrent erasure."""
    rows = await con.fetch(
        "SELECT arrival_id, finished_at, erase_after, erased_at FROM arrivals"
        " WHERE reference = $1 ORDER BY received_at FOR UPDATE",
        reference,
    )
    return [ArrivalLockRow.model_validate(dict(row)) for row in rows]


async def remove_personal_data(
    con: Connection, arrival_ids: list[str], at: datetime
) -> dict[str, int]:
    """Name and e-mail go, the mails (with their attachments) and the notices about the
    hand-over task go, task completions go."""
    removed: dict[str, int] = {}
    for table in PERSONAL_TABLES:  # names from the constant above, never from input
        status = await con.execute(
            f"DELETE FROM {table} WHERE arrival_id = ANY($1::uuid[])", arrival_ids
        )
        removed[table] = int(status.split()[-1])
    status = await con.execute(
        "UPDATE tasks SET completion = NULL WHERE arrival_id = ANY($1::uuid[])"
        " AND completion IS NOT NULL",
        arrival_ids,
    )
    removed["tasks.completion"] = int(status.split()[-1])
    status = await con.execute(
        "UPDATE arrivals SET given_name = NULL, family_name = NULL, email = NULL, erased_at = $2"
        " WHERE arrival_id = ANY($1::uuid[]) AND erased_at IS NULL",
        arrival_ids,
        at,
    )
    removed["arrivals"] = int(status.split()[-1])
    return removed
