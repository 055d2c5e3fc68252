"""Committed histories of representative cases replay against the current workflow code.

A change that would break a running case (a new activity in the middle of a stage, a
reordered step) fails here; such changes go behind ``workflow.patched()``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.arrival import ArrivalWorkflow
from workflows.case import CaseWorkflow
from workflows.erasure_watch import ErasureWatchWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_representative_case_has_a_history() -> None:
    assert {path.stem for path in HISTORIES} >= {
        "departed_voluntarily",
        "escalated_and_enforced",
        "supporter_and_withdrawal",
        "suspended_then_route",
        "withdrawal_recorded_at_once",
        "documents_handed_out",
        "step_given_up",  # a step's data refused: the step_failed task
        "opened_with_search_attributes",  # the start carries the UI's search attributes
        "started_with_its_changes",  # CaseStart.changes: workflow.patched is not asked
        "enforcement_result_recorded",  # the enforcement's result, an incident documented
        "route_reviewed_then_failed",  # a route reviewed at the deadline, then failed
        "checked_in_after_planned_departure",  # return support, the check-in after the date
        "representatives_recorded",  # every representative, facts, no task for a supporter
        "continued_as_new",  # a long follow-up's first run, ending in continue-as-new
        "rules_adopted_while_waiting",  # a rule set adopted mid-case reaches its decisions
        "rules_reach_a_case_started_before",  # the same through workflow.patched("rule-sets")
        "erasure_confirmed",  # after a withdrawal, the partner's erasure confirmed by the KI
        "arrival_mail_unsettled_then_handed_over",  # Neu zugewandert
        "arrival_lapsed",
        "arrival_reminded_then_overdue_then_handed_over",  # the hand-over task's notices
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_history_replays(path: Path) -> None:
    text = path.read_text("utf-8")
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    replayer = Replayer(
        workflows=[CaseWorkflow, ArrivalWorkflow, ErasureWatchWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
