"""``POST /api/v1/status-events``: the back office reports a change of residence status."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth import IntakeCaller
from api.deps import Cases
from api.errors import CONFLICT, UNAVAILABLE
from schemas.accounts import BackOffice
from schemas.events import IntakeResult, StatusEvent

router = APIRouter(prefix="/status-events", tags=["intake"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**CONFLICT, **UNAVAILABLE},
    summary="Report a status event",
)
async def submit_event(event: StatusEvent, cases: Cases, caller: IntakeCaller) -> IntakeResult:
    """Deliver the event to its case, opening the case when it is new.

    202: the case took the event in (``duplicate`` when this event id was delivered before;
    nothing changed then). 409: the case is closed. 422: the event cannot be taken, naming
    the field (a new case needs a person in the ABH's jurisdiction and a status obliged to
    leave). 401 without an API token (``Authorization: Bearer``) or an admin login.

    ``neu_zugewandert`` opens no case: the person (required, in one of the county's ten
    towns) gets the flyer of their town, by e-mail or handed over by the ABH; the answer's
    stage is ``arrival_information``. 409: another arrival of this reference is being handled,
    or it had this town's flyer already.

    503 with ``Retry-After``: Temporal or the database is unreachable, or the event was not
    confirmed within ``CASE_UPDATE_TIMEOUT``. Send the same event again (same ``event_id``)
    after that many seconds: it is taken in once, and the answer says how.
    """
    if isinstance(caller, BackOffice):  # it may read the case back (/reported-cases)
        return await cases.report_event(event, caller)
    return await cases.submit_event(event)
