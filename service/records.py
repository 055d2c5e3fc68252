"""The disclosure register, for the API and ``commands.records``, and the access report for the
console (the API reads it from :mod:`service.access` directly).

Both callers go through here, so a period is checked, and an opening of a person's data is
logged (by :mod:`service.access`), the same way from the web and from the server's console.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from schemas.accounts import Account
from schemas.errors import FieldError
from schemas.gdpr import CSV_COLUMNS, AccessReport, DisclosureRegister
from service.access import REPORT_READERS, AccessService
from service.csv_export import german_csv
from service.errors import Forbidden, Invalid
from store import records as store


class RecordsService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._access = AccessService(pool)

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
        """Everything held about the person of a case; the opening is logged as ``what``
        (:meth:`service.access.AccessService.access_report`, for the console)."""
        return await self._access.access_report(reader, case_id, what)

    async def reader(self, username: str) -> Account:
        """The account a console user names; only an active ABH or admin account will do."""
        async with self._pool.acquire() as con:
            account = await store.account(con, username)
        if account is None or not account.active:
            raise Forbidden(f"no active account named {username!r}")
        if account.role not in REPORT_READERS:
            raise Forbidden(f"the role {account.role.value} may not read this")
        return account


def register_csv(register: DisclosureRegister) -> bytes:
    """The register as German Excel opens it (service.csv_export), a header line first; a
    disclosure's categories in one cell, separated by ", "."""
    rows = [[record.model_dump(mode="json")[column] for column in CSV_COLUMNS]
            for record in register.disclosures]  # fmt: skip
    return german_csv([list(CSV_COLUMNS), *rows])
