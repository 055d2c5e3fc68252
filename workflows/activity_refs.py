"""Every activity a workflow calls, as a typed reference: its registered name, input and output.

Workflows may not import the activities (they do I/O), so they call them by name; a reference
ties that name to the activity's input and output, and ``run_step(OPEN_CASE, opening)`` is
typed by mypy. ``tests/test_activity_refs.py`` checks each reference against the function the
worker registers under its name (``runtime.worker.build_activities``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.arrivals import (
        ArrivalErasureOutcome,
        ArrivalFinish,
        ArrivalNotice,
        DueArrivals,
        EraseArrivalRequest,
        FlyerMail,
        HandoverClosure,
        HandoverTask,
        MailedFlyer,
        MailOutcome,
        MailUnsettled,
        MailWatch,
        NewArrival,
    )
    from schemas.case_documents import CaseDocument, DocumentRequest
    from schemas.decision_rules import RulesInForce, RulesQuery
    from schemas.flyers import FlyerRequest, IssuedFlyer
    from schemas.notices import DigestReport, DispatchReport, NoticeRound
    from schemas.records import (
        ActivityName,
        CaseOpening,
        ConsentRecord,
        EventRecord,
        Handover,
        HandoverReceipt,
        IncidentRecord,
        NewTask,
        Notice,
        StageRecord,
        SupporterRecord,
        TaskClosure,
        UnconfirmedErasure,
        Withdrawal,
        WithdrawalReceipt,
    )
    from schemas.retention import DueCases, DueQuery, EraseRequest, ErasureOutcome

# Covariant: a reference only hands its types out (ALL holds references of every kind).
In = TypeVar("In", bound=BaseModel, covariant=True)
Out = TypeVar("Out", bound=BaseModel | None, covariant=True)


@dataclass(frozen=True)
class ActivityRef(Generic[In, Out]):
    """An activity by its stable name (never a Python name), with what it takes and returns."""

    name: ActivityName
    input: type[In]
    output: type[Out]

    @property
    def result_type(self) -> type[Out] | None:
        """What the SDK converts the result into; nothing for an activity returning None."""
        return None if self.output is type(None) else self.output


NOTHING = type(None)

# The case (workflows/case.py)
OPEN_CASE = ActivityRef(ActivityName.OPEN_CASE, CaseOpening, NOTHING)
RECORD_EVENT = ActivityRef(ActivityName.RECORD_EVENT, EventRecord, NOTHING)
RECORD_STAGE = ActivityRef(ActivityName.RECORD_STAGE, StageRecord, NOTHING)
CREATE_TASK = ActivityRef(ActivityName.CREATE_TASK, NewTask, NOTHING)
CLOSE_TASK = ActivityRef(ActivityName.CLOSE_TASK, TaskClosure, NOTHING)
NOTIFY = ActivityRef(ActivityName.NOTIFY, Notice, NOTHING)
RECORD_INCIDENT = ActivityRef(ActivityName.RECORD_INCIDENT, IncidentRecord, NOTHING)
REGISTER_SUPPORTER = ActivityRef(ActivityName.REGISTER_SUPPORTER, SupporterRecord, NOTHING)
RECORD_CONSENT = ActivityRef(ActivityName.RECORD_CONSENT, ConsentRecord, NOTHING)
WITHDRAW_CONSENT = ActivityRef(ActivityName.WITHDRAW_CONSENT, Withdrawal, WithdrawalReceipt)
HAND_OVER = ActivityRef(ActivityName.HAND_OVER, Handover, HandoverReceipt)
PRODUCE_DOCUMENT = ActivityRef(ActivityName.PRODUCE_DOCUMENT, DocumentRequest, CaseDocument)
RULES_IN_FORCE = ActivityRef(ActivityName.RULES_IN_FORCE, RulesQuery, RulesInForce)

# A closed case's erasure confirmations still owed (workflows/erasure_watch.py)
REPORT_UNCONFIRMED_ERASURE = ActivityRef(
    ActivityName.REPORT_UNCONFIRMED_ERASURE, UnconfirmedErasure, NOTHING
)

# Neu zugewandert (workflows/arrival.py)
RECORD_ARRIVAL = ActivityRef(ActivityName.RECORD_ARRIVAL, NewArrival, NOTHING)
ISSUE_FLYER = ActivityRef(ActivityName.ISSUE_FLYER, FlyerRequest, IssuedFlyer)
MAIL_FLYER = ActivityRef(ActivityName.MAIL_FLYER, FlyerMail, MailedFlyer)
MAIL_OUTCOME = ActivityRef(ActivityName.MAIL_OUTCOME, MailWatch, MailOutcome)
MAIL_UNSETTLED = ActivityRef(ActivityName.MAIL_UNSETTLED, MailUnsettled, NOTHING)
CREATE_HANDOVER_TASK = ActivityRef(ActivityName.CREATE_HANDOVER_TASK, HandoverTask, NOTHING)
ARRIVAL_NOTICE = ActivityRef(ActivityName.ARRIVAL_NOTICE, ArrivalNotice, NOTHING)
CLOSE_HANDOVER_TASK = ActivityRef(ActivityName.CLOSE_HANDOVER_TASK, HandoverClosure, NOTHING)
FINISH_ARRIVAL = ActivityRef(ActivityName.FINISH_ARRIVAL, ArrivalFinish, NOTHING)

# The scheduled erasure (workflows/retention.py)
DUE_FOR_ERASURE = ActivityRef(ActivityName.DUE_FOR_ERASURE, DueQuery, DueCases)
ERASE_CASE = ActivityRef(ActivityName.ERASE_CASE, EraseRequest, ErasureOutcome)
DUE_ARRIVALS = ActivityRef(ActivityName.DUE_ARRIVALS, DueQuery, DueArrivals)
ERASE_ARRIVALS = ActivityRef(
    ActivityName.ERASE_ARRIVALS, EraseArrivalRequest, ArrivalErasureOutcome
)

# Notices by e-mail (workflows/notices.py)
DISPATCH_NOTICES = ActivityRef(ActivityName.DISPATCH_NOTICES, NoticeRound, DispatchReport)
MAIL_DIGESTS = ActivityRef(ActivityName.MAIL_DIGESTS, NoticeRound, DigestReport)

ALL: tuple[ActivityRef[BaseModel, BaseModel | None], ...] = (
    OPEN_CASE,
    RECORD_EVENT,
    RECORD_STAGE,
    CREATE_TASK,
    CLOSE_TASK,
    NOTIFY,
    RECORD_INCIDENT,
    REGISTER_SUPPORTER,
    RECORD_CONSENT,
    WITHDRAW_CONSENT,
    HAND_OVER,
    PRODUCE_DOCUMENT,
    RULES_IN_FORCE,
    REPORT_UNCONFIRMED_ERASURE,
    RECORD_ARRIVAL,
    ISSUE_FLYER,
    MAIL_FLYER,
    MAIL_OUTCOME,
    MAIL_UNSETTLED,
    CREATE_HANDOVER_TASK,
    ARRIVAL_NOTICE,
    CLOSE_HANDOVER_TASK,
    FINISH_ARRIVAL,
    DUE_FOR_ERASURE,
    ERASE_CASE,
    DUE_ARRIVALS,
    ERASE_ARRIVALS,
    DISPATCH_NOTICES,
    MAIL_DIGESTS,
)
