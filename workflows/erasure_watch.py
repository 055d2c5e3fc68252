"""The erasure confirmations a case still owes when it closes (Art. 17(2), 19 GDPR).

A withdrawal asks every partner that received data to erase it, and the KI confirms each
(``erasure_confirmation``). The duty does not end with the case: a case closing while some are
open leaves their tasks open and starts this watch, which outlives it. At each due date a
confirmation still open turns overdue and the data protection contact is told, as the running
case would have done; the KI confirms through the service, which writes to the store directly
once the case's run has ended. Its payloads carry ids and times only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from schemas.records import ErasureWatch, UnconfirmedErasure
    from workflows import activity_refs as acts
    from workflows.steps import run_step

WORKFLOW_ID_PREFIX = "erasure-watch-"
ATTEMPT_TIMEOUT = timedelta(minutes=2)
# A report that cannot be written for this long (the database down for days) is given up:
# the inbox still shows the task overdue by its due date.
RETRY_LIMIT = timedelta(days=3)


def watch_id(case_id: str, first_task_id: str) -> str:
    """One watch per closing (a case that comes back and closes again starts another)."""
    return f"{WORKFLOW_ID_PREFIX}{case_id}-{first_task_id}"


@workflow.defn(name="ErasureWatchWorkflow")
class ErasureWatchWorkflow:
    @workflow.run
    async def run(self, watch: ErasureWatch) -> None:
        for erasure in sorted(watch.erasures, key=lambda item: item.due_at):
            wait = erasure.due_at - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(wait)
            try:
                await run_step(
                    acts.REPORT_UNCONFIRMED_ERASURE,
                    UnconfirmedErasure(
                        case_id=watch.case_id,
                        task_id=erasure.task_id,
                        recipient=erasure.recipient,
                        at=workflow.now(),
                    ),
                    attempt_timeout=ATTEMPT_TIMEOUT,
                    retry_limit=RETRY_LIMIT,
                )
            except ActivityError:
                workflow.logger.warning(
                    "an unconfirmed erasure could not be reported", extra={"task": erasure.task_id}
                )
