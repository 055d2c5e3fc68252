"""The worker dies between the KI handover and its confirmation: still exactly one disclosure."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from schemas.process import ProcessTimings
from schemas.tasks import CompleteTask, InformationConversation, ReferralConsent
from service.temporal import update_method
from tests.casekit import HELD, CaseDriver, running_worker
from workflows.case import CaseWorkflow

ROOT = Path(__file__).resolve().parent.parent


async def test_worker_killed_after_handover_commit_discloses_once(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, dsn: str
) -> None:
    task_queue = f"crash-{uuid.uuid4().hex}"
    # A short attempt timeout, so the retry after the crash comes within seconds.
    timings = ProcessTimings(activity_timeout=timedelta(seconds=2))
    case = CaseDriver(dev_env, pool, task_queue, timings)
    address = dev_env.client.service_client.config.target_host
    crashing = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash_worker",
        address,
        dsn,
        task_queue,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert crashing.stdout is not None
    assert await crashing.stdout.readline() == b"ready\n"
    try:
        await case.open()
        today = await case.today()
        await case.complete(
            "information_conversation",
            InformationConversation(
                held_on=today,
                routes_discussed=["§25b AufenthG"],
                perspective="none_evident",
                **HELD,
            ),
        )
        assert case.handle is not None
        consent = asyncio.create_task(
            case.handle.execute_update(
                update_method(CaseWorkflow.complete_task),
                CompleteTask(
                    task_id=await case.task_id("referral_consent"),
                    completion=ReferralConsent(interested=True, consent_signed_on=today),
                ),
            )
        )
        assert await asyncio.wait_for(crashing.wait(), timeout=30) == 17
        assert (
            await pool.fetchval("SELECT count(*) FROM disclosures") == 1
        )  # committed, unconfirmed

        async with running_worker(dev_env, pool, task_queue=task_queue):
            result = await asyncio.wait_for(consent, timeout=30)
        assert result.stage == "ki_referral"
        assert await case.open_kinds() == ["ki_contact"]
        assert await pool.fetchval("SELECT count(*) FROM disclosures") == 1
        assert await pool.fetchval("SELECT count(*) FROM ki_referrals") == 1
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM timeline WHERE case_id = $1 AND kind = 'disclosure'",
                case.case_id,
            )
            == 1
        )
    finally:
        if crashing.returncode is None:
            crashing.kill()
        await case.terminate()
