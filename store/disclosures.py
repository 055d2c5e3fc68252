"""Consents and what is passed on under them: ``consents``, ``disclosures``, the KI's copy
(``ki_referrals``) and the erasure requests to earlier recipients. One function per query;
writers take a connection (the caller owns the transaction). The register and the access
report read these tables in ``store.records``.
"""

from __future__ import annotations

from datetime import date, datetime

from schemas.records import ConsentRow, DisclosureRow, HandoverRow
from store.db import Connection


async def insert_consent(
    con: Connection,
    consent_id: str,
    case_id: str,
    signed_on: date,
    at: datetime,
    covered_partners: list[int] | None = None,
) -> None:
    await con.execute(
        "INSERT INTO consents (consent_id, case_id, signed_on, recorded_at, covered_partners) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        consent_id,
        case_id,
        signed_on,
        at,
        covered_partners,
    )


async def lock_consent(con: Connection, consent_id: str) -> ConsentRow | None:
    """Lock the consent row: a handover and a withdrawal of one consent never interleave."""
    row = await con.fetchrow(
        "SELECT consent_id, case_id, withdrawn_on, covered_partners FROM consents"
        " WHERE consent_id = $1 FOR UPDATE",
        consent_id,
    )
    return None if row is None else ConsentRow.model_validate(dict(row))


async def find_disclosure(con: Connection, consent_id: str, recipient: str) -> DisclosureRow | None:
    row = await con.fetchrow(
        "SELECT disclosure_id, recipient, categories FROM disclosures "
        "WHERE consent_id = $1 AND recipient = $2",
        consent_id,
        recipient,
    )
    return None if row is None else DisclosureRow.model_validate(dict(row))


async def insert_disclosure(
    con: Connection,
    *,
    case_id: str,
    consent_id: str,
    recipient: str,
    categories: list[str],
    purpose: str,
    at: datetime,
) -> DisclosureRow:
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
    return DisclosureRow.model_validate(dict(row))


async def handover_data(con: Connection, case_id: str) -> HandoverRow | None:
    """The three categories and nothing else: personal data, contact data, residence status."""
    row = await con.fetchrow(
        "SELECT p.given_name, p.family_name, p.date_of_birth, p.nationality, p.language, "
        "p.phone, p.email, p.street, p.postal_code, p.town, c.residence_status "
        "FROM persons p JOIN cases c USING (case_id) WHERE p.case_id = $1",
        case_id,
    )
    return None if row is None else HandoverRow.model_validate(dict(row))


async def insert_ki_referral(
    con: Connection,
    *,
    consent_id: str,
    case_id: str,
    personal_data: dict[str, str | None],
    contact_data: dict[str, str | None],
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
    con: Connection, consent_id: str, withdrawn_on: date, received_by: str | None, at: datetime
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
