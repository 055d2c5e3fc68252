"""Notices that reach people: one round of the dispatcher, or the day's digest.

Two Temporal Schedules start this workflow (``service/notices.py``): ``notice-dispatch``
every ``CASE_NOTICE_INTERVAL`` (five minutes) and ``notice-digest`` daily at
``CASE_NOTICE_DIGEST_HOUR`` in Europe/Berlin; overlapping runs are skipped. The work is one
activity (``activities/notices.py``), idempotent by the outbox's keys, so a retried round
sends nothing twice. A round given up is not made up for: the next one takes what waits.
Its payloads carry a time and counts only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.notices import NoticeReport, NoticeRound, NoticeRun
    from workflows import activity_refs as acts
    from workflows.steps import run_step

ATTEMPT = timedelta(minutes=2)
# A dispatch retried longer than its interval only holds up the next round (overlaps are
# skipped); a digest may take the morning.
DISPATCH_GIVE_UP = timedelta(minutes=10)
DIGEST_GIVE_UP = timedelta(hours=4)


@workflow.defn(name="NoticeWorkflow")
class NoticeWorkflow:
    @workflow.run
    async def run(self, run: NoticeRun) -> NoticeReport:
        round = NoticeRound(at=workflow.now())
        if run.digest:
            digest = await run_step(
                acts.MAIL_DIGESTS, round, attempt_timeout=ATTEMPT, retry_limit=DIGEST_GIVE_UP
            )
            return NoticeReport(digest=digest)
        dispatch = await run_step(
            acts.DISPATCH_NOTICES, round, attempt_timeout=ATTEMPT, retry_limit=DISPATCH_GIVE_UP
        )
        return NoticeReport(dispatch=dispatch)
