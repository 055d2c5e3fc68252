"""The scheduled erasure (Löschlauf): every closed case past its erasure date is erased.

A Temporal Schedule starts this workflow daily (``service/retention.py``). It asks for the
cases due today in Europe/Berlin, oldest first, and erases them one by one; each erasure is
one activity and one transaction (key shredded, personal rows removed, erasure recorded), so a
crash between two cases leaves each case either erased or untouched. Cases on legal hold are
never listed. Then the same for arrivals (Neu zugewandert): every reference whose arrivals
all finished and are past their erasure date loses name, e-mail and its data key. Its
payloads carry case ids, references and counts only.
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas.arrivals import DueArrivals, EraseArrivalRequest
    from schemas.errors import ErrorType
    from schemas.local_time import BERLIN
    from schemas.retention import (
        DueCases,
        DueQuery,
        EraseRequest,
        RetentionReport,
        RetentionRun,
    )
    from workflows import activity_refs as acts
    from workflows.activity_refs import ActivityRef
    from workflows.steps import failure_kind, run_step

RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5), non_retryable_error_types=[ErrorType.DATA_ERROR.value]
)
TIMEOUT = timedelta(minutes=2)
# One erasure failing for good is skipped (and reported), so it cannot hold up the others; the
# next day's run lists it again. A run retries a transient failure for at most this long.
GIVE_UP = timedelta(hours=6)
PAUSE = timedelta(minutes=5)  # at most between two attempts, as RETRY
# Patch id (workflow.patched): runs recorded before arrivals existed replay without them.
ERASE_ARRIVALS = "erase-arrivals"


@workflow.defn(name="RetentionWorkflow")
class RetentionWorkflow:
    @workflow.run
    async def run(self, run: RetentionRun) -> RetentionReport:
        today = workflow.now().astimezone(BERLIN).date()
        report = RetentionReport(day=today)
        for _ in range(run.max_batches):
            due: DueCases = await workflow.execute_activity(
                acts.DUE_FOR_ERASURE.name.value,
                DueQuery(on=today, limit=run.batch_size),
                result_type=acts.DUE_FOR_ERASURE.output,
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            report.dates_assigned += due.dates_assigned
            for case_id in due.case_ids:
                try:
                    outcome = await run_step(
                        acts.ERASE_CASE,
                        EraseRequest(case_id=case_id, reason="retention"),
                        attempt_timeout=TIMEOUT,
                        retry_limit=GIVE_UP,
                        max_pause=PAUSE,
                    )
                except ActivityError as error:
                    report.refused[case_id] = _failed(acts.ERASE_CASE, error)
                    continue
                if outcome.erased:
                    report.erased.append(case_id)
                else:
                    report.refused[case_id] = outcome.refused or "refused"
            if len(due.case_ids) < run.batch_size:
                break
        if workflow.patched(ERASE_ARRIVALS):
            await self._erase_arrivals(run, today, report)
        return report

    async def _erase_arrivals(
        self, run: RetentionRun, today: date, report: RetentionReport
    ) -> None:
        for _ in range(run.max_batches):
            due: DueArrivals = await workflow.execute_activity(
                acts.DUE_ARRIVALS.name.value,
                DueQuery(on=today, limit=run.batch_size),
                result_type=acts.DUE_ARRIVALS.output,
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            for reference in due.references:
                try:
                    arrivals = await run_step(
                        acts.ERASE_ARRIVALS,
                        EraseArrivalRequest(reference=reference, reason="retention"),
                        attempt_timeout=TIMEOUT,
                        retry_limit=GIVE_UP,
                        max_pause=PAUSE,
                    )
                except ActivityError as error:
                    report.refused[f"arrival-{reference}"] = _failed(acts.ERASE_ARRIVALS, error)
                    continue
                if arrivals.erased:
                    report.arrivals_erased.append(reference)
                else:
                    report.refused[f"arrival-{reference}"] = arrivals.refused or "refused"
            if len(due.references) < run.batch_size:
                break


def _failed(step: ActivityRef[BaseModel, BaseModel | None], error: ActivityError) -> str:
    """Log and count an erasure given up; the report's reason, an error type only."""
    kind = failure_kind(error)
    workflow.logger.error("erasure given up: %s (%s)", step.name.value, kind)
    workflow.metric_meter().create_counter(
        "retention_erasure_failures", description="Erasures given up in a run (retried next day)."
    ).add(1, {"step": step.name.value})
    return f"failed: {kind}"
