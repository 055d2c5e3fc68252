"""Consents, handovers and withdrawals: every disclosure of personal data goes through here.

A handover happens at most once per consent and recipient: the consent row is locked, an
existing disclosure is returned instead of a second one, and a withdrawn consent stops it.
The disclosure register is written in the same transaction as the data the recipient gets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from schemas.audit import AuditAction, DetailValue, by_system
from schemas.errors import ErrorType
from schemas.records import (
    HANDOVER_CATEGORIES,
    KI_RECIPIENT,
    ActivityName,
    ConsentRecord,
    DisclosureRow,
    Handover,
    HandoverReceipt,
    Withdrawal,
    WithdrawalReceipt,
    partner_recipient,
)
from store import audit, disclosures, timeline
from store.db import Connection


def _nothing() -> None:
    pass


class Disclosures:
    """Activities that pass personal data on, on a signed consent only."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        after_handover_commit: Callable[[], None] = _nothing,
        before_handover: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        # Fault injection for the crash test: runs after the handover committed, before the
        # activity reports back to Temporal.
        self._after_handover_commit = after_handover_commit
        # For the race test: holds a handover attempt in flight before it reads the consent.
        self._before_handover = before_handover

    @activity.defn(name=ActivityName.RECORD_CONSENT)
    async def record_consent(self, record: ConsentRecord) -> None:
        async with self._pool.acquire() as con, con.transaction():
            if await timeline.add_entry(con, record.entry):
                await disclosures.insert_consent(
                    con,
                    record.consent_id,
                    record.entry.case_id,
                    record.signed_on,
                    record.entry.at,
                    record.covered_partners,
                )

    @activity.defn(name=ActivityName.HAND_OVER)
    async def hand_over(self, handover: Handover) -> HandoverReceipt:
        case_id = handover.entry.case_id
        if self._before_handover is not None:
            await self._before_handover()
        async with self._pool.acquire() as con, con.transaction():
            consent = await disclosures.lock_consent(con, handover.consent_id)
            if consent is None or consent.case_id != case_id:
                raise ApplicationError(
                    "no consent on record", type=ErrorType.NO_CONSENT, non_retryable=True
                )
            if consent.withdrawn_on is not None:
                raise ApplicationError(
                    "the consent was withdrawn",
                    type=ErrorType.CONSENT_WITHDRAWN,
                    non_retryable=True,
                )
            covered = consent.covered_partners
            if covered is not None and handover.recipient not in (
                KI_RECIPIENT,
                *(partner_recipient(partner) for partner in covered),
            ):
                # The signed form did not name this recipient: nothing passes to it.
                raise ApplicationError(
                    "the signed consent does not name this recipient",
                    type=ErrorType.NO_CONSENT,
                    non_retryable=True,
                )
            row = await disclosures.find_disclosure(con, handover.consent_id, handover.recipient)
            if row is None:
                row = await self._disclose(con, handover)
                detail: dict[str, DetailValue] = {
                    "disclosure_id": row.disclosure_id,
                    "recipient": row.recipient,
                    "categories": list(row.categories),
                    "consent_id": handover.consent_id,
                }
                await audit.append(
                    con,
                    by_system("worker", AuditAction.DISCLOSURE, case_id=case_id, detail=detail),
                )
        self._after_handover_commit()
        return HandoverReceipt(
            disclosure_id=row.disclosure_id,
            recipient=row.recipient,
            categories=list(row.categories),
        )

    async def _disclose(self, con: Connection, handover: Handover) -> DisclosureRow:
        case_id = handover.entry.case_id
        if handover.recipient == KI_RECIPIENT:
            data = await disclosures.handover_data(con, case_id)
            assert data is not None
            await disclosures.insert_ki_referral(
                con,
                consent_id=handover.consent_id,
                case_id=case_id,
                personal_data={
                    "given_name": data.given_name,
                    "family_name": data.family_name,
                    "date_of_birth": data.date_of_birth.isoformat(),
                    "nationality": data.nationality,
                    "language": data.language,
                },
                contact_data={
                    "phone": data.phone,
                    "email": data.email,
                    "street": data.street,
                    "postal_code": data.postal_code,
                    "town": data.town,
                },
                residence_status=data.residence_status,
                at=handover.entry.at,
            )
        await timeline.add_entry(con, handover.entry)
        return await disclosures.insert_disclosure(
            con,
            case_id=case_id,
            consent_id=handover.consent_id,
            recipient=handover.recipient,
            categories=HANDOVER_CATEGORIES,
            purpose=handover.purpose,
            at=handover.entry.at,
        )

    @activity.defn(name=ActivityName.WITHDRAW_CONSENT)
    async def withdraw_consent(self, withdrawal: Withdrawal) -> WithdrawalReceipt:
        """Record the withdrawal and ask every earlier recipient to erase (Art. 17, 19)."""
        async with self._pool.acquire() as con, con.transaction():
            await disclosures.lock_consent(con, withdrawal.consent_id)
            first_time = await timeline.add_entry(con, withdrawal.entry)
            await disclosures.withdraw_consent(
                con,
                withdrawal.consent_id,
                withdrawal.withdrawn_on,
                withdrawal.received_by,
                withdrawal.entry.at,
            )
            recipients = await disclosures.request_erasure(
                con, withdrawal.consent_id, withdrawal.entry.at
            )
            if first_time:
                detail: dict[str, DetailValue] = {
                    "consent_id": withdrawal.consent_id,
                    "erasure_requested_from": list(recipients),
                }
                entry = by_system(
                    "worker",
                    AuditAction.CONSENT_WITHDRAWN,
                    case_id=withdrawal.entry.case_id,
                    detail=detail,
                )
                await audit.append(con, entry)
        return WithdrawalReceipt(erasure_requested_from=recipients)
