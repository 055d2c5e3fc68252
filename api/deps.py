"""Typed dependencies: what a route may ask for, taken from ``app.state`` (set by the lifespan).

Routes never reach into ``app.state`` themselves, so the one place that knows how the app
holds its resources is here, and tests can build the app with their own client and pool.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Path, Request

from schemas.events import CaseId
from service.cases import CaseService


def _case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


Cases = Annotated[CaseService, Depends(_case_service)]
"""The case service: every operation on cases and tasks goes through it."""

Pool = Annotated[asyncpg.Pool, Depends(_pool)]
"""The process's asyncpg pool, for the partner directory (SQL stays in store.repository)."""

CaseIdPath = Annotated[CaseId, Path()]
TaskIdPath = Annotated[UUID, Path(description="The task id as listed by GET /api/v1/tasks.")]
PartnerIdPath = Annotated[int, Path(ge=1)]
