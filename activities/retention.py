"""Activities of the scheduled erasure: which cases are due, and erasing one."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from protection.erasure import ErasureRefused, erase_arrivals, erase_case
from protection.keyring import KeyRing
from schemas.arrivals import ArrivalErasureOutcome, DueArrivals, EraseArrivalRequest
from schemas.case import Outcome
from schemas.local_time import BERLIN
from schemas.records import ActivityName
from schemas.retention import (
    DueCases,
    DueQuery,
    EraseRequest,
    ErasureOutcome,
    RetentionRules,
)
from store import arrivals as arrival_store
from store import erasure as store


class Retention:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing, rules: RetentionRules) -> None:
        self._pool = pool
        self._keys = keys
        self._rules = rules

    @activity.defn(name=ActivityName.DUE_FOR_ERASURE)
    async def due_cases(self, query: DueQuery) -> DueCases:
        """Closed cases past their erasure date, not on hold, oldest first.

        Cases closed before erasure dates existed get theirs first, by the current rules.
        """
        async with self._pool.acquire() as con, con.transaction():
            assigned = 0
            for row in await store.closed_without_erasure_date(con):
                closed_on = row.closed_at.astimezone(BERLIN).date()
                rule = self._rules.for_outcome(Outcome(row.outcome))
                await store.set_erase_after(con, row.case_id, rule.erase_after(closed_on))
                assigned += 1
            case_ids = await store.due_for_erasure(con, query.on, query.limit)
        return DueCases(case_ids=case_ids, dates_assigned=assigned)

    @activity.defn(name=ActivityName.ERASE_CASE)
    async def erase_case(self, request: EraseRequest) -> ErasureOutcome:
        """Idempotent: a retried erasure finds the case erased and reports it so."""
        try:
            await erase_case(self._pool, self._keys, request.case_id, reason=request.reason)
        except ErasureRefused as refused:
            return ErasureOutcome(case_id=request.case_id, erased=False, refused=refused.message)
        return ErasureOutcome(case_id=request.case_id, erased=True)

    @activity.defn(name=ActivityName.DUE_ARRIVALS)
    async def due_arrivals(self, query: DueQuery) -> DueArrivals:
        """References whose arrivals are all finished and past their erasure date."""
        async with self._pool.acquire() as con:
            references = await arrival_store.due_for_erasure(con, query.on, query.limit)
        return DueArrivals(references=references)

    @activity.defn(name=ActivityName.ERASE_ARRIVALS)
    async def erase_arrivals(self, request: EraseArrivalRequest) -> ArrivalErasureOutcome:
        """Idempotent: erased arrivals are skipped, a running one refuses."""
        try:
            await erase_arrivals(self._pool, self._keys, request.reference, reason=request.reason)
        except ErasureRefused as refused:
            return ArrivalErasureOutcome(
                reference=request.reference, erased=False, refused=refused.message
            )
        return ArrivalErasureOutcome(reference=request.reference, erased=True)
