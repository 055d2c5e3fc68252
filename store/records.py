"""Queries of the disclosure register and the access report (GDPR Art. 15, 30). Read only.

The access report must show everything held about a person, so each query names every column
of its table that says something about the person or the case; a column added to one of
these tables later belongs here too.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from schemas.accounts import Account
from schemas.gdpr import (
    AssignmentData,
    CaseData,
    ConsentData,
    DisclosureRecord,
    ErasureRequestData,
    KiReferralData,
    PersonData,
    StatusEventData,
    SupporterData,
    TaskData,
)
from schemas.records import KI_RECIPIENT
from store.db import Connection

KI_NAME = "Kommunales Integrationszentrum"

# Partners are found by the recipient's spelling ("partner:<id>", schemas.records); a partner
# removed from the directory is only deactivated, so its name stays.
_REGISTER = (
    "SELECT d.disclosure_id, d.case_id, d.recipient, p.name AS partner_name, d.categories, "
    "d.purpose, d.consent_id::text, c.signed_on AS consent_signed_on, d.disclosed_at, "
    "c.withdrawn_on AS consent_withdrawn_on, e.requested_at AS erasure_requested_at "
    "FROM disclosures d JOIN consents c USING (consent_id) "
    "LEFT JOIN erasure_requests e USING (disclosure_id) "
    "LEFT JOIN partners p ON d.recipient = 'partner:' || p.partner_id "
)


def _disclosure(row: asyncpg.Record) -> DisclosureRecord:
    values = dict(row)
    partner_name = values.pop("partner_name")
    values["recipient_name"] = KI_NAME if row["recipient"] == KI_RECIPIENT else partner_name
    return DisclosureRecord.model_validate(values)


async def disclosures_between(con: Connection, first: date, last: date) -> list[DisclosureRecord]:
    """Disclosures from ``first`` 00:00 to the end of ``last``, both days in Europe/Berlin.

    The bounds are computed by PostgreSQL, which knows every summer-time switch and every date
    a request may name (Python's datetime ends at the year 9999).
    """
    rows = await con.fetch(
        _REGISTER + "WHERE d.disclosed_at >= $1::date::timestamp AT TIME ZONE 'Europe/Berlin' "
        "AND d.disclosed_at < ($2::date + 1)::timestamp AT TIME ZONE 'Europe/Berlin' "
        "ORDER BY d.disclosed_at, d.disclosure_id",
        first,
        last,
    )
    return [_disclosure(row) for row in rows]


async def disclosures_of_case(con: Connection, case_id: str) -> list[DisclosureRecord]:
    rows = await con.fetch(
        _REGISTER + "WHERE d.case_id = $1 ORDER BY d.disclosed_at, d.disclosure_id", case_id
    )
    return [_disclosure(row) for row in rows]


# ------------------------------------------------------------- access report


async def case(con: Connection, case_id: str) -> CaseData | None:
    row = await con.fetchrow(
        "SELECT case_id, stage, residence_status, town, departure_deadline, outcome, opened_at, "
        "closed_at, updated_at FROM cases WHERE case_id = $1",
        case_id,
    )
    return None if row is None else CaseData.model_validate(dict(row))


async def person(con: Connection, case_id: str) -> PersonData | None:
    row = await con.fetchrow(
        "SELECT given_name, family_name, date_of_birth, nationality, language, phone, email, "
        "street, postal_code, town FROM persons WHERE case_id = $1",
        case_id,
    )
    return None if row is None else PersonData.model_validate(dict(row))


async def children_born_on(con: Connection, case_id: str) -> list[date]:
    rows = await con.fetch(
        "SELECT date_of_birth FROM household_children WHERE case_id = $1 ORDER BY position",
        case_id,
    )
    return [row["date_of_birth"] for row in rows]


async def household_reference(con: Connection, case_id: str) -> str | None:
    reference: str | None = await con.fetchval(
        "SELECT reference FROM household_links WHERE case_id = $1", case_id
    )
    return reference


async def supporters(con: Connection, case_id: str) -> list[SupporterData]:
    rows = await con.fetch(
        "SELECT name, organisation, contact, is_representative, registered_at FROM supporters "
        "WHERE case_id = $1 ORDER BY registered_at, supporter_id",
        case_id,
    )
    return [SupporterData.model_validate(dict(row)) for row in rows]


async def consents(con: Connection, case_id: str) -> list[ConsentData]:
    rows = await con.fetch(
        "SELECT consent_id::text, signed_on, recorded_at, withdrawn_on, withdrawal_received_by, "
        "withdrawal_recorded_at FROM consents WHERE case_id = $1 ORDER BY recorded_at, consent_id",
        case_id,
    )
    return [ConsentData.model_validate(dict(row)) for row in rows]


async def status_events(con: Connection, case_id: str) -> list[StatusEventData]:
    rows = await con.fetch(
        "SELECT event_id, status, effective_date, departure_deadline, recorded_at "
        "FROM status_events WHERE case_id = $1 ORDER BY recorded_at, event_id",
        case_id,
    )
    return [StatusEventData.model_validate(dict(row)) for row in rows]


async def tasks(con: Connection, case_id: str) -> list[TaskData]:
    """Every task of the case with its completion and its assignments (comments included)."""
    rows = await con.fetch(
        "SELECT task_id::text, kind, queue, status, due_at, overdue, created_at, closed_at, "
        "completion FROM tasks WHERE case_id = $1 ORDER BY created_at, task_id",
        case_id,
    )
    assignments = await con.fetch(
        "SELECT a.task_id::text, a.action, a.at, a.comment FROM task_assignments a "
        "JOIN tasks t USING (task_id) WHERE t.case_id = $1 ORDER BY a.assignment_id",
        case_id,
    )
    found = {row["task_id"]: TaskData.model_validate(dict(row)) for row in rows}
    for assignment in assignments:
        found[assignment["task_id"]].assignments.append(
            AssignmentData(
                action=assignment["action"], at=assignment["at"], comment=assignment["comment"]
            )
        )
    return list(found.values())


async def ki_referrals(con: Connection, case_id: str) -> list[KiReferralData]:
    rows = await con.fetch(
        "SELECT consent_id::text, personal_data, contact_data, residence_status, received_at, "
        "erased_at FROM ki_referrals WHERE case_id = $1 ORDER BY received_at, consent_id",
        case_id,
    )
    return [KiReferralData.model_validate(dict(row)) for row in rows]


async def erasure_requests(con: Connection, case_id: str) -> list[ErasureRequestData]:
    rows = await con.fetch(
        "SELECT disclosure_id, recipient, requested_at, confirmed_on FROM erasure_requests "
        "WHERE case_id = $1 ORDER BY requested_at, disclosure_id",
        case_id,
    )
    return [ErasureRequestData.model_validate(dict(row)) for row in rows]


async def account(con: Connection, username: str) -> Account | None:
    """The account a CLI user names, so that their opening of a report is logged as theirs."""
    row = await con.fetchrow(
        "SELECT account_id, username, display_name, role, active FROM accounts WHERE username = $1",
        username,
    )
    return None if row is None else Account.model_validate(dict(row))
