"""Record the histories of representative cases for the replay test.

    .venv/bin/python -m tests.histories.record SCENARIO [SCENARIO ...]

Record a new scenario when a deliberate, patched change to the workflow needs a baseline of
its own; never re-record an old one: the old files must keep replaying until no case of that
shape can still be running. Histories are recorded without payload encryption, so CI replays
them without keys (they hold only the made-up test person).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from runtime.embedded import embedded_postgres, venv_binary
from schemas.accounts import Role
from schemas.case import RouteFailure
from schemas.departure import ReturnProgramme, ReturnSupport
from schemas.local_time import BERLIN
from schemas.process import ProcessTimings
from schemas.records import ActivityName, SupporterRecord
from schemas.routes import Prerequisite, Route
from schemas.rule_sets import RuleSetProposal
from schemas.tasks import (
    CompleteTask,
    EnforcementOutcome,
    EnforcementResult,
    ErasureConfirmation,
    Escalation,
    FlyerHandover,
    FollowUp,
    InformationConversation,
    KiContact,
    MissingPrerequisite,
    ReferralConsent,
    Representative,
    RepresentativeInquiry,
    RouteReview,
    RouteReviewOutcome,
    StepFailureReview,
)
from schemas.time_rules import TimeRule
from service.accounts import AccountService
from service.rules import RuleService, berlin_today
from service.temporal import ensure_search_attributes, update_method
from store.db import open_pool
from store.migrate import apply_migrations
from tests.arrivalkit import ArrivalDriver, today
from tests.casekit import HELD, CaseDriver, running_worker, worker_replacing
from tests.conftest import SERVER_STARTUP, with_database
from workflows.arrival import ArrivalWorkflow
from workflows.case import CHANGES, RULE_SETS, CaseWorkflow

HERE = Path(__file__).resolve().parent
RECORD_PASSWORD = "ein-langes-aufzeichnungspasswort"
DAY = timedelta(days=1)


def _conversation(held_on: object, route: bool = False) -> InformationConversation:
    return InformationConversation.model_validate(
        {
            "held_on": held_on,
            "routes_discussed": ["§25b AufenthG", "§60c AufenthG"],
            "perspective": "route_possible" if route else "none_evident",
            "route_pursued": "§60c AufenthG" if route else None,
            **HELD,
        }
    )


async def _referral(case: CaseDriver) -> None:
    today = await case.today()
    await case.complete("information_conversation", _conversation(today))
    await case.complete(
        "referral_consent", ReferralConsent(interested=True, consent_signed_on=today)
    )
    partner = await case.pool.fetchval("SELECT partner_id FROM partners WHERE town = 'Unna'")
    await case.complete("ki_contact", KiContact(partner_id=partner, contacted_on=today))


async def departed_voluntarily(case: CaseDriver) -> None:
    await case.open()
    await _referral(case)
    await case.skip(15 * DAY)
    await case.complete(
        "follow_up", FollowUp(reached=True, planned_departure_on=await case.today() + 5 * DAY)
    )
    await case.event("ausgereist")


async def minor_departed(case: CaseDriver) -> None:
    """An unaccompanied 16-year-old: a case with minors from its start, to a departure."""
    today = await case.today()
    await case.open(born=today.replace(year=today.year - 16, day=1))
    await _referral(case)
    await case.skip(15 * DAY)
    await case.complete("follow_up", FollowUp(reached=True))
    await case.event("ausgereist")


async def checked_in_after_planned_departure(case: CaseDriver) -> None:
    """After CHECK_IN_AFTER_PLANNED_DEPARTURE: a return-support application tracked, and the
    check-in the morning after the planned departure, before the departure is reported."""
    await case.open()
    await _referral(case)
    await case.skip(15 * DAY)
    planned = await case.today() + 5 * DAY
    await case.complete(
        "follow_up",
        FollowUp(
            reached=True,
            planned_departure_on=planned,
            return_programme=ReturnProgramme.REAG_GARP,
            return_support=ReturnSupport.TRAVEL_BOOKED,
        ),
    )
    await case.skip(datetime.combine(planned + 2 * DAY, time(8, 0), BERLIN) - await case.now())
    await case.complete("follow_up", FollowUp(reached=False))
    await case.event("ausgereist")


async def continued_as_new(case: CaseDriver) -> None:
    """After CONTINUE_AS_NEW: check-ins answered until the history passes the bound and the
    case goes on in a new run; the first run's history is the one recorded."""
    today = await case.today()
    await case.open(deadline=today + 3 * 365 * DAY)
    await _referral(case)
    assert case.handle is not None
    first_run = case.handle.first_execution_run_id
    assert first_run is not None
    while (await case.handle.describe()).run_id == first_run:
        await case.skip(ProcessTimings().follow_up_interval + timedelta(hours=1))
        await case.complete("follow_up", FollowUp(reached=True))
    await case.event("ausgereist")
    # The first run's history is the one recorded.
    case.handle = case.client.get_workflow_handle_for(
        CaseWorkflow.run, case.handle.id, run_id=first_run
    )


async def escalated_and_enforced(case: CaseDriver) -> None:
    today = await case.today()
    await case.open(children=(today - timedelta(days=9 * 365),), deadline=today + 20 * DAY)
    await case.skip(21 * DAY)
    at = datetime.combine(await case.today() + 40 * DAY, time(9, 0), BERLIN)
    # Recorded before the end of the measure was asked for: replaying it shows that such
    # decisions still read. A new recording gives the end, as every new decision must.
    await case.complete(
        "escalation",
        Escalation(
            decision="enforcement", enforcement_at=at, enforcement_until=at + timedelta(hours=2)
        ),
    )
    await case.event("ausgereist")


async def enforcement_result_recorded(case: CaseDriver) -> None:
    """After RECORD_ENFORCEMENT_RESULT: the departure report waits for the ABH's record of
    the enforcement, which began too early for the household's child (an incident)."""
    today = await case.today()
    await case.open(children=(today - timedelta(days=9 * 365),), deadline=today + 20 * DAY)
    await case.skip(21 * DAY)
    at = datetime.combine(await case.today() + 10 * DAY, time(9, 0), BERLIN)
    await case.complete(
        "escalation",
        Escalation(
            decision="enforcement", enforcement_at=at, enforcement_until=at + timedelta(hours=2)
        ),
    )
    await case.skip(at + timedelta(hours=3) - await case.now())
    await case.event("ausgereist")
    early = at - timedelta(hours=3, minutes=30)
    await case.complete(
        "enforcement_result",
        EnforcementResult(
            result=EnforcementOutcome.CARRIED_OUT,
            started_at=early,
            ended_at=early + timedelta(hours=2),
            minors_present=True,
            breach_reason="Flug früher als geplant",
            decided_by="Einsatzleitung",
        ),
    )


async def _rules_adopted_while_waiting(case: CaseDriver, changes: tuple[str, ...]) -> None:
    """Version 1 in force at the start; while the case waits for its escalation decision a
    version 2 (a longer grace after the enforcement, an evening rule) is adopted by a second
    admin. The decision comes with version 2 (as the service sends it), the case asks for the
    rules at its next decision and goes on with them."""
    settings = Settings()
    rules = RuleService(case.pool, settings)
    await rules.in_force()
    accounts = AccountService(case.pool, settings)
    suffix = uuid.uuid4().hex[:6]
    first = await accounts.create_account(f"a-{suffix}", "A", Role.ADMIN, RECORD_PASSWORD)
    second = await accounts.create_account(f"b-{suffix}", "B", Role.ADMIN, RECORD_PASSWORD)
    today = await case.today()
    await case.open(
        children=(today - timedelta(days=9 * 365),), deadline=today + 20 * DAY, changes=changes
    )
    await case.skip(21 * DAY)
    content = (await rules.in_force()).content
    evening = TimeRule(
        rule_id="beispiel-abendruhe",
        title="Keine Abschiebung mit Kindern unter 16 zwischen 18:00 und 08:00",
        source="Beispielerlass (Aufzeichnung)",
        child_younger_than=16,
        night_from=time(18, 0),
        night_until=time(8, 0),
    )
    timings = content.timings.model_copy(update={"enforcement_grace": 5 * DAY})
    proposed = await rules.propose(
        RuleSetProposal(
            adopted_from=berlin_today(),
            content=content.model_copy(
                update={"timings": timings, "time_rules": (*content.time_rules, evening)}
            ),
        ),
        by=first,
    )
    await rules.adopt(proposed.version, by=second)
    at = datetime.combine(await case.today() + 10 * DAY, time(9, 0), BERLIN)
    decision = Escalation(
        decision="enforcement", enforcement_at=at, enforcement_until=at + timedelta(hours=2)
    )
    assert case.handle is not None
    await case.handle.execute_update(
        update_method(CaseWorkflow.complete_task),
        CompleteTask(
            task_id=await case.task_id("escalation"),
            completion=decision,
            rules=await rules.for_decision(decision),
        ),
    )
    await case.skip(at + timedelta(hours=3) - await case.now())
    result = EnforcementResult(
        result=EnforcementOutcome.CARRIED_OUT,
        started_at=at,
        ended_at=at + timedelta(hours=2),
        minors_present=True,
    )
    await case.handle.execute_update(
        update_method(CaseWorkflow.complete_task),
        CompleteTask(
            task_id=await case.task_id("enforcement_result"),
            completion=result,
            rules=await rules.for_decision(result),
        ),
    )


async def rules_adopted_while_waiting(case: CaseDriver) -> None:
    await _rules_adopted_while_waiting(case, CHANGES)


async def rules_reach_a_case_started_before(case: CaseDriver) -> None:
    """The same for a case started before RULE_SETS: it asks workflow.patched."""
    await _rules_adopted_while_waiting(case, tuple(c for c in CHANGES if c != RULE_SETS))


async def supporter_and_withdrawal(case: CaseDriver) -> None:
    await case.open()
    await _referral(case)
    await case.supporter()
    await case.complete(
        "representative",
        Representative(
            name="Vertreterin", contact="0170 1", power_of_attorney_on=await case.today()
        ),
    )
    await case.withdraw()
    await case.skip(31 * DAY)
    await case.event("weggezogen")


async def representatives_recorded(case: CaseDriver) -> None:
    """After REPRESENTATIVES_RECORDED: a supporter alone (no task), a representative, an
    inquiry answered with a fact, then a change of representative."""
    await case.open()
    await _referral(case)
    await case.supporter(representative=False)
    await case.supporter()
    today = await case.today()
    await case.complete(
        "representative",
        Representative(name="Vertreterin", contact="0170 1", power_of_attorney_on=today),
    )
    await case.skip(31 * DAY)
    await case.complete(
        "representative_inquiry",
        RepresentativeInquiry(
            asked_on=await case.today(),
            facts_reported=True,
            fact="Ausbildungsvertrag unterschrieben",
            learned_on=await case.today(),
            relevant_to=Route.P60C,
        ),
    )
    await case.supporter()
    await case.complete(
        "representative",
        Representative(name="Vertreter", contact="0170 2", power_of_attorney_on=await case.today()),
    )
    await case.event("weggezogen")


async def erasure_confirmed(case: CaseDriver) -> None:
    """After ERASURE_CONFIRMED: a withdrawal after the partner's handover; the KI's task to
    confirm the partner's erasure, overdue first (the contact told), then confirmed."""
    await case.open()
    await _referral(case)
    await case.withdraw()
    await case.skip(8 * DAY)
    await case.complete(
        "erasure_confirmation",
        ErasureConfirmation(confirmed_on=await case.today(), how="per E-Mail"),
    )
    await case.event("weggezogen")


async def erasure_outlives_close(case: CaseDriver) -> None:
    """After ERASURE_OUTLIVES_CLOSE: the case closes while the partner's erasure is still to
    be confirmed; its task stays open and a watch is started that outlives the case."""
    await case.open()
    await _referral(case)
    await case.withdraw()
    await case.event("ausgereist")


async def suspended_then_route(case: CaseDriver) -> None:
    await case.open()
    await case.event("asylverfahren")
    await case.skip(60 * DAY)
    await case.event(
        "ausreisepflichtig", departure_deadline=(await case.today() + 30 * DAY).isoformat()
    )
    await case.complete("information_conversation", _conversation(await case.today(), route=True))
    await case.event("aufenthaltserlaubnis")


async def route_reviewed_then_failed(case: CaseDriver) -> None:
    """After ROUTE_CAN_FAIL: the deadline passes while a route is pursued, the ABH reviews
    it (still pursued), records later that it failed, and the referral offer follows."""
    await case.open(deadline=await case.today() + 20 * DAY)
    await case.complete("information_conversation", _conversation(await case.today(), route=True))
    await case.skip(21 * DAY)
    review = RouteReview(
        outcome=RouteReviewOutcome.STILL_PURSUED, review_again_on=await case.today() + 30 * DAY
    )
    await case.complete("route_review", review)
    await case.skip(10 * DAY)
    assert case.handle is not None
    await case.handle.execute_update(
        update_method(CaseWorkflow.record_route_failure),
        RouteFailure(failed_on=await case.today(), reason="Antrag abgelehnt"),
    )
    await case.complete("referral_consent", ReferralConsent(interested=False))
    await case.event("ausgereist")


async def documents_handed_out(case: CaseDriver) -> None:
    await case.open()
    today = await case.today()
    conversation = _conversation(today).model_copy(
        update={
            "missing_prerequisites": [
                MissingPrerequisite(route=Route.P25B, prerequisite=Prerequisite.LIVELIHOOD)
            ]
        }
    )
    await case.complete("information_conversation", conversation)
    await case.complete(
        "referral_consent", ReferralConsent(interested=True, consent_signed_on=today)
    )
    partner = await case.pool.fetchval("SELECT partner_id FROM partners WHERE town = 'Unna'")
    await case.complete("ki_contact", KiContact(partner_id=partner, contacted_on=today))
    await case.event("ausgereist")


async def step_given_up(case: CaseDriver) -> None:
    """The supporter's record is refused by the store (see STAND_INS): the ABH gets a
    step_failed task, looks at it, and the case goes on to its end."""
    await case.open()
    await case.supporter(representative=False)
    await case.complete(
        "step_failed",
        StepFailureReview(checked_on=await case.today(), action="In der Akte ergänzt"),
    )
    await case.event("ausgereist")


@activity.defn(name=ActivityName.REGISTER_SUPPORTER)
async def _refused_supporter(record: SupporterRecord) -> None:
    raise asyncpg.CharacterNotInRepertoireError("invalid byte sequence (recorded stand-in)")


# Scenarios that need a stand-in for an activity (method name -> stand-in), to record a failure.
STAND_INS: dict[str, dict[str, Callable[..., Any]]] = {
    "step_given_up": {"register_supporter": _refused_supporter},
}

SCENARIOS: dict[str, Callable[[CaseDriver], Awaitable[None]]] = {
    "departed_voluntarily": departed_voluntarily,
    "escalated_and_enforced": escalated_and_enforced,
    "supporter_and_withdrawal": supporter_and_withdrawal,
    "suspended_then_route": suspended_then_route,
    # After RECORD_WITHDRAWAL_AT_ONCE: the withdrawal is recorded by the update handler.
    "withdrawal_recorded_at_once": supporter_and_withdrawal,
    # After HAND_OUT_DOCUMENTS: record, letter and consent form produced by the workflow.
    "documents_handed_out": documents_handed_out,
    # A step given up (refused data) and its step_failed task.
    "step_given_up": step_given_up,
    # Started with the search attributes of its opening (no upsert on entering the first
    # stage), through documents and referral to a voluntary departure.
    "opened_with_search_attributes": documents_handed_out,
    # Started with its changes (CaseStart.changes): no patch markers, no TemporalChangeVersion.
    "started_with_its_changes": documents_handed_out,
    # After RECORD_ENFORCEMENT_RESULT: the enforcement's result task, an incident documented.
    "enforcement_result_recorded": enforcement_result_recorded,
    # After ROUTE_CAN_FAIL: a route reviewed at the deadline, then recorded as failed.
    "route_reviewed_then_failed": route_reviewed_then_failed,
    # After CHECK_IN_AFTER_PLANNED_DEPARTURE: return support tracked, the check-in after it.
    "checked_in_after_planned_departure": checked_in_after_planned_departure,
    # After REPRESENTATIVES_RECORDED: representatives recorded, a fact, no task for a supporter.
    "representatives_recorded": representatives_recorded,
    # After CONTINUE_AS_NEW: the first run of a long follow-up, ending in continue-as-new.
    "continued_as_new": continued_as_new,
    # After ERASURE_CONFIRMED: the partner's erasure confirmed by the KI after a withdrawal.
    "erasure_confirmed": erasure_confirmed,
    # After ERASURE_OUTLIVES_CLOSE: an erasure confirmation left open at the close.
    "erasure_outlives_close": erasure_outlives_close,
    # After MINOR_PERSON_SHOWN: the person's own age counts for CaseHasMinors.
    "minor_departed": minor_departed,
    # After RULE_SETS: a version adopted while the case waits reaches its next decisions.
    "rules_adopted_while_waiting": rules_adopted_while_waiting,
    "rules_reach_a_case_started_before": rules_reach_a_case_started_before,
}


async def arrival_mail_unsettled_then_handed_over(arrival: ArrivalDriver) -> None:
    """Neu zugewandert with an address: no delivery loop runs, so after two days without an
    outcome the ABH hands the flyer over (the e-mail and the print path in one history)."""
    await arrival.start()
    await arrival.env.sleep(3 * DAY)
    assert arrival.handle is not None
    await arrival.handle.execute_update(
        update_method(ArrivalWorkflow.complete_task),
        CompleteTask(
            task_id=await arrival.task_id(),
            completion=FlyerHandover(handed_over=True, handed_over_on=today()),
        ),
    )


async def arrival_lapsed(arrival: ArrivalDriver) -> None:
    await arrival.start(email=None)
    await arrival.task_id()


async def arrival_reminded_then_overdue_then_handed_over(arrival: ArrivalDriver) -> None:
    """After ARRIVAL_NOTICES: no e-mail; the ABH gets the reminder two days before the task is
    due and the overdue notice at the due date, and hands the flyer over three days late."""
    await arrival.start(email=None)
    task_id = await arrival.task_id()
    await arrival.env.sleep(10 * DAY)
    assert arrival.handle is not None
    await arrival.handle.execute_update(
        update_method(ArrivalWorkflow.complete_task),
        CompleteTask(
            task_id=task_id,
            completion=FlyerHandover(handed_over=True, handed_over_on=today()),
        ),
    )


ARRIVAL_SCENARIOS: dict[str, Callable[[ArrivalDriver], Awaitable[None]]] = {
    "arrival_mail_unsettled_then_handed_over": arrival_mail_unsettled_then_handed_over,
    "arrival_lapsed": arrival_lapsed,
    # After ARRIVAL_NOTICES: the hand-over task's reminder and overdue notice.
    "arrival_reminded_then_overdue_then_handed_over": (
        arrival_reminded_then_overdue_then_handed_over
    ),
}


async def main(names: list[str]) -> None:
    known = set(SCENARIOS) | set(ARRIVAL_SCENARIOS)
    unknown = set(names) - known
    if not names or unknown:
        raise SystemExit(f"name scenarios to record, of: {', '.join(sorted(known))}")
    with embedded_postgres(HERE.parent.parent / ".data" / "record-postgres") as server_dsn:
        name = f"record_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f"CREATE DATABASE {name}")
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(venv_binary("temporal-test-server")),
            data_converter=pydantic_data_converter,
            test_server_startup_timeout=SERVER_STARTUP,
        )
        try:
            async with env, open_pool(with_database(server_dsn, name)) as pool:
                await apply_migrations(pool)
                await ensure_search_attributes(env.client, env.client.namespace)
                async with running_worker(env, pool, encrypt=False) as task_queue:
                    for scenario in names:
                        if scenario in ARRIVAL_SCENARIOS:
                            arrival = ArrivalDriver(env, pool, task_queue, encrypt=False)
                            await ARRIVAL_SCENARIOS[scenario](arrival)
                            assert arrival.handle is not None
                            await arrival.handle.result()
                            history = await arrival.handle.fetch_history()
                            (HERE / f"{scenario}.json").write_text(history.to_json(), "utf-8")
                            print(f"recorded {scenario}: {len(history.events)} events")
                            continue
                        async with contextlib.AsyncExitStack() as stack:
                            queue = task_queue
                            if scenario in STAND_INS:
                                queue = await stack.enter_async_context(
                                    worker_replacing(env, pool, STAND_INS[scenario], encrypt=False)
                                )
                            case = CaseDriver(env, pool, queue, ProcessTimings(), encrypt=False)
                            await SCENARIOS[scenario](case)
                            assert case.handle is not None
                            await case.handle.result()
                            history = await case.handle.fetch_history()
                        (HERE / f"{scenario}.json").write_text(history.to_json(), "utf-8")
                        print(f"recorded {scenario}: {len(history.events)} events")
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
