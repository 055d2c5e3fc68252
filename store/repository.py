"""One function per query. Writers take a connection (the caller owns the transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from schemas.case import Stage, SupporterReport
from schemas.events import Person, StatusEvent
from schemas.partners import Partner, PartnerDraft
from schemas.records import Entry, NewTask, Notice, StageRecord, TaskClosure
from schemas.tasks import Queue

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


# ---------------------------------------------------------------- timeline


async def add_entry(con: Connection, entry: Entry) -> bool:
    """Write a timeline entry; False when it exists, i.e. this step was done before."""
    inserted = await con.fetchval(
        "INSERT INTO timeline (case_id, seq, at, kind, detail) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT DO NOTHING RETURNING true",
        entry.case_id,
        entry.seq,
        entry.at,
        entry.kind,
        entry.detail,
    )
    return bool(inserted)


async def timeline(con: Connection, case_id: str) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT at, kind, detail FROM timeline WHERE case_id = $1 ORDER BY seq", case_id
    )


# ------------------------------------------------------------------- cases


async def insert_case(con: Connection, event: StatusEvent, at: datetime) -> None:
    assert event.person is not None
    await con.execute(
        "INSERT INTO cases (case_id, stage, residence_status, town, departure_deadline, "
        "opened_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
        event.case_id,
        Stage.OPENING.value,
        event.status.value,
        event.person.address.town,
        event.departure_deadline,
        at,
    )


async def upsert_person(con: Connection, case_id: str, person: Person) -> None:
    await con.execute(
        """
        INSERT INTO persons (case_id, given_name, family_name, date_of_birth, nationality,
                             language, phone, email, street, postal_code, town)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (case_id) DO UPDATE SET
            given_name = excluded.given_name, family_name = excluded.family_name,
            date_of_birth = excluded.date_of_birth, nationality = excluded.nationality,
            language = excluded.language, phone = excluded.phone, email = excluded.email,
            street = excluded.street, postal_code = excluded.postal_code, town = excluded.town
        """,
        case_id,
        person.given_name,
        person.family_name,
        person.date_of_birth,
        person.nationality,
        person.language,
        person.phone,
        person.email,
        person.address.street,
        person.address.postal_code,
        person.address.town,
    )


async def replace_children(con: Connection, case_id: str, event: StatusEvent) -> None:
    if event.household is None:
        return
    await con.execute("DELETE FROM household_children WHERE case_id = $1", case_id)
    await con.executemany(
        "INSERT INTO household_children (case_id, position, date_of_birth) VALUES ($1, $2, $3)",
        [
            (case_id, position, child.date_of_birth)
            for position, child in enumerate(event.household.children)
        ],
    )


async def insert_status_event(con: Connection, event: StatusEvent, at: datetime) -> None:
    await con.execute(
        "INSERT INTO status_events (event_id, case_id, status, effective_date, "
        "departure_deadline, recorded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        event.event_id,
        event.case_id,
        event.status.value,
        event.effective_date,
        event.departure_deadline,
        at,
    )


async def update_case_status(con: Connection, event: StatusEvent) -> None:
    """A status event changes the residence status and, when it carries one, the deadline."""
    await con.execute(
        "UPDATE cases SET residence_status = $2, "
        "departure_deadline = COALESCE($3, departure_deadline) WHERE case_id = $1",
        event.case_id,
        event.status.value,
        event.departure_deadline,
    )


async def update_case(con: Connection, record: StageRecord) -> None:
    closed = record.stage is Stage.CLOSED
    await con.execute(
        "UPDATE cases SET stage = $2, residence_status = $3, departure_deadline = $4, "
        "outcome = $5, updated_at = $6, closed_at = CASE WHEN $7 THEN $6 ELSE closed_at END "
        "WHERE case_id = $1",
        record.entry.case_id,
        record.stage.value,
        record.residence_status.value,
        record.departure_deadline,
        record.outcome.value if record.outcome else None,
        record.entry.at,
        closed,
    )


async def get_case(con: Connection, case_id: str) -> asyncpg.Record | None:
    return await con.fetchrow(
        "SELECT case_id, stage, residence_status, outcome, departure_deadline, town "
        "FROM cases WHERE case_id = $1",
        case_id,
    )


async def case_of_event(con: Connection, event_id: str) -> str | None:
    case_id: str | None = await con.fetchval(
        "SELECT case_id FROM status_events WHERE event_id = $1", event_id
    )
    return case_id


# ------------------------------------------------------------------- tasks


async def insert_task(con: Connection, task: NewTask) -> None:
    await con.execute(
        "INSERT INTO tasks (task_id, case_id, kind, queue, status, due_at, created_at, detail) "
        "VALUES ($1, $2, $3, $4, 'open', $5, $6, $7) ON CONFLICT DO NOTHING",
        task.task_id,
        task.entry.case_id,
        task.kind.value,
        task.queue.value,
        task.due_at,
        task.entry.at,
        task.detail,
    )


async def close_task(con: Connection, closure: TaskClosure) -> None:
    completion = closure.completion.model_dump(mode="json") if closure.completion else None
    await con.execute(
        "UPDATE tasks SET status = $2, closed_at = $3, completion = $4 "
        "WHERE task_id = $1 AND status = 'open'",
        closure.task_id,
        closure.status.value,
        closure.entry.at,
        completion,
    )


async def mark_overdue(con: Connection, task_id: str) -> None:
    await con.execute("UPDATE tasks SET overdue = true WHERE task_id = $1", task_id)


async def get_task(con: Connection, task_id: str) -> asyncpg.Record | None:
    """A task of a case or (``arrival_reference``) of an arrival, with the person's town."""
    return await con.fetchrow(
        "SELECT t.task_id::text, t.case_id, a.reference AS arrival_reference, t.kind, t.queue, "
        "t.status, t.due_at, t.overdue, COALESCE(c.town, a.town) AS town FROM tasks t "
        "LEFT JOIN cases c ON c.case_id = t.case_id "
        "LEFT JOIN arrivals a ON a.arrival_id = t.arrival_id WHERE t.task_id = $1",
        task_id,
    )


async def task_completion(con: Connection, task_id: str) -> dict[str, Any] | None:
    """What a completed task was completed with (None: open, cancelled, or erased since)."""
    completion: dict[str, Any] | None = await con.fetchval(
        "SELECT completion FROM tasks WHERE task_id = $1", task_id
    )
    return completion


async def open_tasks(
    con: Connection, *, queue: Queue | None = None, case_id: str | None = None, limit: int = 500
) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT t.task_id::text, t.case_id, a.reference AS arrival_reference, t.kind, t.queue, "
        "t.status, t.due_at, t.overdue, t.detail FROM tasks t "
        "LEFT JOIN arrivals a ON a.arrival_id = t.arrival_id "
        "WHERE t.status = 'open' AND ($1::text IS NULL OR t.queue = $1) "
        "AND ($2::text IS NULL OR t.case_id = $2) ORDER BY t.due_at, t.task_id LIMIT $3",
        queue.value if queue else None,
        case_id,
        limit,
    )


async def insert_notice(con: Connection, notice: Notice) -> None:
    await con.execute(
        "INSERT INTO notices (key, case_id, queue, kind, task_id, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        notice.key,
        notice.entry.case_id,
        notice.queue.value,
        notice.kind.value,
        notice.task_id,
        notice.entry.at,
    )


# ------------------------------------------------ consents and disclosures


async def insert_consent(
    con: Connection, consent_id: str, case_id: str, signed_on: Any, at: datetime
) -> None:
    await con.execute(
        "INSERT INTO consents (consent_id, case_id, signed_on, recorded_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        consent_id,
        case_id,
        signed_on,
        at,
    )


async def lock_consent(con: Connection, consent_id: str) -> asyncpg.Record | None:
    """Lock the consent row: a handover and a withdrawal of one consent never interleave."""
    return await con.fetchrow(
        "SELECT consent_id, case_id, withdrawn_on FROM consents WHERE consent_id = $1 FOR UPDATE",
        consent_id,
    )


async def find_disclosure(
    con: Connection, consent_id: str, recipient: str
) -> asyncpg.Record | None:
    return await con.fetchrow(
        "SELECT disclosure_id, recipient, categories FROM disclosures "
        "WHERE consent_id = $1 AND recipient = $2",
        consent_id,
        recipient,
    )


async def insert_disclosure(
    con: Connection,
    *,
    case_id: str,
    consent_id: str,
    recipient: str,
    categories: list[str],
    purpose: str,
    at: datetime,
) -> asyncpg.Record:
    row = await con.fetchrow(
        "INSERT INTO disclosures (case_id, consent_id, recipient, categories, purpose, "
        "disclosed_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "RETURNING disclosure_id, recipient, categories",
        case_id,
        consent_id,
        recipient,
        categories,
        purpose,
        at,
    )
    assert row is not None
    return row


async def handover_data(con: Connection, case_id: str) -> asyncpg.Record | None:
    """The three categories and nothing else: personal data, contact data, residence status."""
    return await con.fetchrow(
        "SELECT p.given_name, p.family_name, p.date_of_birth, p.nationality, p.language, "
        "p.phone, p.email, p.street, p.postal_code, p.town, c.residence_status "
        "FROM persons p JOIN cases c USING (case_id) WHERE p.case_id = $1",
        case_id,
    )


async def insert_ki_referral(
    con: Connection,
    *,
    consent_id: str,
    case_id: str,
    personal_data: dict[str, Any],
    contact_data: dict[str, Any],
    residence_status: str,
    at: datetime,
) -> None:
    await con.execute(
        "INSERT INTO ki_referrals (consent_id, case_id, personal_data, contact_data, "
        "residence_status, received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        consent_id,
        case_id,
        personal_data,
        contact_data,
        residence_status,
        at,
    )


async def withdraw_consent(
    con: Connection, consent_id: str, withdrawn_on: Any, received_by: str | None, at: datetime
) -> None:
    await con.execute(
        "UPDATE consents SET withdrawn_on = $2, withdrawal_received_by = $3, "
        "withdrawal_recorded_at = $4 WHERE consent_id = $1 AND withdrawn_on IS NULL",
        consent_id,
        withdrawn_on,
        received_by,
        at,
    )


async def request_erasure(con: Connection, consent_id: str, at: datetime) -> list[str]:
    """Ask every recipient of a disclosure on this consent to erase; returns the recipients."""
    await con.execute(
        "INSERT INTO erasure_requests (disclosure_id, case_id, recipient, requested_at) "
        "SELECT disclosure_id, case_id, recipient, $2 FROM disclosures WHERE consent_id = $1 "
        "ON CONFLICT DO NOTHING",
        consent_id,
        at,
    )
    # The KI's copy lives here, so its erasure is done at once, not only requested: the
    # personal and contact data go, the residence status (no personal data alone) stays.
    await con.execute(
        "UPDATE ki_referrals SET erased_at = $2, personal_data = '{}'::jsonb, "
        "contact_data = '{}'::jsonb WHERE consent_id = $1 AND erased_at IS NULL",
        consent_id,
        at,
    )
    rows = await con.fetch(
        "SELECT recipient FROM disclosures WHERE consent_id = $1 ORDER BY disclosure_id",
        consent_id,
    )
    return [row["recipient"] for row in rows]


async def insert_supporter(
    con: Connection, supporter_id: str, case_id: str, report: SupporterReport, at: datetime
) -> None:
    await con.execute(
        "INSERT INTO supporters (supporter_id, case_id, name, organisation, contact, "
        "is_representative, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT DO NOTHING",
        supporter_id,
        case_id,
        report.name,
        report.organisation,
        report.contact,
        report.is_representative,
        at,
    )


# ---------------------------------------------------------------- partners


def _partner(row: asyncpg.Record) -> Partner:
    return Partner.model_validate(dict(row))


_PARTNER_COLUMNS = (
    "partner_id, name, kind, town, contact, languages, address, hours, active, example"
)


async def list_partners(con: Connection, town: str | None = None) -> list[Partner]:
    rows = await con.fetch(
        f"SELECT {_PARTNER_COLUMNS} FROM partners "
        "WHERE active AND ($1::text IS NULL OR town = $1) ORDER BY town, name",
        town,
    )
    return [_partner(row) for row in rows]


async def get_partner(con: Connection, partner_id: int) -> Partner | None:
    row = await con.fetchrow(
        f"SELECT {_PARTNER_COLUMNS} FROM partners WHERE partner_id = $1", partner_id
    )
    return _partner(row) if row else None


async def add_partner(con: Connection, draft: PartnerDraft) -> Partner:
    row = await con.fetchrow(
        "INSERT INTO partners (name, kind, town, contact, languages, address, hours) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_PARTNER_COLUMNS}",
        draft.name,
        draft.kind.value,
        draft.town,
        draft.contact,
        draft.languages,
        draft.address,
        draft.hours,
    )
    assert row is not None
    return _partner(row)


async def update_partner(con: Connection, partner_id: int, draft: PartnerDraft) -> Partner | None:
    """Replace the entry; an admin's edit makes a seed entry real (no longer an example)."""
    row = await con.fetchrow(
        "UPDATE partners SET name = $2, kind = $3, town = $4, contact = $5, languages = $6, "
        "address = $7, hours = $8, example = false "
        f"WHERE partner_id = $1 RETURNING {_PARTNER_COLUMNS}",
        partner_id,
        draft.name,
        draft.kind.value,
        draft.town,
        draft.contact,
        draft.languages,
        draft.address,
        draft.hours,
    )
    return _partner(row) if row else None


async def deactivate_partner(con: Connection, partner_id: int) -> bool:
    result: str = await con.execute(
        "UPDATE partners SET active = false WHERE partner_id = $1", partner_id
    )
    return result.endswith(" 1")
