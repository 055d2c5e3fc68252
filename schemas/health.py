"""What ``/readyz`` answers: each check by name, whether it passed and, if not, why.

Numbers and reasons only: no case, no person, no address, no host name or path (a failed
connection is named by its error type).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Check(StrEnum):
    DATABASE = "database"
    TEMPORAL = "temporal"
    MIGRATIONS = "migrations"
    KEY_RING = "key_ring"
    WORKER = "worker"
    WORKERS = "workers"


class CheckResult(BaseModel):
    name: Check
    ok: bool
    reason: str | None = Field(
        default=None, description="Why it failed (or a remark when it passed); English."
    )
    seconds: float = Field(description="How long the check took.")
    required: bool = Field(
        default=True,
        description="False: reported, but the process is ready without it (the API without "
        "workers: the intake then answers 503 with Retry-After, and the cases move on once "
        "a worker returns).",
    )


class Readiness(BaseModel):
    """``ready`` is true when every required check passed; the answer is 503 otherwise."""

    ready: bool
    checks: list[CheckResult]


class Alive(BaseModel):
    """``/healthz``: the process answers; nothing else is asked."""

    status: str = "alive"
