"""The activity that hands a workflow the current flyer of a town (issue 5).

The arrival workflow asks for the flyer of the person's town in the person's language and
records the ``flyer_id`` it got; the PDF itself stays in ``flyer_versions`` and is read with
``store.flyers.flyer_pdf`` where it is attached to a mail or a print task, so no PDF travels
through the workflow's history.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from documents.flyers import FlyerError, issue_flyer
from schemas.flyers import FlyerRequest, IssuedFlyer
from schemas.records import ActivityName


class Flyers:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name=ActivityName.ISSUE_FLYER)
    async def issue(self, request: FlyerRequest) -> IssuedFlyer:
        """The stored flyer version for ``request``; renders and stores it on first use.

        An unknown town or a town without any offer is not retried: only an admin's change to
        the request or the directory helps, and the workflow decides what to do instead.
        """
        try:
            return await issue_flyer(self._pool, request)
        except FlyerError as error:
            raise ApplicationError(
                error.message, type=type(error).__name__, non_retryable=True
            ) from None
