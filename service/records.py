"""The disclosure register and the access report, for the API and ``commands.records``.

Both callers go through here, so a period is checked, and an opening of a person's data is
logged, the same way from the web and from the server's console.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import asyncpg

from schemas.accounts import Account, Role
from schemas.case import TimelineEntry
from schemas.errors import FieldError
from schemas.gdpr import CSV_COLUMNS, AccessReport, DisclosureRegister
from service.errors import Forbidden, Invalid, NotFound
from store import accounts as account_store
from store import records as store
from store import repository as repo

REPORT_READERS = frozenset({Role.ABH, Role.ADMIN})
"""Who may open an access report: it shows all of a person's data and where it went."""

# A cell starting with one of these is a formula to spreadsheet programs (CSV injection);
# partner names are typed in by people, so every cell is defused the same way.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RecordsService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def disclosure_register(self, first: date, last: date) -> DisclosureRegister:
        """Every disclosure from ``first`` to ``last`` inclusive (days in Europe/Berlin)."""
        if last < first:
            raise Invalid(
                "the period ends before it starts",
                [FieldError(field="to", reason="must not be before from")],
            )
        async with self._pool.acquire() as con:
            disclosures = await store.disclosures_between(con, first, last)
        return DisclosureRegister(period_from=first, period_to=last, disclosures=disclosures)

    async def access_report(self, reader: Account, case_id: str, what: str) -> AccessReport:
        """Everything held about the person of a case; the opening is logged as ``what``.

        The access is written in the same transaction as the reading (repeatable read, so the
        report is one consistent picture): the report lists its own opening, and a report
        that fails to come together leaves no entry for data nobody saw.
        """
        if reader.role not in REPORT_READERS:
            raise Forbidden("your role may not do this")
        async with self._pool.acquire() as con, con.transaction(isolation="repeatable_read"):
            case = await store.case(con, case_id)
            if case is None:
                raise NotFound("unknown case")
            await account_store.insert_access(con, reader, case_id, what)
            return AccessReport(
                case_id=case_id,
                generated_at=datetime.now(UTC),
                case=case,
                person=await store.person(con, case_id),
                household_children_born_on=await store.children_born_on(con, case_id),
                supporters=await store.supporters(con, case_id),
                consents=await store.consents(con, case_id),
                status_events=await store.status_events(con, case_id),
                tasks=await store.tasks(con, case_id),
                timeline=[
                    TimelineEntry.model_validate(dict(row))
                    for row in await repo.timeline(con, case_id)
                ],
                ki_referrals=await store.ki_referrals(con, case_id),
                disclosures=await store.disclosures_of_case(con, case_id),
                erasure_requests=await store.erasure_requests(con, case_id),
                access_log=await account_store.access_log(con, case_id),
            )

    async def reader(self, username: str) -> Account:
        """The account a console user names; only an active ABH or admin account will do."""
        async with self._pool.acquire() as con:
            account = await store.account(con, username)
        if account is None or not account.active:
            raise Forbidden(f"no active account named {username!r}")
        if account.role not in REPORT_READERS:
            raise Forbidden(f"the role {account.role.value} may not read this")
        return account


def register_csv(register: DisclosureRegister) -> str:
    """The register as CSV with a header line; categories are separated by ``;``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in register.disclosures:
        values = record.model_dump(mode="json")
        writer.writerow([_cell(values[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = ";".join(str(item) for item in value) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
