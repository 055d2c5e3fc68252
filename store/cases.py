"""The case and what it records of the person: ``cases``, ``persons``, ``household_children``,
``household_links``, ``status_events``, ``supporters``. One function per query; writers take
a connection (the caller owns the transaction) and are safe to repeat.
"""

from __future__ import annotations

from datetime import date, datetime

from schemas.case import (
    CaseRow,
    HouseholdMemberRow,
    Outcome,
    RecordedEvent,
    Stage,
    SupporterReport,
)
from schemas.events import Person, StatusEvent, event_digest
from schemas.records import StageRecord
from store.db import Connection


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


async def reopen_case(con: Connection, event: StatusEvent, at: datetime) -> None:
    """A closed case comes back: open again, without its outcome and its erasure date (the
    retention clock starts again when it closes again)."""
    await con.execute(
        "UPDATE cases SET stage = $2, residence_status = $3, departure_deadline = $4,"
        " outcome = NULL, closed_at = NULL, erase_after = NULL, updated_at = $5"
        " WHERE case_id = $1 AND closed_at IS NOT NULL",
        event.case_id,
        Stage.OPENING.value,
        event.status.value,
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


async def replace_household(con: Connection, case_id: str, event: StatusEvent) -> None:
    """The household as the event reports it: its children and its link to the other
    members' cases (a household without a reference unlinks the case)."""
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
    if event.household.reference is None:
        await con.execute("DELETE FROM household_links WHERE case_id = $1", case_id)
        return
    await con.execute(
        "INSERT INTO household_links (case_id, reference) VALUES ($1, $2)"
        " ON CONFLICT (case_id) DO UPDATE SET reference = excluded.reference",
        case_id,
        event.household.reference,
    )


# A member whose case closed with one of these no longer lives in the household; one whose
# case closed otherwise (a residence title, closed by the ABH) still does.
_LEFT_THE_HOUSEHOLD = tuple(
    outcome.value
    for outcome in (Outcome.DEPARTED_VOLUNTARILY, Outcome.DEPARTED_ENFORCED, Outcome.MOVED_AWAY)
)


async def household_members(con: Connection, case_id: str) -> list[HouseholdMemberRow]:
    """The other cases of the case's household, by case id."""
    rows = await con.fetch(
        "SELECT other.case_id, c.stage, c.outcome FROM household_links own"
        " JOIN household_links other ON other.reference = own.reference"
        " AND other.case_id <> own.case_id"
        " JOIN cases c ON c.case_id = other.case_id"
        " WHERE own.case_id = $1 ORDER BY other.case_id",
        case_id,
    )
    return [HouseholdMemberRow.model_validate(dict(row)) for row in rows]


async def household_born(con: Connection, case_id: str) -> list[date]:
    """The dates of birth of everyone in the case's household beyond its own file: the other
    members who still live there, and the children their cases list (a child listed by two
    parents counts once per listing, which changes no rule)."""
    rows = await con.fetch(
        "WITH members AS ("
        " SELECT other.case_id FROM household_links own"
        " JOIN household_links other ON other.reference = own.reference"
        " AND other.case_id <> own.case_id"
        " JOIN cases c ON c.case_id = other.case_id"
        " WHERE own.case_id = $1 AND (c.outcome IS NULL OR c.outcome <> ALL($2::text[])))"
        " SELECT p.date_of_birth FROM persons p JOIN members USING (case_id)"
        " UNION ALL"
        " SELECT h.date_of_birth FROM household_children h JOIN members USING (case_id)"
        " ORDER BY 1",
        case_id,
        list(_LEFT_THE_HOUSEHOLD),
    )
    return [row["date_of_birth"] for row in rows]


async def insert_status_event(con: Connection, event: StatusEvent, at: datetime) -> None:
    await con.execute(
        "INSERT INTO status_events (event_id, case_id, status, effective_date, "
        "departure_deadline, recorded_at, content_digest, departure) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        event.event_id,
        event.case_id,
        event.status.value,
        event.effective_date,
        event.departure_deadline,
        at,
        event_digest(event),
        event.departure.model_dump(mode="json") if event.departure else None,
    )


async def update_case_status(con: Connection, event: StatusEvent) -> None:
    """A status event changes the residence status and, when it carries one, the deadline
    (and a departure's kind)."""
    await con.execute(
        "UPDATE cases SET residence_status = $2, "
        "departure_deadline = COALESCE($3, departure_deadline), "
        "departure_kind = COALESCE($4, departure_kind) WHERE case_id = $1",
        event.case_id,
        event.status.value,
        event.departure_deadline,
        event.departure.kind.value if event.departure else None,
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


async def lock_case(con: Connection, case_id: str) -> None:
    """Hold the case row until the transaction ends: writers outside its workflow queue."""
    await con.execute("SELECT 1 FROM cases WHERE case_id = $1 FOR UPDATE", case_id)


async def get_case(con: Connection, case_id: str) -> CaseRow | None:
    row = await con.fetchrow(
        "SELECT case_id, stage, residence_status, outcome, departure_deadline, town "
        "FROM cases WHERE case_id = $1",
        case_id,
    )
    return None if row is None else CaseRow.model_validate(dict(row))


async def person_language(con: Connection, case_id: str) -> str | None:
    """The person's language (None: no person, or erased)."""
    language = await con.fetchval("SELECT language FROM persons WHERE case_id = $1", case_id)
    return None if language is None else str(language)


async def is_erased(con: Connection, case_id: str) -> bool:
    """Whether the case's personal data was erased (its keys shredded)."""
    erased = await con.fetchval(
        "SELECT erased_at IS NOT NULL FROM cases WHERE case_id = $1", case_id
    )
    return bool(erased)


async def recorded_event(con: Connection, event_id: str) -> RecordedEvent | None:
    """The case an event id was recorded for and what the event said (its digest)."""
    row = await con.fetchrow(
        "SELECT case_id, content_digest FROM status_events WHERE event_id = $1", event_id
    )
    return None if row is None else RecordedEvent.model_validate(dict(row))


async def person_born(con: Connection, case_id: str) -> date | None:
    """The person's date of birth as the case has it (None: no such case)."""
    born: date | None = await con.fetchval(
        "SELECT date_of_birth FROM persons WHERE case_id = $1", case_id
    )
    return born


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
