"""The scheduled erasure (Löschlauf): every closed case past its erasure date is erased.

A Temporal Schedule starts this workflow daily (``service/retention.py``). It asks for the
cases due today in Europe/Berlin, oldest first, and erases them one by one; each erasure is
one activity and one transaction (key shredded, personal rows removed, erasure recorded), so a
crash between two cases leaves each case either erased or untouched. Cases on legal hold are
never listed. Its payloads carry case ids and counts only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from schemas.records import ActivityName
    from schemas.retention import (
        DueCases,
        DueQuery,
        EraseRequest,
        ErasureOutcome,
        RetentionReport,
        RetentionRun,
    )
    from workflows.time_rules import BERLIN

RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
TIMEOUT = timedelta(minutes=2)


@workflow.defn(name="RetentionWorkflow")
class RetentionWorkflow:
    @workflow.run
    async def run(self, run: RetentionRun) -> RetentionReport:
        today = workflow.now().astimezone(BERLIN).date()
        report = RetentionReport(day=today)
        for _ in range(run.max_batches):
            due: DueCases = await workflow.execute_activity(
                ActivityName.DUE_FOR_ERASURE.value,
                DueQuery(on=today, limit=run.batch_size),
                result_type=DueCases,
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            report.dates_assigned += due.dates_assigned
            for case_id in due.case_ids:
                outcome: ErasureOutcome = await workflow.execute_activity(
                    ActivityName.ERASE_CASE.value,
                    EraseRequest(case_id=case_id, reason="retention"),
                    result_type=ErasureOutcome,
                    start_to_close_timeout=TIMEOUT,
                    retry_policy=RETRY,
                )
                if outcome.erased:
                    report.erased.append(case_id)
                else:
                    report.refused[case_id] = outcome.refused or "refused"
            if len(due.case_ids) < run.batch_size:
                break
        return report
