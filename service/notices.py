"""The notice schedules: the dispatcher every few minutes, the digest once a day.

``ensure_schedules`` keeps two Temporal Schedules that start
:class:`workflows.notices.NoticeWorkflow`: ``notice-dispatch`` every ``interval`` (mails per
notice) and ``notice-digest`` at ``digest_hour`` Europe/Berlin (the daily overview). Overlapping
runs are skipped. Every worker calls it at start, as it does the retention schedule's: it
creates them or brings them up to date (a changed interval or hour), so it is safe from many
processes. Which mails the runs send (``CASE_NOTICE_MAILS``) the activities decide; the
schedules run in every mode, so a changed mode needs only a restart.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from schemas.notices import NoticeDelivery, NoticeRun
from workflows.notices import NoticeWorkflow

DISPATCH_SCHEDULE_ID = "notice-dispatch"
DIGEST_SCHEDULE_ID = "notice-digest"


def schedules(task_queue: str, delivery: NoticeDelivery) -> dict[str, Schedule]:
    policy = SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    return {
        DISPATCH_SCHEDULE_ID: Schedule(
            action=ScheduleActionStartWorkflow(
                NoticeWorkflow.run,
                NoticeRun(digest=False),
                id=f"{DISPATCH_SCHEDULE_ID}-run",
                task_queue=task_queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=delivery.interval)]),
            policy=policy,
        ),
        DIGEST_SCHEDULE_ID: Schedule(
            action=ScheduleActionStartWorkflow(
                NoticeWorkflow.run,
                NoticeRun(digest=True),
                id=f"{DIGEST_SCHEDULE_ID}-run",
                task_queue=task_queue,
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        hour=[ScheduleRange(delivery.digest_hour)], minute=[ScheduleRange(0)]
                    )
                ],
                time_zone_name="Europe/Berlin",
            ),
            policy=policy,
        ),
    }


async def ensure_schedules(client: Client, task_queue: str, delivery: NoticeDelivery) -> None:
    for schedule_id, wanted in schedules(task_queue, delivery).items():
        try:
            await client.create_schedule(schedule_id, wanted)
        except ScheduleAlreadyRunningError:

            def update(_: ScheduleUpdateInput, wanted: Schedule = wanted) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=wanted)

            await client.get_schedule_handle(schedule_id).update(update)


async def run_now(client: Client, *, digest: bool = False) -> None:
    """Start a dispatch (or the digest) at once (``python -m commands.notices``)."""
    schedule_id = DIGEST_SCHEDULE_ID if digest else DISPATCH_SCHEDULE_ID
    await client.get_schedule_handle(schedule_id).trigger(overlap=ScheduleOverlapPolicy.SKIP)
